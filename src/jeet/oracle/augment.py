"""New inputs near the user's tests: every argument varied, blocks resized, refilled and moved.

A tests file fixes what its author did not think to vary: a buffer that always sits at one offset, a
length the tests never use, a byte value. Augmented cases vary all of it, around the tests' values and
at their edges, so the original (the reference) and a variant must agree on all of it:

- a block of memory moves, with every argument equal to its offset, to other aligned and unaligned
  places, up to the very end of memory (a read past the end then traps), never onto data segments or
  the stack frame and never onto another block;
- a block's length changes, up to four times the tests' longest, with the argument equal to its length
  (the first one that is not a pointer), and that argument sometimes runs a few bytes beyond the block
  or is negative (a signed length: the variant must do what the original does with it);
- a block's bytes are redrawn: random, edited, resampled from its bytes, shuffled, or drawn from a
  small alphabet that contains the scalar arguments' low bytes (so a searched-for byte occurs);
- half the time a moved block has a halo: bytes just before and after it, drawn from that alphabet,
  so a variant that reads outside the block (a loop rotated to run once at length 0, a vector loop
  reading past the end) meets bytes it would react to;
- every other argument is redrawn from the values the tests use at that position, their neighbours
  and their range's edges, the type's edge values, a byte or word read from a block, or at random.

Every function takes an explicit `random.Random`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

from .cases import Case
from .differential import edge_values, random_value
from .values import MASK, to_signed

Region = tuple[int, int]
_ALIGNMENTS = (1, 1, 2, 4, 8, 16, 64, 4096)
HALO = 16  # bytes on each side of a moved block that some cases set (see `Augmenter._halo`)


@dataclass(frozen=True)
class Arena:
    """Where blocks may go: memory of `size` bytes outside the `taken` ranges."""

    size: int
    taken: tuple[Region, ...] = ()

    def fits(self, lo: int, hi: int) -> bool:
        return 0 <= lo <= hi <= self.size and all(hi <= t_lo or t_hi <= lo for t_lo, t_hi in self.taken)


class Augmenter:
    """Draws varied cases from `tests` (Cases whose args are canonical) for a function of `params`."""

    def __init__(self, tests: Sequence[Case], params: Sequence[str], arena: Arena) -> None:
        self.tests = list(tests)
        self.params = tuple(params)
        self.arena = arena
        self.pools = [sorted({case.args[i] for case in self.tests}) for i in range(len(self.params))]
        self.edges = [edge_values(t)[:32] for t in self.params]
        lengths = sorted({len(data) for case in self.tests for _, data in case.memory})
        self.lengths = lengths or [0]
        self.max_length = max(self.lengths)

    # scalars ------------------------------------------------------------------------------------

    def scalar(self, i: int, value: int, blocks: Sequence[bytes], rng: random.Random) -> int:
        """A new value for argument `i` (now `value`), near what the tests use or at an edge."""
        t = self.params[i]
        mask = MASK[t]
        pool = self.pools[i]
        r = rng.random()
        integer = t in ("i32", "i64")
        if r < 0.2 and pool:
            return rng.choice(pool)
        if r < 0.4 and integer:
            return (value + rng.choice((-4, -3, -2, -1, 1, 2, 3, 4))) & mask
        if r < 0.52 and integer and pool:
            signed = [to_signed(t, v) for v in pool]
            lo, hi = min(signed), max(signed)
            return rng.choice((lo - 1, lo, hi, hi + 1, 2 * hi + 1, (lo + hi) // 2)) & mask
        if r < 0.68:
            return rng.choice(self.edges[i])
        if r < 0.84 and integer and any(blocks):
            data = rng.choice([b for b in blocks if b])
            k = rng.randrange(len(data))
            width = rng.choice((1, 1, 1, 2, 4))
            return int.from_bytes(data[k:k + width], "little") & mask
        return random_value(t, rng)

    def vary_scalars(self, args: tuple[int, ...], fixed: set[int], blocks: Sequence[bytes],
                     rng: random.Random, share: float) -> tuple[int, ...]:
        """`args` with each argument not in `fixed` redrawn with probability `share` (at least one, when any)."""
        free = [i for i in range(len(args)) if i not in fixed]
        if not free:
            return args
        out = list(args)
        chosen = [i for i in free if rng.random() < share] or [rng.choice(free)]
        for i in chosen:
            out[i] = self.scalar(i, args[i], blocks, rng)
        return tuple(out)

    # cases ----------------------------------------------------------------------------------------

    def draw(self, rng: random.Random) -> Case:
        """One new case (args and blocks; no expectations) from a randomly chosen test."""
        base = rng.choice(self.tests)
        if not base.memory and not base.expect_memory:
            blocks = [data for case in self.tests for _, data in case.memory]
            return Case(self.vary_scalars(base.args, set(), blocks[:8], rng, 0.5))
        return self._draw_memory(base, rng)

    def _draw_memory(self, base: Case, rng: random.Random) -> Case:
        args = list(base.args)
        ints = [i for i, t in enumerate(self.params) if t in ("i32", "i64")]
        blocks = [(off, data) for off, data in base.memory]
        # Output regions the function writes through a pointer argument (from expect_memory): they move too.
        inputs = {off for off, _ in blocks}
        outputs = [(off, len(data)) for off, data in base.expect_memory
                   if off not in inputs and any(args[i] == off for i in ints)]
        pointer = {i: j for j, (off, _) in enumerate(blocks) for i in ints if args[i] == off}
        out_pointer = {i: k for k, (off, _) in enumerate(outputs) for i in ints if args[i] == off and i not in pointer}
        length: dict[int, int] = {}
        for j, (_, data) in enumerate(blocks):
            for i in ints:
                if i not in pointer and i not in out_pointer and i not in length and args[i] == len(data):
                    length[i] = j
                    break
        moving = set(pointer.values())

        # new lengths and bytes
        alphabet = sorted({v & 0xFF for v in base.args} | {0, 0xFF, 0x80, rng.randrange(256)})
        new_data = []
        for j, (_, data) in enumerate(blocks):
            n = self._length(len(data), rng) if j in moving else len(data)
            new_data.append(self._refill(data, n, alphabet, rng))

        # new places, a moved block sometimes with a halo on each side (see `_halo`)
        halo = HALO if moving and rng.random() < 0.5 else 0
        extents = [(off, len(d) + (2 * halo if j in moving else 0)) for j, ((off, _), d) in
                   enumerate(zip(blocks, new_data))]
        grow = max((len(d) - len(data) for (_, data), d in zip(blocks, new_data)), default=0)
        out_extents = [(off, n + max(0, grow)) for off, n in outputs]
        offsets = self._place(extents, moving, out_extents, set(out_pointer.values()), rng)
        if offsets is None:  # nothing fits: the tests' own layout with the new bytes, old lengths
            new_data = [self._refill(data, len(data), alphabet, rng) for _, data in blocks]
            offsets = ([off for off, _ in blocks], [off for off, _ in outputs])
            halo = 0
        block_offsets, output_offsets = offsets
        block_offsets = [off + (halo if j in moving else 0) for j, off in enumerate(block_offsets)]

        for i, j in pointer.items():
            args[i] = block_offsets[j]
        for i, k in out_pointer.items():
            args[i] = output_offsets[k]
        for i, j in length.items():
            n = len(new_data[j])
            r = rng.random()
            if r < 0.72:
                args[i] = n
            elif r < 0.87:
                args[i] = n + rng.randint(1, 8)  # beyond the block: the original decides what that means
            elif r < 0.97:
                args[i] = max(0, n - rng.randint(1, 4))
            else:  # negative, as C's `int n` may be: the original decides (most do nothing); masked below
                args[i] = rng.choice((-1, -n - 1, -(1 << 31), -rng.randint(2, 16)))
        fixed = set(pointer) | set(out_pointer) | set(length)
        free = [i for i in range(len(args)) if i not in fixed]
        share = 0.35
        if free and rng.random() < 0.75:
            args = list(self.vary_scalars(tuple(args), fixed, new_data, rng, share))
        args = [a & MASK[t] for a, t in zip(args, self.params)]
        memory = tuple((off, data) for off, data in zip(block_offsets, new_data))
        if halo:
            memory += tuple(side for j, (off, data) in enumerate(zip(block_offsets, new_data)) if j in moving
                            for side in self._halo(off, len(data), halo, args, rng))
        return Case(tuple(args), None, memory)

    @staticmethod
    def _halo(off: int, n: int, width: int, args: Sequence[int], rng: random.Random
              ) -> tuple[tuple[int, bytes], tuple[int, bytes]]:
        """Bytes just before and past a block, which a correct variant never reads (the original decides
        whether they count), set to what a wrong one would react to: the arguments' low bytes (a
        searched-for byte), 0 and 0xFF. A loop rotated to run its body once before testing the length then
        counts a match at length 0, and a vector loop that reads past the end sees one."""
        scalars = sorted({a & 0xFF for a in args})
        alphabet = sorted(set(scalars) | {0, 0xFF})
        def draw() -> bytes:
            return bytes(rng.choice(scalars if rng.random() < 0.5 else alphabet) for _ in range(width))
        return (off - width, draw()), (off + n, draw())

    def _length(self, n: int, rng: random.Random) -> int:
        r = rng.random()
        if r < 0.05:
            return 0  # the edge a rotated loop gets wrong
        if r < 0.2:
            return n
        if r < 0.4:
            return rng.randint(0, 16)
        if r < 0.55:
            return max(0, n + rng.choice((-3, -2, -1, 1, 2, 3)))
        if r < 0.7:
            return max(0, rng.choice(self.lengths) + rng.randint(-2, 2))
        if r < 0.85:  # powers of two up to four times the tests' longest: caps and unrolled limits show there
            top = max(1, (4 * self.max_length + 16).bit_length())
            return max(0, (1 << rng.randrange(top)) + rng.choice((-1, 0, 1)))
        return rng.randint(0, 2 * self.max_length + 16)

    @staticmethod
    def _refill(data: bytes, n: int, alphabet: list[int], rng: random.Random) -> bytes:
        """`n` new bytes in the spirit of `data`."""
        if n == 0:
            return b""
        how = rng.randrange(6)
        if how == 0 or not data:
            return rng.randbytes(n)
        if how == 1:
            return bytes(rng.choice(alphabet) for _ in range(n))
        if how == 2:
            return bytes(rng.choice(data) for _ in range(n))
        if n <= len(data):
            start = rng.randrange(len(data) - n + 1)
            out = bytearray(data[start:start + n])
        else:
            out = bytearray(data) + bytes(rng.choice(data) for _ in range(n - len(data)))
        if how == 3:
            for _ in range(rng.randint(1, max(1, n // 8))):
                out[rng.randrange(n)] = rng.randrange(256)
        elif how == 4:
            rng.shuffle(out)
        return bytes(out)

    def _place(self, blocks: list[tuple[int, int]], moving: set[int], outputs: list[tuple[int, int]],
               out_moving: set[int], rng: random.Random) -> tuple[list[int], list[int]] | None:
        """New offsets for the blocks (only those in `moving`) and output regions; None when nothing fits."""
        arena = self.arena
        if arena.size <= 0:
            return None
        items = [(off, n, j in moving) for j, (off, n) in enumerate(blocks)]
        items += [(off, n, k in out_moving) for k, (off, n) in enumerate(outputs)]
        for attempt in range(12):
            how = rng.random() if attempt < 10 else 0.0
            if how < 0.2:  # the tests' places (new lengths may no longer fit there)
                offs = [off for off, _, _ in items]
            elif how < 0.45:  # everything moved by one small, often unaligned, distance
                delta = rng.choice((-7, -5, -3, -1, 1, 2, 3, 5, 7, 13, 64, -64, 4096, -4096))
                offs = [off + delta if mv else off for off, _, mv in items]
            else:  # each moved block somewhere new: random, aligned or not, or flush with the end of memory
                offs = []
                for off, n, mv in items:
                    if not mv:
                        offs.append(off)
                    elif rng.random() < 0.2:
                        offs.append(arena.size - n - rng.choice((0, 0, 1, 2, 3)))
                    else:
                        align = rng.choice(_ALIGNMENTS)
                        skew = rng.choice((1, 3)) if align > 1 and rng.random() < 0.3 else 0
                        offs.append(rng.randrange(max(0, arena.size - n) // align + 1) * align + skew)
            if self._valid(items, offs, [off for off, _, _ in items]):
                return offs[:len(blocks)], offs[len(blocks):]
        return None

    def _valid(self, items: list[tuple[int, int, bool]], offs: list[int], olds: list[int]) -> bool:
        spans = []
        for (old, n, moved), off, first in zip(items, offs, olds):
            if off != first and not self.arena.fits(off, off + n):
                return False
            if not 0 <= off <= off + n <= self.arena.size:  # where the tests put it: allowed, if it fits
                return False
            spans.append((off, off + max(n, 1)))
        spans.sort()
        return all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
