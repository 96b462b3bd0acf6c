"""The chunk prologue: before a loop `byte_loops` recognised, a loop that does the original's iterations
a chunk at a time (16 bytes with SIMD, 4 or 8 with scalar words), leaving the rest to the original loop.

The rewrite keeps the original loop as the tail. Before it, a chunk loop runs only while the original
would still run at least `J + 1` more iterations (`J` iterations per chunk), so every induction variable
ends where the original's would, and the original loop resumes from a state it would itself reach. A
reduction reads all those bytes itself, so it suffices that the chunk does not wrap around the address
space; a search might stop early, so there each chunk must lie inside the memory (whose size nothing in
the loop can change) and the chunk loop leaves, before advancing, at the first chunk whose bytes would
make the original exit. The accumulators are folded back after the chunk loop: sums and counts wrap
modulo 2^32 like the scalar `i32.add`; maxima and minima combine with the original's own compare.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from jeet.wasm.ir import Body, Instr
from jeet.wasm.opcodes import BY_NAME
from jeet.wasm.types import BLOCK_I32, EMPTY_BLOCK, I32, ValType

from .byte_loops import LOAD_KINDS, ByteLoop, Expr, has_load
from .sites import add_locals

__all__ = ["address", "chunked_prologue", "emit_expr", "ins"]

_LOAD8U, _SELECT = BY_NAME["i32.load8_u"], 0x1B


def ins(name: str, *imm: object) -> Instr:
    """A new instruction by text name."""
    return Instr(BY_NAME[name], tuple(imm))


def emit_expr(e: Expr) -> list[Instr]:
    """Instructions computing an invariant expression tree."""
    if e[0] == "get":
        return [ins("local.get", e[1])]
    if e[0] == "const":
        return [ins("i32.const", e[1])]
    if e[0] == "select":
        return emit_expr(e[1]) + emit_expr(e[2]) + emit_expr(e[3]) + [Instr(_SELECT)]
    if e[0] in LOAD_KINDS:  # an invariant load (see `byte_loops`)
        return emit_expr(e[1]) + [Instr(_LOAD8U if e[0] == "load8" else e[3], (0, e[2]))]
    out: list[Instr] = []
    for a in e[1:]:
        out += emit_expr(a)
    return out + [Instr(e[0])]


def address(loop: ByteLoop, stream: int = 0) -> list[Instr]:
    """The i32 address of the current iteration's first byte of a stream (without the memarg offset)."""
    st = loop.streams[stream]
    out = [ins("local.get", st.iv)]
    for t in st.invariants:
        out += emit_expr(t) + [ins("i32.add")]
    if st.const:
        out += [ins("i32.const", st.const), ins("i32.add")]
    return out


