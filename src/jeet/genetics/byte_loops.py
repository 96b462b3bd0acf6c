"""Byte-reduction loops: recognise them, and build a chunked prologue that does their first iterations
wider (16 bytes with SIMD, 4 or 8 with scalar words) before handing the rest to the original loop.

A byte-reduction loop is a `loop` (empty block type) whose body, run once symbolically, only

* advances induction variables by constants (`x = x + c`),
* reads `S` consecutive bytes per iteration with `i32.load8_u` at `invariant + iv + k`, k = 0..S-1,
  where `iv` advances by S,
* folds those bytes into accumulators: `acc += byte` (sum), `acc += (byte == t)` or `!=` (count),
  `acc = max(acc, byte)` / `min` through `select` chains (max / min, signed or unsigned compares),
* writes temporaries that no iteration reads before writing them,

and whose only branch is its continuation test on one induction variable: either a final `br_if 0`
(do-while, the shape clang -O2 emits, unrolled or not) or a leading `br_if 1` out of a `block` that
closes right after the loop (while). No stores, calls or globals.

The rewrite keeps the original loop as the tail. Before it, a chunk loop runs only while the original
would still run at least `J + 1` more iterations (`J` iterations per chunk), so the chunks read only
bytes those iterations read, every induction variable ends where the original's would, and the
original loop (which always runs at least one iteration once entered) resumes from a state it would
itself reach. Address wrap-around is excluded by a guard, so the wide loads never fault where the byte
loads would not. The accumulators are folded back after the chunk loop: sums and counts wrap modulo
2^32 like the scalar `i32.add`; maxima and minima combine with the original's own compare.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from jeet.wasm.analysis import block_ends
from jeet.wasm.ir import Body, Instr
from jeet.wasm.opcodes import BY_NAME
from jeet.wasm.types import EMPTY_BLOCK, I32, ValType

from .sites import add_locals

__all__ = ["ByteLoop", "Reduction", "find_byte_loops", "chunked_prologue", "emit_expr", "ins"]

Expr = tuple  # ("get", local) | ("const", value) | ("load8", address_expr, offset) | (opcode, *args)

_OP = BY_NAME
_GET, _SET, _TEE = _OP["local.get"], _OP["local.set"], _OP["local.tee"]
_CONST, _LOAD8U = _OP["i32.const"], _OP["i32.load8_u"]
_LOOP, _BLOCK, _IF, _ELSE, _END = 0x03, 0x02, 0x04, 0x05, 0x0B
_BR, _BR_IF, _SELECT = 0x0C, 0x0D, 0x1B
_ADD, _SUB, _EQZ = _OP["i32.add"], _OP["i32.sub"], _OP["i32.eqz"]
_EQ, _NE = _OP["i32.eq"], _OP["i32.ne"]
_PURE_BINARY = frozenset(_OP[f"i32.{n}"] for n in (
    "add", "sub", "mul", "and", "or", "xor", "shl", "shr_s", "shr_u", "rotl", "rotr",
    "eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u"))
_PURE_UNARY = frozenset((_EQZ, _OP["i32.clz"], _OP["i32.ctz"], _OP["i32.popcnt"]))
_REL = {_OP[f"i32.{n}"]: n for n in ("eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u")}
_NEGATE = {"eq": "ne", "ne": "eq", "lt_s": "ge_s", "ge_s": "lt_s", "lt_u": "ge_u", "ge_u": "lt_u",
           "gt_s": "le_s", "le_s": "gt_s", "gt_u": "le_u", "le_u": "gt_u"}
_SWAP = {"eq": "eq", "ne": "ne", "lt_s": "gt_s", "gt_s": "lt_s", "lt_u": "gt_u", "gt_u": "lt_u",
         "le_s": "ge_s", "ge_s": "le_s", "le_u": "ge_u", "ge_u": "le_u"}


def ins(name: str, *imm: object) -> Instr:
    """A new instruction by text name."""
    return Instr(_OP[name], tuple(imm))


@dataclass(frozen=True)
class Reduction:
    """One accumulator: `kind` is "sum", "count_eq", "count_ne", "max" or "min"; `target` the byte
    compared against (count kinds); `signed` the signedness of the max/min compare."""

    local: int
    kind: str
    target: Expr | None = None
    signed: bool = False


@dataclass(frozen=True)
class ByteLoop:
    """A recognised loop (see the module docstring): where it starts, how its state advances."""

    loop_index: int  # index of the `loop` instruction in the body
    ivs: tuple[tuple[int, int], ...]  # (local, step per iteration)
    address_iv: int
    address_invariants: tuple[Expr, ...]  # summed with the address IV (and `address_const`)
    address_const: int
    offset: int  # memarg offset shared by every byte load
    bytes_per_iteration: int
    counter: int  # local the continuation test reads
    relation: str  # "ne", "lt_s", "lt_u", "gt_s", "gt_u": continue while relation(counter, bound)
    bound: Expr
    reductions: tuple[Reduction, ...]


class _NoMatch(Exception):
    pass


def _leaves(e: Expr, out: set) -> set:
    if e[0] == "get":
        out.add(e[1])
    elif e[0] == "const":
        pass
    elif e[0] == "load8":
        _leaves(e[1], out)
    else:
        for a in e[1:]:
            _leaves(a, out)
    return out


def _has_load(e: Expr) -> bool:
    if e[0] == "load8":
        return True
    if e[0] in ("get", "const"):
        return False
    return any(_has_load(a) for a in e[1:])


def _loads(e: Expr, out: list) -> list:
    if e[0] == "load8":
        out.append(e)
        _loads(e[1], out)
    elif e[0] not in ("get", "const"):
        for a in e[1:]:
            _loads(a, out)
    return out


class _Eval:
    """Symbolic execution of straight-line i32 code (with `if`/`else` arms merged into `select`)."""

    def __init__(self, instrs: Sequence[Instr], local_types: Sequence[ValType], ends: dict[int, int]) -> None:
        self.instrs = instrs
        self.ends = ends
        self.types = local_types
        self.written: set[int] = set()
        self.unconditional_loads: set[Expr] = set()

    def run(self, start: int, stop: int, state: dict, stack: list, conditional: bool) -> None:
        k = start
        instrs = self.instrs
        while k < stop:
            i = instrs[k]
            op = i.op
            if op == _GET:
                x = i.imm[0]
                if self.types[x] != I32:
                    raise _NoMatch
                stack.append(state.get(x, ("get", x)))
            elif op == _SET or op == _TEE:
                x = i.imm[0]
                if self.types[x] != I32 or not stack:
                    raise _NoMatch
                state[x] = stack[-1] if op == _TEE else stack.pop()
                self.written.add(x)
            elif op == _CONST:
                stack.append(("const", i.imm[0] & 0xFFFFFFFF))
            elif op == _LOAD8U:
                if not stack:
                    raise _NoMatch
                e = ("load8", stack.pop(), i.imm[1])
                if not conditional:
                    self.unconditional_loads.add(e)
                stack.append(e)
            elif op in _PURE_BINARY:
                if len(stack) < 2:
                    raise _NoMatch
                b = stack.pop()
                a = stack.pop()
                stack.append((op, a, b))
            elif op in _PURE_UNARY:
                if not stack:
                    raise _NoMatch
                stack.append((op, stack.pop()))
            elif op == _SELECT:
                if len(stack) < 3:
                    raise _NoMatch
                c = stack.pop()
                b = stack.pop()
                a = stack.pop()
                stack.append(("select", a, b, c))
            elif op == _IF and i.imm[0] == EMPTY_BLOCK:
                if not stack:
                    raise _NoMatch
                cond = stack.pop()
                end = self.ends.get(k)
                if end is None:
                    raise _NoMatch
                els = next((j for j in range(k + 1, end) if instrs[j].op == _ELSE and self._depth(k, j) == 1), None)
                then_state, else_state = dict(state), dict(state)
                self.run(k + 1, els if els is not None else end, then_state, [], True)
                if els is not None:
                    self.run(els + 1, end, else_state, [], True)
                for x in set(then_state) | set(else_state):
                    old = ("get", x) if x not in state else state[x]
                    t, e = then_state.get(x, old), else_state.get(x, old)
                    state[x] = t if t == e else ("select", t, e, cond)
                k = end
            else:
                raise _NoMatch
            k += 1
        if stack and conditional:
            raise _NoMatch

    def _depth(self, start: int, j: int) -> int:
        d = 0
        for i in self.instrs[start:j]:
            if i.op in (_BLOCK, _LOOP, _IF):
                d += 1
            elif i.op == _END:
                d -= 1
        return d


def _flatten_add(e: Expr, out: list) -> list:
    if e[0] == _ADD:
        _flatten_add(e[1], out)
        _flatten_add(e[2], out)
    else:
        out.append(e)
    return out


def _step(e: Expr, x: int) -> int | None:
    """c when e is x + c (or x - c, c + x), else None."""
    if e[0] in (_ADD, _SUB) and len(e) == 3:
        a, b = e[1], e[2]
        if a == ("get", x) and b[0] == "const":
            c = b[1] if e[0] == _ADD else -b[1]
        elif e[0] == _ADD and b == ("get", x) and a[0] == "const":
            c = a[1]
        else:
            return None
        c &= 0xFFFFFFFF
        return c - (1 << 32) if c >= 1 << 31 else c
    return None


def _continuation(cond: Expr, negate: bool) -> tuple[str, Expr, Expr]:
    """(relation, left, right) such that the loop continues while relation(left, right)."""
    while cond[0] == _EQZ:
        cond, negate = cond[1], not negate
    rel = _REL.get(cond[0]) if isinstance(cond[0], int) else None
    if rel is None:
        rel, left, right = "ne", cond, ("const", 0)  # br_if on a value: continue while it is nonzero
    else:
        left, right = cond[1], cond[2]
    if negate:
        rel = _NEGATE[rel]
    return rel, left, right


def _reduction(acc: int, e: Expr, loads: dict[int, Expr], invariant: Callable[[Expr], bool]) -> Reduction:
    """The reduction the final value `e` of accumulator `acc` performs over the iteration's `loads`
    (keyed by byte index), or _NoMatch."""
    want = Counter(loads.values())
    terms = _flatten_add(e, [])
    if ("get", acc) in terms and len(terms) == len(loads) + 1:
        rest = [t for t in terms if t != ("get", acc)]
        if Counter(rest) == want:
            return Reduction(acc, "sum")
        kinds, targets, seen = set(), set(), []
        for t in rest:
            if not (isinstance(t[0], int) and t[0] in (_EQ, _NE)):
                raise _NoMatch
            a, b = t[1], t[2]
            if a[0] != "load8":
                a, b = b, a
            if a[0] != "load8" or not invariant(b):
                raise _NoMatch
            kinds.add("count_eq" if t[0] == _EQ else "count_ne")
            targets.add(b)
            seen.append(a)
        if len(kinds) == 1 and len(targets) == 1 and Counter(seen) == want:
            return Reduction(acc, kinds.pop(), targets.pop())
        raise _NoMatch
    leaves: list[Expr] = []
    kind_sign: set[tuple[str, bool]] = set()

    def walk(x: Expr) -> None:
        if x[0] != "select":
            leaves.append(x)
            return
        a, b, c = x[1], x[2], x[3]
        rel = _REL.get(c[0]) if isinstance(c[0], int) else None
        if rel is None or rel in ("eq", "ne"):
            raise _NoMatch
        if (c[1], c[2]) == (b, a):
            rel = _SWAP[rel]
        elif (c[1], c[2]) != (a, b):
            raise _NoMatch
        kind_sign.add(("max" if rel[:2] in ("gt", "ge") else "min", rel.endswith("_s")))
        walk(a)
        walk(b)

    walk(e)
    if len(kind_sign) == 1 and leaves.count(("get", acc)) == 1 and \
            Counter(x for x in leaves if x != ("get", acc)) == want:
        kind, signed = kind_sign.pop()
        return Reduction(acc, kind, None, signed)
    raise _NoMatch


def _match(instrs: Sequence[Instr], local_types: Sequence[ValType], k: int, ends: dict[int, int]) -> ByteLoop:
    end = ends[k]
    if instrs[k].imm[0] != EMPTY_BLOCK:
        raise _NoMatch
    ev = _Eval(instrs, local_types, ends)
    state: dict = {}
    stack: list = []
    last = instrs[end - 1]
    if last.op == _BR_IF and last.imm[0] == 0:  # do-while
        ev.run(k + 1, end - 1, state, stack, False)
        if len(stack) != 1:
            raise _NoMatch
        cond_expr, negate = stack[0], False
    elif last.op == _BR and last.imm[0] == 0 and k > 0 and instrs[k - 1].op == _BLOCK \
            and ends.get(k - 1) == end + 1:  # while: block loop <test> br_if 1 ... br 0 end end
        j = next((j for j in range(k + 1, end) if instrs[j].op in (_BR_IF, _BR, 0x0E, 0x0F)), None)
        if j is None or instrs[j].op != _BR_IF or instrs[j].imm[0] != 1:
            raise _NoMatch
        ev.run(k + 1, j, state, stack, False)
        if len(stack) != 1 or state:
            raise _NoMatch  # the test must not write locals
        cond_expr, negate = stack.pop(), True
        if _has_load(cond_expr):
            raise _NoMatch
        ev.run(j + 1, end - 1, state, stack, False)
        if stack:
            raise _NoMatch
    else:
        raise _NoMatch
    written = ev.written
    rel, left, right = _continuation(cond_expr, negate)

    def invariant(e: Expr) -> bool:
        return not _has_load(e) and not (_leaves(e, set()) & written)

    ivs = {x: c for x in written if x in state and (c := _step(state[x], x)) is not None and c != 0}
    # the counter: the test compares an IV (or its next value, for do-while) with an invariant bound
    if not invariant(right):
        rel, left, right = _SWAP.get(rel, rel), right, left
    counter = None
    for x in ivs:
        if left in (("get", x), state[x]) and invariant(right):
            counter = x
    if counter is None or rel not in ("ne", "lt_s", "lt_u", "gt_s", "gt_u"):
        raise _NoMatch
    c = ivs[counter]
    if (rel[:2] == "lt" and c < 0) or (rel[:2] == "gt" and c > 0) or abs(c) > 1 << 16:
        raise _NoMatch
    # byte loads: one per byte of the stride, at invariant + address IV + k
    load_exprs = set()
    for x, e in state.items():
        load_exprs.update(_loads(e, []))
    load_exprs.update(_loads(cond_expr, []))
    if not load_exprs or not load_exprs <= ev.unconditional_loads:
        raise _NoMatch
    placed = []  # (K as signed, memarg offset, load): the byte is at (sum + K) mod 2^32 + offset
    address_iv = None
    base: Counter | None = None
    for e in load_exprs:
        terms = _flatten_add(e[1], [])
        const = sum(t[1] for t in terms if t[0] == "const") & 0xFFFFFFFF
        rest = Counter(t for t in terms if t[0] != "const")
        ivs_here = [t[1] for t in rest if t[0] == "get" and t[1] in ivs]
        if len(ivs_here) != 1 or rest[("get", ivs_here[0])] != 1:
            raise _NoMatch
        others = rest - Counter({("get", ivs_here[0]): 1})
        if not all(invariant(t) for t in others):
            raise _NoMatch
        if address_iv is None:
            address_iv, base = ivs_here[0], others
        elif (address_iv, base) != (ivs_here[0], others):
            raise _NoMatch
        placed.append((const - (1 << 32) if const >= 1 << 31 else const, e[2], e))
    k_first, off_first, _ = min(placed, key=lambda t: (t[0], t[1]))
    stride = len(placed)
    by_byte: dict[int, Expr] = {}
    for kk, off, e in placed:
        # within a chunk the wrap guard covers `kk - k_first < stride`; positions must tile the stride
        position = kk - k_first + off - off_first
        if not 0 <= kk - k_first < stride or position in by_byte:
            raise _NoMatch
        by_byte[position] = e
    if sorted(by_byte) != list(range(stride)) or ivs[address_iv] != stride or 16 % stride:
        raise _NoMatch
    # every other written local: an IV, an accumulator, or a temporary nothing reads before writing
    reductions = []
    for x in sorted(written):
        if x in ivs:
            continue
        if x not in state:
            raise _NoMatch
        reads_itself = x in _leaves(state[x], set())
        if reads_itself:
            reductions.append(_reduction(x, state[x], by_byte, invariant))
    accumulators = {r.local for r in reductions}
    exprs = list(state.items()) + [(-1, cond_expr)]
    for x, e in exprs:
        used = _leaves(e, set()) & written
        allowed = {x} if x in ivs else ({x} | set(ivs) if x in accumulators else set(ivs))
        if used - allowed:
            raise _NoMatch  # an IV fed by another local, an accumulator feeding anything, a live-in temporary
    if not reductions:
        raise _NoMatch
    return ByteLoop(k, tuple(sorted(ivs.items())), address_iv, tuple(sorted(base.elements(), key=repr)),
                    k_first & 0xFFFFFFFF, off_first, stride, counter, rel, right, tuple(reductions))


def find_byte_loops(body: Body, local_types: Sequence[ValType]) -> list[ByteLoop]:
    """Every loop of `body` that is a byte reduction (see the module docstring)."""
    instrs = body.instrs
    ends = block_ends(instrs)
    out = []
    for k, i in enumerate(instrs):
        if i.op == _LOOP:
            try:
                out.append(_match(instrs, local_types, k, ends))
            except (_NoMatch, KeyError, IndexError):
                continue
    return out


# -- code generation --------------------------------------------------------------------------------


def emit_expr(e: Expr) -> list[Instr]:
    """Instructions computing a load-free expression tree."""
    if e[0] == "get":
        return [ins("local.get", e[1])]
    if e[0] == "const":
        return [ins("i32.const", e[1])]
    if e[0] == "select":
        return emit_expr(e[1]) + emit_expr(e[2]) + emit_expr(e[3]) + [Instr(_SELECT)]
    if e[0] == "load8":
        raise ValueError("emit_expr: loads are not re-emitted")
    out: list[Instr] = []
    for a in e[1:]:
        out += emit_expr(a)
    return out + [Instr(e[0])]


def address(loop: ByteLoop) -> list[Instr]:
    """The i32 address of the current iteration's first byte (without the memarg offset)."""
    out = [ins("local.get", loop.address_iv)]
    for t in loop.address_invariants:
        out += emit_expr(t) + [ins("i32.add")]
    if loop.address_const:
        out += [ins("i32.const", loop.address_const), ins("i32.add")]
    return out


