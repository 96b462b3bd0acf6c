"""word_at_a_time: a byte-reduction loop that sums bytes, counts a byte value or the equal bytes of two
buffers, or a byte search (the first place two buffers differ, the first byte equal to or different from
a value), gains a prologue that reads 8 (or 4) bytes per `i64.load` (`i32.load`); the original loop is
the byte tail.

The recognition lives in `byte_loops`, the guards in `chunk_prologue` (see there why the words read
only bytes the original reads). Per word, with SWAR arithmetic on the scalar registers:

* sum: add the even and odd bytes as 16-bit lanes (`(w & 0x00FF..) + ((w >> 8) & 0x00FF..)`), then
  one multiply by `0x0001_0001..` gathers the lanes in the top 16 bits (no lane carries: at most
  4 * 510), shifted down and added;
* count: `x = w ^ t * 0x0101..` is zero exactly in the bytes equal to t; `((x & 0x7F..) + 0x7F..) | x`
  has each byte's top bit set exactly when that byte is nonzero (no carry crosses a byte), so a
  `popcnt` of the top bits counts the bytes that differ (runs only for t < 256, like the scalar compare
  of a byte can only match then).

* searches: compare whole words (`i64.ne`), or find a word holding the target byte with the exact
  zero-byte test `(x - 0x0101..) & ~x & 0x8080..`; the word loop stops before that word.

Maximum and minimum loops are left to `vectorize_bytes`: without SIMD they gain nothing from words.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from jeet.wasm.ir import Body, Instr
from jeet.wasm.types import I32, I64, ValType

from .byte_loops import ByteLoop, find_byte_loops
from .chunk_prologue import address, chunked_prologue, emit_expr, ins
from .operator import Genome, Operator
from .sites import facts

__all__ = ["WordAtATime", "word_at_a_time"]

_KINDS = frozenset(("sum", "count_eq", "count_ne"))


def _repeat(byte_pattern: int, width: int) -> int:
    return int.from_bytes(bytes([byte_pattern]) * width, "little")


def _search(body: Body, loop: ByteLoop, local_types: Sequence[ValType], width: int) -> Body:
    """A loop that exits on its bytes: the word loop leaves (before advancing) at the first word that
    would make the original exit; the original finds the exact byte."""
    wide = width == 8
    t = "i64" if wide else "i32"
    (test,) = loop.exits
    extra = [I64 if wide else I32] * (2 if test.kind != "same" else 0)  # the repeated target, a scratch word

    def c(value: int) -> Instr:
        return ins(f"{t}.const", value)

    def build(first: int):
        splat, scratch = first, first + 1
        setup: list[Instr] = []
        if test.kind != "same":
            setup = emit_expr(test.target) + ([ins("i64.extend_i32_u")] if wide else []) \
                + [c(_repeat(0x01, width)), ins(f"{t}.mul"), ins("local.set", splat)]

        def load(stream: int, j: int) -> list[Instr]:
            return address(loop, stream) + [ins(f"{t}.load", 0, loop.streams[stream].offset + j * width)]

        def piece(j: int) -> list[Instr]:
            if test.kind == "same":
                return load(test.stream, j) + load(test.other, j) + [ins(f"{t}.ne"), ins("br_if", 1)]
            if test.kind == "equal":
                return load(test.stream, j) + [ins("local.get", splat), ins(f"{t}.ne"), ins("br_if", 1)]
            # differs: leave at a word holding the target, i.e. a zero byte of x = w ^ target:
            # (x - 0x0101..) & ~x & 0x8080.. is nonzero exactly then
            return load(test.stream, j) + [
                ins("local.get", splat), ins(f"{t}.xor"), ins("local.tee", scratch), c(_repeat(0x01, width)),
                ins(f"{t}.sub"), ins("local.get", scratch), c(-1), ins(f"{t}.xor"), ins(f"{t}.and"),
                c(_repeat(0x80, width)), ins(f"{t}.and"), c(0), ins(f"{t}.ne"), ins("br_if", 1)]
        return setup, piece, []

    return chunked_prologue(body, loop, local_types, width, 16 // width, extra, build)


def word_at_a_time(body: Body, loop: ByteLoop, local_types: Sequence[ValType], width: int) -> Body:
    """`body` with a prologue reading 16 bytes per iteration as words of `width` (4 or 8) bytes before
    `loop` (one guard per 16 bytes)."""
    if loop.exits:
        return _search(body, loop, local_types, width)
    wide = width == 8
    t = "i64" if wide else "i32"
    T = I64 if wide else I32
    shift_top = 48 if wide else 16
    nstreams = len(loop.streams)
    counts = [r for r in loop.reductions if r.kind != "sum" and not r.pair]
    # the word of each buffer, a scratch word, one repeated target per count of one buffer
    extra = [T] * (nstreams + 1 + len(counts))

    def c(value: int) -> Instr:
        return ins(f"{t}.const", value)

    def build(first: int):
        words = list(range(first, first + nstreams))
        word, scratch = words[0], first + nstreams
        splats = {r.local: scratch + 1 + j for j, r in enumerate(counts)}
        setup: list[Instr] = []
        step: list[Instr] = []
        get_w = ins("local.get", word)
        for r in loop.reductions:
            acc = ins("local.get", r.local)
            if r.kind == "sum":
                lanes = int.from_bytes(b"\xff\x00" * (width // 2), "little")  # 0x00FF00FF...
                step += [acc, get_w, c(lanes), ins(f"{t}.and"), get_w, c(8), ins(f"{t}.shr_u"), c(lanes),
                         ins(f"{t}.and"), ins(f"{t}.add"), c(int.from_bytes(b"\x01\x00" * (width // 2), "little")),
                         ins(f"{t}.mul"), c(shift_top), ins(f"{t}.shr_u")]
                step += [ins("i32.wrap_i64")] if wide else []
                step += [ins("i32.add"), ins("local.set", r.local)]
                continue
            if r.pair:  # the bytes of the two words that differ
                other = ins("local.get", words[1])
            else:
                setup += emit_expr(r.target) + ([ins("i64.extend_i32_u")] if wide else []) \
                    + [c(_repeat(0x01, width)), ins(f"{t}.mul"), ins("local.set", splats[r.local])]
                other = ins("local.get", splats[r.local])
            low7 = _repeat(0x7F, width)
            differing = [get_w, other, ins(f"{t}.xor"), ins("local.tee", scratch), c(low7),
                         ins(f"{t}.and"), c(low7), ins(f"{t}.add"), ins("local.get", scratch), ins(f"{t}.or"),
                         c(_repeat(0x80, width)), ins(f"{t}.and"), ins(f"{t}.popcnt")]
            differing += [ins("i32.wrap_i64")] if wide else []
            if r.kind == "count_ne":
                step += [acc] + differing + [ins("i32.add"), ins("local.set", r.local)]
            else:
                step += [acc, ins("i32.const", width), ins("i32.add")] + differing + [ins("i32.sub"),
                                                                                      ins("local.set", r.local)]
        def piece(j: int) -> list[Instr]:
            loads: list[Instr] = []
            for n in range(nstreams):
                loads += address(loop, n) + [ins(f"{t}.load", 0, loop.streams[n].offset + j * width),
                                             ins("local.set", words[n])]
            return loads + step
        return setup, piece, []

    return chunked_prologue(body, loop, local_types, width, 16 // width, extra, build)


class WordAtATime(Operator):
    """Turns one byte-sum or byte-count loop of a target function into word loads plus a byte tail."""

    name = "word_at_a_time"

    def propose(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        parent = parents[0]
        sites = []
        for t in parent.targets:
            f = facts(parent, t)
            loops = parent.memo_body("byte_loops", t, lambda f=f: find_byte_loops(f.body, f.local_types))
            sites += [(f, loop) for loop in loops
                      if all(r.kind in _KINDS for r in loop.reductions) and loop.bytes_per_iteration <= 8]
        if not sites:
            return None
        # an unrolled loop (more bytes per iteration) is the likelier main loop, the rest its remainder
        f, loop = rng.choices(sites, weights=[loop.bytes_per_iteration for _, loop in sites])[0]
        width = rng.choice([w for w in (8, 4) if w >= loop.bytes_per_iteration])
        return parent.with_bodies({f.index: word_at_a_time(f.body, loop, f.local_types, width)})
