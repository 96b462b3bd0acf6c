"""vectorize_bytes: a byte-reduction loop (sum, count of a byte value or of equal bytes in two buffers,
maximum or minimum byte) or a byte search (the first place two buffers differ, the first byte equal to
or different from a value) gains a SIMD prologue that handles 16 bytes per iteration; the original loop
stays as the scalar tail.

The recognition lives in `byte_loops`, the guards in `chunk_prologue` (see there why the chunks read
only bytes the original reads and leave every induction variable where it would). Per 16 bytes the
chunk loop does one `v128.load` per buffer and two to four lane-wise operations:

* sum: widen pairwise twice (`i16x8.extadd_pairwise_i8x16_u`, `i32x4.extadd_pairwise_i16x8_u`) and add
  into four i32 lanes, which wrap modulo 2^32 just as the scalar sum does;
* count: `i8x16.eq` / `ne` against the splatted byte gives 0 / -1 lanes, widened and subtracted; the
  prologue runs only when the compared value is below 256 (else the scalar compare never matches a
  byte and the low-byte SIMD compare would);
* max / min: `i8x16.max_u` / `min_u` (bytes are equal signed or unsigned as i32), reduced
  horizontally by three shuffles and folded in with the loop's own compare;
* searches: `i8x16.eq` / `ne` and `i8x16.all_true`; the chunk loop stops before the first 16 bytes
  holding the exit, so the original loop exits exactly where it would have.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from jeet.wasm.ir import Body, Instr
from jeet.wasm.types import I32, V128, ValType

from .byte_loops import ByteLoop, Reduction, find_byte_loops
from .chunk_prologue import address, chunked_prologue, emit_expr, ins
from .operator import Genome, Operator
from .sites import facts

__all__ = ["VectorizeBytes", "vectorize"]

CHUNK = 16
_HALVES = ((8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7),
           (4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3),
           (2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1),
           (1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0))


def _fold(r: Reduction, vacc: int, scratch: int) -> list[Instr]:
    """Fold the vector accumulator `vacc` into the scalar accumulator."""
    get_v = ins("local.get", vacc)
    if r.kind in ("sum", "count_eq", "count_ne"):
        out = [ins("local.get", r.local)]
        for lane in range(4):
            out += [get_v, ins("i32x4.extract_lane", lane), ins("i32.add")]
        return out + [ins("local.set", r.local)]
    op = "i8x16.max_u" if r.kind == "max" else "i8x16.min_u"
    out = []
    for lanes in _HALVES:
        out += [get_v, get_v, get_v, ins("i8x16.shuffle", lanes), ins(op), ins("local.set", vacc)]
    rel = ("lt" if r.kind == "max" else "gt") + ("_s" if r.signed else "_u")
    # acc = select(m, acc, acc <rel> m): the loop's own compare
    return out + [get_v, ins("i8x16.extract_lane_u", 0), ins("local.tee", scratch), ins("local.get", r.local),
                  ins("local.get", r.local), ins("local.get", scratch), ins(f"i32.{rel}"), Instr(0x1B),
                  ins("local.set", r.local)]


def _search(body: Body, loop: ByteLoop, local_types: Sequence[ValType]) -> Body:
    """A loop that exits on its bytes: the chunk loop leaves (before advancing) at the first 16 bytes
    that would make the original exit, and the original finds the exact byte."""
    (test,) = loop.exits
    streams = (test.stream, test.other) if test.kind == "same" else (test.stream,)
    extra = [V128] if test.kind != "same" else []  # the splatted byte

    def build(first: int):
        setup: list[Instr] = []
        splat = first
        if test.kind != "same":
            setup = emit_expr(test.target) + [ins("i8x16.splat"), ins("local.set", splat)]

        def piece(j: int) -> list[Instr]:
            out: list[Instr] = []
            for s in streams:
                out += address(loop, s) + [ins("v128.load", 0, loop.streams[s].offset + j * CHUNK)]
            if test.kind != "same":
                out += [ins("local.get", splat)]
            compare = "i8x16.ne" if test.kind == "differs" else "i8x16.eq"
            return out + [ins(compare), ins("i8x16.all_true"), ins("i32.eqz"), ins("br_if", 1)]
        return setup, piece, []

    return chunked_prologue(body, loop, local_types, CHUNK, 1, extra, build)


def vectorize(body: Body, loop: ByteLoop, local_types: Sequence[ValType]) -> Body:
    """`body` with a 16-bytes-per-iteration SIMD prologue before `loop`."""
    if loop.exits:
        return _search(body, loop, local_types)
    nstreams = len(loop.streams)
    counts = [r for r in loop.reductions if r.kind.startswith("count") and not r.pair]
    extremes = any(r.kind in ("max", "min") for r in loop.reductions)
    # new locals: the bytes of each buffer, a vector accumulator per reduction, a splat per count of one
    # buffer, a scalar for the maxima
    extra = [V128] * (nstreams + len(loop.reductions) + len(counts)) + ([I32] if extremes else [])

    def build(first: int):
        data = list(range(first, first + nstreams))
        accs = first + nstreams
        splats = {r.local: accs + len(loop.reductions) + j for j, r in enumerate(counts)}
        scratch = accs + len(loop.reductions) + len(counts)
        setup: list[Instr] = []
        step: list[Instr] = []
        fold: list[Instr] = []
        for j, r in enumerate(loop.reductions):
            vacc = accs + j
            init = (1 << 128) - 1 if r.kind == "min" else 0
            setup += [ins("v128.const", init), ins("local.set", vacc)]
            get_acc, get_data = ins("local.get", vacc), ins("local.get", data[0])
            if r.kind == "sum":
                step += [get_acc, get_data, ins("i16x8.extadd_pairwise_i8x16_u"),
                         ins("i32x4.extadd_pairwise_i16x8_u"), ins("i32x4.add"), ins("local.set", vacc)]
            elif r.kind in ("count_eq", "count_ne"):
                if r.pair:
                    other = ins("local.get", data[1])
                else:
                    setup += emit_expr(r.target) + [ins("i8x16.splat"), ins("local.set", splats[r.local])]
                    other = ins("local.get", splats[r.local])
                step += [get_acc, get_data, other, ins("i8x16.eq" if r.kind == "count_eq" else "i8x16.ne"),
                         ins("i16x8.extadd_pairwise_i8x16_s"), ins("i32x4.extadd_pairwise_i16x8_s"),
                         ins("i32x4.sub"), ins("local.set", vacc)]
            else:
                step += [get_acc, get_data, ins("i8x16.max_u" if r.kind == "max" else "i8x16.min_u"),
                         ins("local.set", vacc)]
            fold += _fold(r, vacc, scratch)

        def piece(j: int) -> list[Instr]:
            loads: list[Instr] = []
            for n in range(nstreams):
                loads += address(loop, n) + [ins("v128.load", 0, loop.streams[n].offset + j * CHUNK),
                                             ins("local.set", data[n])]
            return loads + step
        return setup, piece, fold

    return chunked_prologue(body, loop, local_types, CHUNK, 1, extra, build)


class VectorizeBytes(Operator):
    """Turns one byte-reduction loop of a target function into SIMD plus its own scalar tail."""

    name = "vectorize_bytes"

    def propose(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        parent = parents[0]
        sites = []
        for t in parent.targets:
            f = facts(parent, t)
            sites += [(f, loop) for loop in parent.memo_body("byte_loops", t, lambda f=f: find_byte_loops(
                f.body, f.local_types))]
        if not sites:
            return None
        # an unrolled loop (more bytes per iteration) is the likelier main loop, the rest its remainder
        f, loop = rng.choices(sites, weights=[loop.bytes_per_iteration for _, loop in sites])[0]
        return parent.with_bodies({f.index: vectorize(f.body, loop, f.local_types)})