def _guard(loop: ByteLoop, chunk: int) -> list[Instr]:
    """i32: the original loop would run at least `chunk / bytes_per_iteration + 1` more iterations,
    and `chunk` bytes from the current address do not wrap around the address space."""
    x, c = loop.counter, dict(loop.ivs)[loop.counter]
    span = (chunk // loop.bytes_per_iteration) * abs(c)
    get_x, bound = [ins("local.get", x)], emit_expr(loop.bound)
    distance = bound + get_x if c > 0 else get_x + bound
    if loop.bound == ("const", 0) and c < 0:
        distance = get_x  # x - 0
    else:
        distance.append(ins("i32.sub"))
    far = distance + [ins("i32.const", span), ins("i32.gt_u")]
    out = far
    if loop.relation != "ne":
        out = get_x + bound + [ins(f"i32.{loop.relation}")] + out + [ins("i32.and")]
    no_wrap = address(loop) + [ins("i32.const", -chunk), ins("i32.le_u")]
    return out + no_wrap + [ins("i32.and")]


def chunked_prologue(body: Body, loop: ByteLoop, local_types: Sequence[ValType], width: int, copies: int,
                     extra_locals: Sequence[ValType],
                     build: Callable[[int], tuple[list[Instr], list[Instr], Callable[[int], list[Instr]],
                                                  list[Instr]]]) -> Body:
    """`body` with a chunk loop inserted before `loop`; each of its iterations handles `copies` pieces
    of `width` bytes (one guard per `width * copies` bytes).

    `build(first_new_local)` returns (entry condition, setup, piece code, fold-back code), the new
    locals being `extra_locals` numbered from `first_new_local`. The entry condition is and-ed with the
    guard; piece code, called with a memarg offset, reads `width` bytes at `address(loop) + offset`.
    This function adds the guards and advances the induction variables by one chunk of iterations.
    """
    first = len(local_types)
    entry, setup, piece, fold = build(first)
    chunk = width * copies
    iterations = chunk // loop.bytes_per_iteration
    step: list[Instr] = []
    for j in range(copies):
        step += piece(loop.offset + j * width)
    for x, c in loop.ivs:
        step += [ins("local.get", x), ins("i32.const", c * iterations), ins("i32.add"), ins("local.set", x)]
    guard = _guard(loop, chunk)
    code = (guard + entry + [ins("if", EMPTY_BLOCK)] + setup + [ins("loop", EMPTY_BLOCK)] + step
            + guard + [ins("br_if", 0), ins("end")] + fold + [ins("end")])
    k = loop.loop_index
    instrs = list(body.instrs)
    return add_locals(body.with_instrs(instrs[:k] + code + instrs[k:]), extra_locals)
