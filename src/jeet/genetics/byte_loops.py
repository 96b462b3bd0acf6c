"""Byte loops: recognise the loops that walk bytes, so that `chunk_prologue` can do their first
iterations wider (16 bytes with SIMD, 4 or 8 with scalar words) and hand the rest to the original loop.

Two shapes are recognised. A byte reduction is a `loop` (empty block type) whose body, run once
symbolically, only

* advances induction variables by constants (`x = x + c`),
* reads `S` consecutive bytes per iteration with `i32.load8_u` at `invariant + iv + k`, k = 0..S-1,
  where `iv` advances by S,
* folds those bytes into accumulators: `acc += byte` (sum), `acc += (byte == t)` or `!=` (count; also
  `acc += (a[i] == b[i])` over two buffers read in step),
  `acc = max(acc, byte)` / `min` through `select` chains, one-armed `if`s or clang -O0's
  `block <test> br_if 0 <arm> end` (signed or unsigned),
* writes temporaries that no accumulator, induction variable or test reads before the iteration writes
  them (one that keeps its value on some iterations must be dead after the loop),
* reads anything else only at invariant addresses (nothing in the loop stores), e.g. -O0's target byte
  in the stack frame,

and whose only branch is its continuation test on one induction variable: either a final `br_if 0`
(do-while, the shape clang -O2 emits, unrolled or not) or a leading `br_if 1` out of a `block` that
closes right after the loop (while). No stores, calls or globals.

A byte search is a loop with several exits, explored path by path: exactly one path goes round again,
its conditions are one continuation test on an induction variable and byte tests (the bytes of two
buffers are equal, or a byte differs from / equals a target), it only advances induction variables and
writes temporaries, and every exit taken on a byte test has written those temporaries first.

The rewrite that uses what is recognised here is `chunk_prologue`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from jeet.wasm.analysis import block_ends
from jeet.wasm.ir import Body, Instr
from jeet.wasm.opcodes import BY_NAME
from jeet.wasm.types import EMPTY_BLOCK, I32, ValType

from .sites import live_after

__all__ = ["LOAD_KINDS", "ByteLoop", "ExitTest", "Expr", "Reduction", "Stream", "find_byte_loops", "has_load"]

# ("get", local) | ("const", value) | ("load8", address, offset) an i32.load8_u, the bytes a loop walks |
# ("load", address, offset, opcode) another i32 load, allowed at invariant addresses | (opcode, *args)
Expr = tuple
LOAD_KINDS = ("load8", "load")  # the expressions that read memory

_OP = BY_NAME
_GET, _SET, _TEE = _OP["local.get"], _OP["local.set"], _OP["local.tee"]
_CONST, _LOAD8U = _OP["i32.const"], _OP["i32.load8_u"]
_OTHER_LOADS = frozenset(_OP[f"i32.{n}"] for n in ("load", "load8_s", "load16_s", "load16_u"))
_LOOP, _BLOCK, _IF, _ELSE, _END = 0x03, 0x02, 0x04, 0x05, 0x0B
_BR, _BR_IF, _SELECT = 0x0C, 0x0D, 0x1B
_ADD, _SUB, _EQZ = _OP["i32.add"], _OP["i32.sub"], _OP["i32.eqz"]
_EQ, _NE, _AND = _OP["i32.eq"], _OP["i32.ne"], _OP["i32.and"]
_PURE_BINARY = frozenset(_OP[f"i32.{n}"] for n in (
    "add", "sub", "mul", "and", "or", "xor", "shl", "shr_s", "shr_u", "rotl", "rotr",
    "eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u"))
_PURE_UNARY = frozenset((_EQZ, _OP["i32.clz"], _OP["i32.ctz"], _OP["i32.popcnt"]))
_REL = {_OP[f"i32.{n}"]: n for n in ("eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u")}
_NEGATE = {"eq": "ne", "ne": "eq", "lt_s": "ge_s", "ge_s": "lt_s", "lt_u": "ge_u", "ge_u": "lt_u",
           "gt_s": "le_s", "le_s": "gt_s", "gt_u": "le_u", "le_u": "gt_u"}
_SWAP = {"eq": "eq", "ne": "ne", "lt_s": "gt_s", "gt_s": "lt_s", "lt_u": "gt_u", "gt_u": "lt_u",
         "le_s": "ge_s", "ge_s": "le_s", "le_u": "ge_u", "ge_u": "le_u"}


@dataclass(frozen=True)
class Reduction:
    """One accumulator: `kind` is "sum", "count_eq", "count_ne", "max" or "min"; `target` the byte
    compared against (counts of one buffer); `signed` the signedness of the max/min compare."""

    local: int
    kind: str
    target: Expr | None = None
    signed: bool = False
    pair: bool = False  # a count comparing each byte of stream 0 with the same byte of stream 1


@dataclass(frozen=True)
class Stream:
    """The bytes one iteration reads from one buffer: at `(iv + sum(invariants) + const) mod 2^32 + offset`
    and the next `bytes_per_iteration - 1` addresses; `iv` advances by `bytes_per_iteration`."""

    iv: int
    invariants: tuple[Expr, ...]
    const: int
    offset: int


@dataclass(frozen=True)
class ExitTest:
    """An early exit the loop takes on its bytes: it continues only while every byte of `stream` is
    equal to the same byte of `other` ("same"), differs from `target` ("differs") or equals it ("equal")."""

    kind: str
    stream: int = 0
    other: int = 1
    target: Expr | None = None


@dataclass(frozen=True)
class ByteLoop:
    """A recognised loop (see the module docstring): where it starts, how its state advances."""

    loop_index: int  # index of the `loop` instruction in the body
    ivs: tuple[tuple[int, int], ...]  # (local, step per iteration)
    streams: tuple[Stream, ...]
    bytes_per_iteration: int
    counter: int  # local the continuation test reads
    relation: str  # "ne", "lt_s", "lt_u", "gt_s", "gt_u": continue while relation(counter, bound)
    bound: Expr
    reductions: tuple[Reduction, ...] = ()
    exits: tuple[ExitTest, ...] = ()

    @property
    def offset(self) -> int:
        return self.streams[0].offset


class _NoMatch(Exception):
    pass


def _leaves(e: Expr, out: set) -> set:
    if e[0] == "get":
        out.add(e[1])
    elif e[0] == "const":
        pass
    elif e[0] in LOAD_KINDS:
        _leaves(e[1], out)
    else:
        for a in e[1:]:
            _leaves(a, out)
    return out


def has_load(e: Expr) -> bool:
    """Does the expression read memory?"""
    if e[0] in LOAD_KINDS:
        return True
    if e[0] in ("get", "const"):
        return False
    return any(has_load(a) for a in e[1:])


def _loads(e: Expr, out: list) -> list:
    if e[0] in LOAD_KINDS:
        out.append(e)
        _loads(e[1], out)
    elif e[0] not in ("get", "const"):
        for a in e[1:]:
            _loads(a, out)
    return out


def _boolean(e: Expr) -> bool:
    """Is the value 0 or 1 (a compare, `eqz`, or one of those masked with 1)?"""
    if not isinstance(e[0], int):
        return False
    return e[0] in _REL or e[0] == _EQZ or (e[0] == _AND and _boolean(e[1]))


def _binary(op: int, a: Expr, b: Expr) -> Expr:
    """A binary expression, with the masks clang -O0 leaves on values that are already in range
    dropped: `bool & 1` and `load8_u & 255`."""
    if op == _AND and b[0] == "const":
        if (b[1] & 1 and _boolean(a)) or (b[1] & 0xFF == 0xFF and a[0] == "load8"):
            return a
    return (op, a, b)


def _select(a: Expr, b: Expr, c: Expr) -> Expr:
    """`select(a, b, c)` in a normal form: no `eqz` on the condition, equal arms merged, and a
    conditional increment `select(x + 1, x, bool)` written as the sum `x + bool` it is."""
    while isinstance(c[0], int) and c[0] == _EQZ:
        a, b, c = b, a, c[1]
    if a == b:
        return a
    if _boolean(c) and a == (_ADD, b, ("const", 1)):
        return (_ADD, b, c)
    return ("select", a, b, c)


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
            elif op == _LOAD8U or op in _OTHER_LOADS:
                if not stack:
                    raise _NoMatch
                e = ("load8", stack.pop(), i.imm[1]) if op == _LOAD8U else ("load", stack.pop(), i.imm[1], op)
                if not conditional:
                    self.unconditional_loads.add(e)
                stack.append(e)
            elif op in _PURE_BINARY:
                if len(stack) < 2:
                    raise _NoMatch
                b = stack.pop()
                a = stack.pop()
                stack.append(_binary(op, a, b))
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
                stack.append(_select(a, b, c))
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
                self._merge(state, then_state, else_state, cond)
                k = end
            elif op == _BLOCK and i.imm[0] == EMPTY_BLOCK and not stack:
                # `block <test> br_if 0 <arm> end` (how clang -O0 writes `if`): the arm runs when the test is 0
                end = self.ends.get(k)
                j = next((j for j in range(k + 1, end or k) if instrs[j].op in (_BR, _BR_IF, 0x0E, 0x0F)
                          or instrs[j].op in (_BLOCK, _LOOP, _IF)), None)
                if end is None or j is None or instrs[j].op != _BR_IF or instrs[j].imm[0] != 0:
                    raise _NoMatch
                test: list = []
                self.run(k + 1, j, state, test, conditional)  # runs whatever the test says
                if len(test) != 1:
                    raise _NoMatch
                arm_state = dict(state)
                self.run(j + 1, end, arm_state, [], True)
                self._merge(state, state, arm_state, test[0])  # test nonzero: skip the arm
                k = end
            else:
                raise _NoMatch
            k += 1
        if stack and conditional:
            raise _NoMatch

    @staticmethod
    def _merge(state: dict, then_state: dict, else_state: dict, cond: Expr) -> None:
        """After a two-way branch: each local is its then-value when `cond` is nonzero, else its else-value."""
        for x in set(then_state) | set(else_state):
            old = ("get", x) if x not in state else state[x]
            state[x] = _select(then_state.get(x, old), else_state.get(x, old), cond)

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


def _pair_count(acc: int, e: Expr, pairs: dict[int, tuple[Expr, Expr]]) -> Reduction:
    """`acc += (a[k] == b[k])` (or `!=`) for every byte k of the iteration, or _NoMatch."""
    terms = _flatten_add(e, [])
    if ("get", acc) not in terms or len(terms) != len(pairs) + 1:
        raise _NoMatch
    ops, seen = set(), []
    for t in terms:
        if t == ("get", acc):
            continue
        if not (isinstance(t[0], int) and t[0] in (_EQ, _NE)):
            raise _NoMatch
        ops.add(t[0])
        seen.append(frozenset((t[1], t[2])))
    if len(ops) != 1 or Counter(seen) != Counter(frozenset(p) for p in pairs.values()):
        raise _NoMatch
    return Reduction(acc, "count_eq" if ops.pop() == _EQ else "count_ne", pair=True)


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


def _counter(rel: str, left: Expr, right: Expr, ivs: dict[int, int], state: dict,
             invariant: Callable[[Expr], bool]) -> tuple[int, str, Expr]:
    """(counter local, relation, bound) of a continuation test relation(left, right) that compares an
    IV (or its next value) with an invariant bound."""
    if not invariant(right):
        rel, left, right = _SWAP.get(rel, rel), right, left
    counter = None
    for x in ivs:
        if left in (("get", x), state.get(x)) and invariant(right):
            counter = x
    if counter is None or rel not in ("ne", "lt_s", "lt_u", "gt_s", "gt_u"):
        raise _NoMatch
    c = ivs[counter]
    if (rel[:2] == "lt" and c < 0) or (rel[:2] == "gt" and c > 0) or abs(c) > 1 << 16:
        raise _NoMatch
    return counter, rel, right


def _streams(load_exprs: set, ivs: dict[int, int],
             invariant: Callable[[Expr], bool]) -> tuple[list[tuple[Stream, dict[int, Expr]]], int]:
    """Group the byte loads by buffer; each buffer's loads must tile `stride` consecutive bytes at its
    address IV (which advances by the stride). Returns [(stream, position -> load)], stride."""
    groups: dict[tuple, list] = {}
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
        key = (ivs_here[0], tuple(sorted(others.elements(), key=repr)))
        # (K as signed, memarg offset, load): the byte is at (sum + K) mod 2^32 + offset
        groups.setdefault(key, []).append((const - (1 << 32) if const >= 1 << 31 else const, e[2], e))
    strides = {len(placed) for placed in groups.values()}
    if len(strides) != 1:
        raise _NoMatch
    stride = strides.pop()
    out = []
    for (iv, invariants), placed in sorted(groups.items(), key=repr):
        k_first, off_first, _ = min(placed, key=lambda t: (t[0], t[1]))
        by_byte: dict[int, Expr] = {}
        for kk, off, e in placed:
            # within a chunk the wrap guard covers `kk - k_first < stride`; positions must tile the stride
            position = kk - k_first + off - off_first
            if not 0 <= kk - k_first < stride or position in by_byte:
                raise _NoMatch
            by_byte[position] = e
        if sorted(by_byte) != list(range(stride)) or ivs[iv] != stride or 16 % stride:
            raise _NoMatch
        out.append((Stream(iv, invariants, k_first & 0xFFFFFFFF, off_first), by_byte))
    return out, stride


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
        if len(stack) != 1:
            raise _NoMatch
        cond_expr, negate = stack.pop(), True
        ev.run(j + 1, end - 1, state, stack, False)
        if stack:
            raise _NoMatch
    else:
        raise _NoMatch
    written = ev.written
    rel, left, right = _continuation(cond_expr, negate)

    def invariant(e: Expr) -> bool:
        """The same value every iteration: no written local, and loads only at such addresses (nothing in
        the loop stores) that every iteration reads anyway (so the prologue may read them too)."""
        return not (_leaves(e, set()) & written) and all(x in ev.unconditional_loads for x in _loads(e, []))

    ivs = {x: c for x in written if x in state and (c := _step(state[x], x)) is not None and c != 0}
    counter, rel, right = _counter(rel, left, right, ivs, state, invariant)
    # byte loads: one per byte of the stride, at invariant + address IV + k (other loads: invariants)
    load_exprs = set()
    for x, e in state.items():
        load_exprs.update(_loads(e, []))
    load_exprs.update(_loads(cond_expr, []))
    if not load_exprs <= ev.unconditional_loads:
        raise _NoMatch
    load_exprs = {e for e in load_exprs if not invariant(e)}
    if not load_exprs or any(e[0] != "load8" for e in load_exprs):
        raise _NoMatch  # the bytes walked are i32.load8_u; any other load must be invariant
    streams, stride = _streams(load_exprs, ivs, invariant)
    if len(streams) == 1:
        by_byte = streams[0][1]

        def reduction(x: int, e: Expr) -> Reduction:
            return _reduction(x, e, by_byte, invariant)
    elif len(streams) == 2:  # two buffers compared byte by byte
        pairs = {k: (streams[0][1][k], streams[1][1][k]) for k in streams[0][1]}

        def reduction(x: int, e: Expr) -> Reduction:
            return _pair_count(x, e, pairs)
    else:
        raise _NoMatch
    # every other written local: an IV, an accumulator, or a temporary no IV, accumulator or test reads
    # before the iteration writes it. A temporary that keeps its value on some iterations (it reads
    # itself) must be dead after the loop: the chunks skip the iterations that would have set it.
    reductions = []
    live = live_after(instrs, end + 1)
    for x in sorted(written):
        if x in ivs:
            continue
        if x in _leaves(state[x], set()):
            try:
                reductions.append(reduction(x, state[x]))
            except _NoMatch:
                if x in live:
                    raise
    accumulators = {r.local for r in reductions}
    for x, e in list(state.items()) + [(-1, cond_expr)]:
        used = _leaves(e, set()) & written
        if x in ivs:
            allowed = {x}
        elif x in accumulators:
            allowed = {x} | set(ivs)
        elif x == -1:
            allowed = set(ivs)
        else:
            continue  # a temporary may read anything
        if used - allowed:
            raise _NoMatch  # an IV fed by another local, an accumulator fed by anything but bytes
    if not reductions:
        raise _NoMatch
    return ByteLoop(k, tuple(sorted(ivs.items())), tuple(st for st, _ in streams), stride, counter, rel, right,
                    tuple(reductions))


# -- loops with early exits on their bytes -----------------------------------------------------------

_MAX_PATHS = 16


@dataclass
class _Path:
    """One way through a loop body: the branch conditions taken (expression, truth), the locals
    written, and whether it goes round again ("continue") or leaves the loop ("exit")."""

    conds: list
    state: dict
    outcome: str


def _paths(instrs: Sequence[Instr], local_types: Sequence[ValType], ends: dict[int, int], k: int) -> list[_Path]:
    """Every path through the body of the loop at `k` (at most _MAX_PATHS), symbolically."""
    loop_end = ends[k]
    out: list[_Path] = []
    ev = _Eval(instrs, local_types, ends)

    def walk(pos: int, state: dict, stack: list, conds: list, ctrl: list) -> None:
        while True:
            if len(out) >= _MAX_PATHS:
                raise _NoMatch
            i = instrs[pos]
            op = i.op
            if op == _IF or op == _BLOCK:
                if i.imm[0] != EMPTY_BLOCK or (op == _IF and len(stack) != 1) or (op == _BLOCK and stack):
                    raise _NoMatch
                end = ends[pos]
                if op == _BLOCK:
                    ctrl = ctrl + [end]
                    pos += 1
                    continue
                cond = stack.pop()
                els = next((j for j in range(pos + 1, end) if instrs[j].op == _ELSE and ev._depth(pos, j) == 1), None)
                walk(pos + 1, dict(state), [], conds + [(cond, True)], ctrl + [end])
                if els is not None:
                    walk(els + 1, dict(state), [], conds + [(cond, False)], ctrl + [end])
                else:
                    walk(end + 1, dict(state), [], conds + [(cond, False)], ctrl)
                return
            if op == _ELSE:  # the end of a then-arm: on past the if
                pos, ctrl = ctrl[-1] + 1, ctrl[:-1]
                continue
            if op == _END:
                if stack:
                    raise _NoMatch
                if pos == loop_end:
                    out.append(_Path(conds, state, "exit"))
                    return
                pos, ctrl = pos + 1, ctrl[:-1]
                continue
            if op in (_BR, _BR_IF):
                cond = stack.pop() if op == _BR_IF and stack else None
                if stack or (op == _BR_IF and cond is None):
                    raise _NoMatch
                label = i.imm[0]
                taken = conds + [(cond, True)] if cond is not None else conds
                if label == len(ctrl):
                    out.append(_Path(taken, dict(state), "continue"))
                elif label > len(ctrl):
                    out.append(_Path(taken, dict(state), "exit"))
                else:  # forward to the end of an inner block
                    target = len(ctrl) - 1 - label
                    walk(ctrl[target] + 1, dict(state), [], taken, ctrl[:target])
                if cond is None:
                    return
                conds = conds + [(cond, False)]
                pos += 1
                continue
            if op in (0x0F, 0x00):  # return, unreachable
                out.append(_Path(conds, state, "exit"))
                return
            ev.run(pos, pos + 1, state, stack, False)  # straight-line code (raises on anything else)
            pos += 1

    walk(k + 1, {}, [], [], [])
    return out


def _data_test(e: Expr, truth: bool, invariant: Callable[[Expr], bool]) -> tuple[str, Expr, Expr | None]:
    """A byte test the loop continues on: ("same", load, other load) | ("differs"/"equal", load, target)."""
    while e[0] == _EQZ:
        e, truth = e[1], not truth
    if isinstance(e[0], int) and e[0] in (_EQ, _NE):
        a, b = e[1], e[2]
        when_equal = (e[0] == _EQ) == truth
    else:
        a, b, when_equal = e, ("const", 0), not truth
    if a[0] != "load8":
        a, b = b, a
    if a[0] != "load8":
        raise _NoMatch
    if b[0] == "load8":
        if not when_equal:
            raise _NoMatch
        return "same", a, b
    if not invariant(b):
        raise _NoMatch
    return ("equal" if when_equal else "differs"), a, b


def _match_exits(instrs: Sequence[Instr], local_types: Sequence[ValType], k: int, ends: dict[int, int]) -> ByteLoop:
    if instrs[k].imm[0] != EMPTY_BLOCK:
        raise _NoMatch
    paths = _paths(instrs, local_types, ends, k)
    cont = [p for p in paths if p.outcome == "continue"]
    if len(cont) != 1:
        raise _NoMatch
    path = cont[0]
    written = set().union(*(p.state for p in paths))

    def invariant(e: Expr) -> bool:
        return not has_load(e) and not (_leaves(e, set()) & written)

    ivs = {x: c for x, e in path.state.items() if (c := _step(e, x)) is not None and c != 0}
    counter_tests = [(e, t) for e, t in path.conds if not has_load(e)]
    data_tests = [(e, t) for e, t in path.conds if has_load(e)]
    if len(counter_tests) != 1 or not data_tests:
        raise _NoMatch
    e, truth = counter_tests[0]
    counter, rel, bound = _counter(*_continuation(e, not truth), ivs, path.state, invariant)
    loads: set = set()
    for e in list(path.state.values()) + [e for e, _ in path.conds]:
        loads.update(_loads(e, []))
    streams, stride = _streams(loads, ivs, invariant)
    position = {}
    for j, (_, by_byte) in enumerate(streams):
        for pos, load in by_byte.items():
            position[load] = (j, pos)
    tests = set()
    covered = set()
    for e, truth in data_tests:
        kind, a, b = _data_test(e, truth, invariant)
        ja, pa = position[a]
        if kind == "same":
            jb, pb = position[b]
            if pa != pb or ja == jb:
                raise _NoMatch
            tests.add(ExitTest("same", min(ja, jb), max(ja, jb)))
            covered.update({(ja, pa), (jb, pb)})
        else:
            tests.add(ExitTest(kind, ja, ja, b))
            covered.add((ja, pa))
    # one kind of test, covering every byte every iteration reads
    if len(tests) != 1 or covered != set(position.values()):
        raise _NoMatch
    # temporaries: not read before written on the way round, and written before any exit on the bytes
    # (an exit in the first iteration after the chunks must see them as the original would)
    temps = written - set(ivs)
    for x, e in list(path.state.items()) + [(-1, e) for e, _ in path.conds]:
        allowed = {x} if x in ivs else set(ivs)
        if (_leaves(e, set()) & written) - allowed:
            raise _NoMatch
    for p in paths:
        if p.outcome == "exit" and any(has_load(e) for e, _ in p.conds) and not temps <= set(p.state):
            raise _NoMatch
    if not temps <= set(path.state):
        raise _NoMatch
    return ByteLoop(k, tuple(sorted(ivs.items())), tuple(st for st, _ in streams), stride, counter, rel,
                    bound, (), tuple(tests))


def find_byte_loops(body: Body, local_types: Sequence[ValType]) -> list[ByteLoop]:
    """Every loop of `body` that is a byte reduction or a byte search (see the module docstring)."""
    instrs = body.instrs
    ends = block_ends(instrs)
    chunked = _chunked(instrs, ends)
    out = []
    for k, i in enumerate(instrs):
        if i.op == _LOOP and k not in chunked:
            for match in (_match, _match_exits):
                try:
                    out.append(match(instrs, local_types, k, ends))
                    break
                except (_NoMatch, KeyError, IndexError):
                    continue
    return out


def _chunked(instrs: Sequence[Instr], ends: dict[int, int]) -> set[int]:
    """Loops that already have a chunk prologue: right after an `if` holding a `loop` (as
    `chunked_prologue` builds it). A second prologue would find nothing left to do."""
    out = set()
    for start, end in ends.items():
        if instrs[start].op == _IF and end + 1 < len(instrs) and instrs[end + 1].op == _LOOP \
                and any(i.op == _LOOP for i in instrs[start:end]):
            out.add(end + 1)
    return out