def _span(loop: ByteLoop, chunk: int) -> int:
    """How far the counter moves in one chunk."""
    return (chunk // loop.bytes_per_iteration) * abs(dict(loop.ivs)[loop.counter])


def _entry_guard(loop: ByteLoop, chunk: int, d: int) -> list[Instr]:
    """i32, and the counter's distance to its bound in local `d`: the original loop would run at least
    `chunk / bytes_per_iteration + 1` more iterations (unless a byte test exits it first), and every
    byte the chunk loop may read, all chunks together, can be read.

    A loop without early exits reads all those bytes itself, so it suffices that they do not wrap
    around the address space. A loop that may exit early might not read them: there they must lie
    inside the memory as it is now (nothing in the loop can grow it). The chunk loop runs while
    `d > span` and takes `span` off `d` per chunk, so it runs `(d - 1) / span` chunks at most."""
    x, c = loop.counter, dict(loop.ivs)[loop.counter]
    span = _span(loop, chunk)
    get_x, bound = [ins("local.get", x)], emit_expr(loop.bound)
    distance = bound + get_x if c > 0 else get_x + bound
    if loop.bound == ("const", 0) and c < 0:
        distance = get_x  # x - 0
    else:
        distance.append(ins("i32.sub"))
    out = distance + [ins("local.tee", d), ins("i32.const", span), ins("i32.gt_u")]
    if loop.relation != "ne":
        out = get_x + bound + [ins(f"i32.{loop.relation}")] + out + [ins("i32.and")]
    chunks = [ins("local.get", d), ins("i32.const", 1), ins("i32.sub"), ins("i64.extend_i32_u")]
    if span == chunk and span & (span - 1) == 0:  # (d - 1) / span * span
        chunks += [ins("i64.const", -span), ins("i64.and")]
    else:
        chunks += ([ins("i64.const", span.bit_length() - 1), ins("i64.shr_u")] if span & (span - 1) == 0
                   else [ins("i64.const", span), ins("i64.div_u")])
        chunks += ([ins("i64.const", chunk.bit_length() - 1), ins("i64.shl")] if chunk & (chunk - 1) == 0
                   else [ins("i64.const", chunk), ins("i64.mul")])
    if loop.exits:
        limit = [ins("memory.size", 0), ins("i64.extend_i32_u"), ins("i64.const", 16), ins("i64.shl")]
    else:
        limit = [ins("i64.const", 1 << 32)]
    for j, st in enumerate(loop.streams):
        # the end of the last chunk: address + offset + chunks * chunk <= limit
        end = address(loop, j) + [ins("i64.extend_i32_u")] + chunks + [ins("i64.add")]
        if loop.exits and st.offset:
            end += [ins("i64.const", st.offset), ins("i64.add")]
        if any(has_load(t) for t in st.invariants):
            # the base is read from memory, which the original does only once it runs an iteration:
            # look at it only after the distance said so
            out = out + [ins("if", BLOCK_I32)] + end + limit + [ins("i64.le_u"), ins("else"), ins("i32.const", 0),
                               ins("end")]
        else:
            out += end + limit + [ins("i64.le_u"), ins("i32.and")]
    return out


def _again(loop: ByteLoop, chunk: int, d: int) -> list[Instr]:
    """i32: another chunk (after taking one off the distance in `d`)."""
    span = _span(loop, chunk)
    return [ins("local.get", d), ins("i32.const", span), ins("i32.sub"), ins("local.tee", d),
            ins("i32.const", span), ins("i32.gt_u")]


def chunked_prologue(body: Body, loop: ByteLoop, local_types: Sequence[ValType], width: int, copies: int,
                     extra_locals: Sequence[ValType],
                     build: Callable[[int], tuple[list[Instr], Callable[[int], list[Instr]], list[Instr]]]) -> Body:
    """`body` with a chunk loop inserted before `loop`; each of its iterations handles `copies` pieces
    of `width` bytes (one guard per `width * copies` bytes).

    `build(first_new_local)` returns (setup, piece code, fold-back code), the new locals being
    `extra_locals` numbered from `first_new_local`; piece code, called with the index of the piece (0 .. copies - 1), handles `width` bytes at
    `address(loop, stream) + stream offset + index * width`. For a loop with early exits, piece code
    ends with `br_if 1` when its bytes would make the original exit: that leaves the chunk loop before
    the induction variables advance, and the original loop finds the exit itself.
    This function adds the guards (see `_entry_guard`) and advances the induction variables by one chunk
    of iterations.
    """
    first = len(local_types)
    setup, piece, fold = build(first)
    d = first + len(extra_locals)  # the counter's distance to its bound
    chunk = width * copies
    iterations = chunk // loop.bytes_per_iteration
    step: list[Instr] = []
    for j in range(copies):
        step += piece(j)
    for x, c in loop.ivs:
        step += [ins("local.get", x), ins("i32.const", c * iterations), ins("i32.add"), ins("local.set", x)]
    inner = [ins("loop", EMPTY_BLOCK)] + step + _again(loop, chunk, d) + [ins("br_if", 0), ins("end")]
    if loop.exits:
        inner = [ins("block", EMPTY_BLOCK)] + inner + [ins("end")]
    body_code = setup + inner + fold
    # a byte compared against must fit in a byte (else the scalar compare never matches, and a lane-wise
    # or SWAR compare of its low byte would); checked once the guard says the original runs, since a
    # target may be loaded from memory
    targets = list(dict.fromkeys([r.target for r in loop.reductions if r.target is not None]
                                 + [t.target for t in loop.exits if t.target is not None]))
    if targets:
        small: list[Instr] = []
        for n, t in enumerate(targets):
            small += emit_expr(t) + [ins("i32.const", 256), ins("i32.lt_u")] + ([ins("i32.and")] if n else [])
        body_code = small + [ins("if", EMPTY_BLOCK)] + body_code + [ins("end")]
    code = _entry_guard(loop, chunk, d) + [ins("if", EMPTY_BLOCK)] + body_code + [ins("end")]
    k = loop.loop_index
    instrs = list(body.instrs)
    return add_locals(body.with_instrs(instrs[:k] + code + instrs[k:]), [*extra_locals, I32])
