"""A call's effects on memory: the state a case starts from, and a keyed digest of what the call changed.

A case that carries a `MemoryEnv` starts from a state that depends on the case alone, never on the cases
run before it: the instance's memory is reset to its image at instantiation, every byte outside the
data segments is overwritten with random bytes from the case's `poison` seed (0 keeps them as
instantiation left them: a fresh zeroed instance), then the case's blocks are written. After a normal
return the sandbox compares memory with that starting state everywhere except the *scratch* region
(the shadow-stack frame below the stack pointer at entry, minus any byte the case itself wrote: see
`jeet.wasm.abi`). The result's `digest` is `UNCHANGED` (b"") when nothing else changed, otherwise a
keyed BLAKE2b of the memory size and every changed 4 KiB piece with its place, so two calls from the
same starting state have equal digests exactly when they leave equal memory. The key is random per
oracle, so a hostile module cannot aim for a collision.

Cost: a memcmp over memory per call (about 5 us for 128 KiB); hashing only when something outside the
frame changed, and only the changed pieces. A module with no instruction that can write memory skips
the comparison altogether.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import random
import weakref
import zlib
from dataclasses import dataclass
from typing import Sequence

UNCHANGED = b""
FOREIGN = b"\xffinitial memory differs"  # the instance's memory at instantiation is not the reference's
_CHUNK = 4096

_libc = ctypes.CDLL(None)
_memcmp = _libc.memcmp
_memcmp.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
_memcmp.restype = ctypes.c_int

Region = tuple[int, int]


@dataclass(frozen=True, eq=False)
class MemoryEnv:
    """How the cases of one oracle prepare memory and measure effects; shared by all of its cases.

    `image` is the reference module's memory right after instantiation, `keep` the [start, end) ranges
    that poison never touches (its active data segments), `scratch` the [start, end) shadow-stack frame
    of the function under test (None: no byte is scratch), `key` the digest's secret key.
    """

    key: bytes
    image: bytes
    keep: tuple[Region, ...] = ()
    scratch: Region | None = None

    @property
    def size(self) -> int:
        return len(self.image)

    # The random key names the env: copies that travel to worker processes with every batch of cases
    # compare equal, share one start-image cache, and unpickle without inflating the image again; the
    # image is compressed once per env, not once per batch (a third of a millisecond each time).
    def __eq__(self, other: object) -> bool:
        return isinstance(other, MemoryEnv) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __reduce__(self) -> tuple:
        packed = _PACKED.get(self)
        if packed is None:
            packed = _PACKED[self] = zlib.compress(self.image, 1)
        return _restore, (self.key, packed, self.keep, self.scratch)


_LIVE: "weakref.WeakValueDictionary[bytes, MemoryEnv]" = weakref.WeakValueDictionary()
_PACKED: "weakref.WeakKeyDictionary[MemoryEnv, bytes]" = weakref.WeakKeyDictionary()


def _restore(key: bytes, image: bytes, keep: tuple, scratch: Region | None) -> MemoryEnv:
    env = _LIVE.get(key)
    if env is None:
        env = _LIVE.setdefault(key, MemoryEnv(key, zlib.decompress(image), keep, scratch))
    return env


def minus(regions: Sequence[Region], holes: Sequence[Region]) -> list[Region]:
    """The parts of sorted, disjoint `regions` outside every hole."""
    out = list(regions)
    for h_lo, h_hi in holes:
        if h_hi <= h_lo:
            continue
        nxt = []
        for lo, hi in out:
            if h_hi <= lo or hi <= h_lo:
                nxt.append((lo, hi))
                continue
            if lo < h_lo:
                nxt.append((lo, h_lo))
            if h_hi < hi:
                nxt.append((h_hi, hi))
        out = nxt
    return out


@functools.lru_cache(maxsize=64)
def start_image(env: MemoryEnv, seed: int) -> ctypes.Array:
    """The memory a case with poison `seed` starts from, before its blocks: the image, with random bytes
    everywhere outside the kept ranges (seed 0: the image itself)."""
    buf = (ctypes.c_char * env.size).from_buffer_copy(env.image) if env.size else (ctypes.c_char * 1)()
    if seed and env.size:
        noise = random.Random(f"jeet-poison:{seed}").randbytes(env.size)
        for lo, hi in minus([(0, env.size)], env.keep):
            ctypes.memmove(ctypes.addressof(buf) + lo, noise[lo:hi], hi - lo)
    return buf


_PLANS: dict = {}


def compare_plan(env: MemoryEnv, blocks: Sequence[tuple[int, bytes]]) -> tuple[list[Region], list[Region]]:
    """(regions compared with the start image, block regions compared with the blocks' bytes).

    Everything but the scratch region is compared; bytes the case wrote are never scratch. Cached per
    layout, since training cases come back for every candidate.
    """
    layout = (env.key, tuple((off, len(data)) for off, data in blocks))
    plan = _PLANS.get(layout)
    if plan is None:
        written = sorted((off, off + len(data)) for off, data in blocks if data)
        holes = minus([env.scratch], written) if env.scratch else []
        plan = (minus(minus([(0, env.size)], holes), written), written)
        if len(_PLANS) >= 8192:
            _PLANS.clear()
        _PLANS[layout] = plan
    return plan


def memory_digest(env: MemoryEnv, base: int, size: int, start: ctypes.Array,
                  blocks: Sequence[tuple[int, bytes]]) -> tuple[bytes, list[Region] | None]:
    """The digest of memory at `base` (`size` bytes) after a call that started from `start` plus `blocks`,
    and the compared regions that changed (None: not known, memory grew)."""
    if size != env.size:  # memory.grow: hash everything outside the scratch region
        h = hashlib.blake2b(key=env.key, digest_size=16)
        h.update(b"grown" + size.to_bytes(8, "little"))
        written = [(off, off + len(d)) for off, d in blocks if d]
        holes = minus([env.scratch], written) if env.scratch else []
        for lo, hi in minus([(0, size)], holes):
            h.update(ctypes.string_at(base + lo, hi - lo))
        return h.digest(), None
    image_regions, block_regions = compare_plan(env, blocks)
    ref = ctypes.addressof(start)
    # the common case first: nothing changed
    if all(_memcmp(base + lo, ref + lo, hi - lo) == 0 for lo, hi in image_regions) and all(
            not data or ctypes.string_at(base + off, len(data)) == data for off, data in blocks):
        return UNCHANGED, []
    changed: list[Region] = []
    for lo, hi in image_regions:
        _diff(base, ref, lo, hi, changed)
    for off, data in blocks:
        if data:
            copy = (ctypes.c_char * len(data)).from_buffer_copy(data)
            _diff(base, ctypes.addressof(copy) - off, off, off + len(data), changed)
    changed.sort()
    h = hashlib.blake2b(key=env.key, digest_size=16)
    h.update(size.to_bytes(8, "little"))
    for lo, hi in changed:
        h.update(lo.to_bytes(8, "little") + hi.to_bytes(8, "little"))
        h.update(ctypes.string_at(base + lo, hi - lo))
    return h.digest(), changed


def _diff(base: int, ref: int, lo: int, hi: int, out: list[Region]) -> None:
    """Append the pieces of [lo, hi) where memory differs from the reference, halving at 4 KiB boundaries
    down to single pieces (the pieces depend on [lo, hi) only, never on the contents)."""
    if hi <= lo or _memcmp(base + lo, ref + lo, hi - lo) == 0:
        return
    first, last = lo // _CHUNK, (hi - 1) // _CHUNK
    if first == last:
        out.append((lo, hi))
        return
    mid = (first + last + 1) // 2 * _CHUNK
    _diff(base, ref, lo, mid, out)
    _diff(base, ref, mid, hi, out)
