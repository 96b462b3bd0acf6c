"""STOKE-style stochastic superoptimisation of loop-free windows: the search behind the `stoke` operator.

A window is a run of straight-line integer code inside one block frame (i32/i64 arithmetic, compares,
conversions, constants, locals, `select`, `drop`, `nop`) that never reaches below the operand stack it
started on. Its meaning is a function from the locals it reads to the values it leaves on the stack and
the final values of the locals it writes; a small Python interpreter computes it (a few microseconds per
run, no engine round trip).

The search (Schkufza, Sharma, Aiken: "Stochastic Superoptimization", ASPLOS 2013) is a Markov chain over
rewrites of the window, started from the window itself. Moves: replace an instruction with another of the
same stack signature, change a local operand or a constant, swap two instructions, insert a pair that
keeps the stack shape (a push and a binary operator, or a unary operator), delete such a pair or any
instruction. Proposals that do not type-check are dropped, so every rewrite considered is valid. The cost
of a rewrite is the Hamming distance of its outputs from the window's over the test inputs (weighted), plus
its predicted cost: the sum of a per-class cost table. Moves are accepted by the Metropolis rule. The
cheapest rewrite that matched every test is then checked on a larger fresh set of inputs (special values
and random bits) and kept only if it matches on all of them too.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from jeet.wasm.analysis import InstrInfo
from jeet.wasm.ir import Instr
from jeet.wasm.opcodes import BY_NAME, OPCODES
from jeet.wasm.types import I32, I64, ValType

from .sites import live_after

__all__ = ["COST", "Window", "find_windows", "interpret", "predicted_cost", "search"]

M32, M64 = (1 << 32) - 1, (1 << 64) - 1
_GET, _SET, _TEE = BY_NAME["local.get"], BY_NAME["local.set"], BY_NAME["local.tee"]
_C32, _C64 = BY_NAME["i32.const"], BY_NAME["i64.const"]
_NOP, _DROP, _SELECT = 0x01, 0x1A, 0x1B

# Predicted cost per class: roughly the latency of the machine code Cranelift emits for one instruction.
COST = {"const": 0.25, "local": 0.25, "nop": 0.0, "parametric": 1.0, "int_arith": 1.0, "bitcount": 1.0,
        "convert": 0.5, "int_mul": 3.0, "int_div": 20.0}


class _Trap(Exception):
    pass


def _s(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) else v


def _clz(v: int, bits: int) -> int:
    return bits - v.bit_length()


def _ctz(v: int, bits: int) -> int:
    return bits if v == 0 else (v & -v).bit_length() - 1


def _div_s(a: int, b: int, bits: int) -> int:
    if b == 0:
        raise _Trap
    x, y = _s(a, bits), _s(b, bits)
    if x == -(1 << (bits - 1)) and y == -1:
        raise _Trap
    q = abs(x) // abs(y)
    return (q if (x < 0) == (y < 0) else -q) & ((1 << bits) - 1)


def _rem_s(a: int, b: int, bits: int) -> int:
    if b == 0:
        raise _Trap
    x, y = _s(a, bits), _s(b, bits)
    r = abs(x) % abs(y)
    return (-r if x < 0 else r) & ((1 << bits) - 1)


def _binary(bits: int) -> dict[str, object]:
    m = (1 << bits) - 1

    def divu(a, b):
        if b == 0:
            raise _Trap
        return a // b

    def remu(a, b):
        if b == 0:
            raise _Trap
        return a % b

    return {
        "add": lambda a, b: (a + b) & m, "sub": lambda a, b: (a - b) & m, "mul": lambda a, b: (a * b) & m,
        "div_s": lambda a, b: _div_s(a, b, bits), "div_u": divu, "rem_s": lambda a, b: _rem_s(a, b, bits),
        "rem_u": remu, "and": lambda a, b: a & b, "or": lambda a, b: a | b, "xor": lambda a, b: a ^ b,
        "shl": lambda a, b: (a << (b % bits)) & m, "shr_u": lambda a, b: a >> (b % bits),
        "shr_s": lambda a, b: (_s(a, bits) >> (b % bits)) & m,
        "rotl": lambda a, b: ((a << (b % bits)) | (a >> ((bits - b % bits) % bits))) & m,
        "rotr": lambda a, b: ((a >> (b % bits)) | (a << ((bits - b % bits) % bits))) & m,
        "eq": lambda a, b: int(a == b), "ne": lambda a, b: int(a != b),
        "lt_u": lambda a, b: int(a < b), "gt_u": lambda a, b: int(a > b),
        "le_u": lambda a, b: int(a <= b), "ge_u": lambda a, b: int(a >= b),
        "lt_s": lambda a, b: int(_s(a, bits) < _s(b, bits)), "gt_s": lambda a, b: int(_s(a, bits) > _s(b, bits)),
        "le_s": lambda a, b: int(_s(a, bits) <= _s(b, bits)), "ge_s": lambda a, b: int(_s(a, bits) >= _s(b, bits)),
    }


def _unary(bits: int) -> dict[str, object]:
    m = (1 << bits) - 1
    return {"eqz": lambda a: int(a == 0), "clz": lambda a: _clz(a, bits), "ctz": lambda a: _ctz(a, bits),
            "popcnt": lambda a: a.bit_count(), "extend8_s": lambda a: _s(a & 0xFF, 8) & m,
            "extend16_s": lambda a: _s(a & 0xFFFF, 16) & m, "extend32_s": lambda a: _s(a & M32, 32) & m}


# opcode -> (arity, function) for the pure numeric instructions a window may hold
_SEMANTICS: dict[int, tuple[int, object]] = {}
for _bits, _t in ((32, "i32"), (64, "i64")):
    for _n, _f in _binary(_bits).items():
        _SEMANTICS[BY_NAME[f"{_t}.{_n}"]] = (2, _f)
    for _n, _f in _unary(_bits).items():
        if f"{_t}.{_n}" in BY_NAME:
            _SEMANTICS[BY_NAME[f"{_t}.{_n}"]] = (1, _f)
_SEMANTICS[BY_NAME["i32.wrap_i64"]] = (1, lambda a: a & M32)
_SEMANTICS[BY_NAME["i64.extend_i32_u"]] = (1, lambda a: a)
_SEMANTICS[BY_NAME["i64.extend_i32_s"]] = (1, lambda a: _s(a, 32) & M64)

WINDOW_OPS = frozenset(_SEMANTICS) | {_GET, _SET, _TEE, _C32, _C64, _NOP, _DROP, _SELECT}
_INT = (I32, I64)


def _cost_of(op: int) -> float:
    return COST.get(OPCODES[op].cls, 1.0)


def predicted_cost(instrs: Sequence[Instr]) -> float:
    """The window's predicted cost: its instructions weighted by class."""
    return sum(_cost_of(i.op) for i in instrs)


@dataclass(frozen=True)
class Window:
    """`instrs[start:stop]` of a body: reads `inputs` (locals read before written), leaves `outputs`
    (value types) on the stack above where it started, writes the locals `written`; `live` are the
    locals that may be read after it (a rewrite must leave those as the window does)."""

    start: int
    stop: int
    inputs: tuple[int, ...]
    outputs: tuple[ValType, ...]
    written: tuple[int, ...]
    live: tuple[int, ...] = ()
    loops: int = 0  # loops around the window: one that runs in a loop is worth more


def _typecheck(instrs: Sequence[Instr], local_types: Sequence[ValType], outputs: tuple) -> bool:
    """Does the sequence type-check from an empty stack to exactly `outputs`?"""
    stack: list[ValType] = []
    for i in instrs:
        op = i.op
        if op == _GET:
            stack.append(local_types[i.imm[0]])
        elif op == _SET or op == _TEE:
            if not stack or stack[-1] != local_types[i.imm[0]]:
                return False
            if op == _SET:
                stack.pop()
        elif op == _C32:
            stack.append(I32)
        elif op == _C64:
            stack.append(I64)
        elif op == _NOP:
            pass
        elif op == _DROP:
            if not stack:
                return False
            stack.pop()
        elif op == _SELECT:
            if len(stack) < 3 or stack[-1] != I32 or stack[-2] != stack[-3]:
                return False
            del stack[-2:]
        else:
            pops, pushes = OPCODES[op].sig
            n = len(pops)
            if len(stack) < n or tuple(stack[len(stack) - n:]) != pops:
                return False
            del stack[len(stack) - n:]
            stack.extend(pushes)
    return tuple(stack) == outputs


def interpret(instrs: Sequence[Instr], locals_: list[int], local_types: Sequence[ValType]) -> tuple | None:
    """Run a window on local values (unsigned ints): (stack left, final locals), or None if it traps."""
    stack: list[int] = []
    regs = list(locals_)
    try:
        for i in instrs:
            op = i.op
            if op == _GET:
                stack.append(regs[i.imm[0]])
            elif op == _SET:
                regs[i.imm[0]] = stack.pop()
            elif op == _TEE:
                regs[i.imm[0]] = stack[-1]
            elif op == _C32:
                stack.append(i.imm[0] & M32)
            elif op == _C64:
                stack.append(i.imm[0] & M64)
            elif op == _NOP:
                pass
            elif op == _DROP:
                stack.pop()
            elif op == _SELECT:
                c = stack.pop()
                b = stack.pop()
                a = stack.pop()
                stack.append(a if c else b)
            else:
                arity, f = _SEMANTICS[op]
                if arity == 2:
                    b = stack.pop()
                    stack.append(f(stack.pop(), b))  # type: ignore[operator]
                else:
                    stack.append(f(stack.pop()))  # type: ignore[operator]
    except _Trap:
        return None
    return tuple(stack), regs


def find_windows(instrs: Sequence[Instr], infos: Sequence[InstrInfo], local_types: Sequence[ValType],
                 live: Sequence[bool], min_len: int = 2, max_len: int = 24) -> list[Window]:
    """Maximal windows (cut to `max_len`) of straight-line integer code in one frame."""
    out: list[Window] = []
    loops, kinds = [0] * len(instrs), []
    for k, i in enumerate(instrs):  # loops around each instruction
        loops[k] = kinds.count(0x03)
        if i.op in (0x02, 0x03, 0x04):
            kinds.append(i.op)
        elif i.op == 0x0B and kinds:
            kinds.pop()
    k, n = 0, len(instrs)
    while k < n:
        if instrs[k].op not in WINDOW_OPS or not live[k] or not _int_only(instrs[k], infos[k], local_types):
            k += 1
            continue
        base, depth = infos[k].height, infos[k].depth
        j = k
        while (j < n and j - k < max_len and instrs[j].op in WINDOW_OPS and live[j] and infos[j].depth == depth
               and infos[j].height - len(infos[j].pops) >= base and _int_only(instrs[j], infos[j], local_types)):
            j += 1
        if j - k >= min_len:
            out.append(_window(instrs, infos, local_types, k, j, loops[k]))
        k = max(j, k + 1)
    return out


def _int_only(ins: Instr, info: InstrInfo, local_types: Sequence[ValType]) -> bool:
    return all(t in _INT for t in info.pops + info.pushes)


def _window(instrs, infos, local_types, k: int, j: int, loops: int) -> Window:
    read, written = [], []
    for i in instrs[k:j]:
        if i.op == _GET and i.imm[0] not in written and i.imm[0] not in read:
            read.append(i.imm[0])
        elif i.op in (_SET, _TEE) and i.imm[0] not in written:
            written.append(i.imm[0])
    base = infos[k].height
    after = infos[j].stack  # a window never holds the frame's final `end`, so instruction j exists
    live = live_after(instrs, j)
    return Window(k, j, tuple(read), tuple(after[base:]), tuple(written),
                  tuple(x for x, t in enumerate(local_types) if t in _INT and x in live), loops)


# -- the search --------------------------------------------------------------------------------------

_SPECIAL32 = (0, 1, 2, 3, 0xFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE, 0x55555555, 0x10000)
_SPECIAL64 = (0, 1, 2, 0xFFFFFFFF, 1 << 32, 0x7FFFFFFFFFFFFFFF, 1 << 63, M64)


def _random_value(rng: random.Random, t: ValType, near: Sequence[int] = ()) -> int:
    bits = 32 if t == I32 else 64
    r = rng.random()
    if near and r < 0.15:  # the window's own constants and their neighbours: `x == 12345` must be seen
        return (rng.choice(near) + rng.randrange(-1, 2)) & ((1 << bits) - 1)
    if r < 0.3:
        return rng.choice(_SPECIAL32 if bits == 32 else _SPECIAL64)
    if r < 0.5:
        return rng.randrange(-16, 17) & ((1 << bits) - 1)
    if r < 0.65:
        return (1 << rng.randrange(bits)) & ((1 << bits) - 1)
    return rng.getrandbits(bits)


def _tests(rng: random.Random, local_types, n: int, near: Sequence[int] = ()) -> list[list[int]]:
    """Random values for every integer local (a rewrite may read locals the window does not)."""
    return [[_random_value(rng, t, near) if t in _INT else 0 for t in local_types] for _ in range(n)]


def _outputs(instrs, tests, local_types, keep: tuple[int, ...]) -> list:
    results = []
    for regs in tests:
        r = interpret(instrs, regs, local_types)
        results.append(None if r is None else (r[0], tuple(r[1][x] for x in keep)))
    return results


def _distance(got, want) -> int:
    if want is None:
        return 0 if got is None else 64
    if got is None or len(got[0]) != len(want[0]):
        return 64
    return (sum((a ^ b).bit_count() for a, b in zip(got[0], want[0]))
            + sum((a ^ b).bit_count() for a, b in zip(got[1], want[1])))


def _const_instr(op: int, v: int) -> Instr:
    """A constant instruction with its value wrapped into the type's signed range (as encoded)."""
    bits = 32 if op == _C32 else 64
    v &= (1 << bits) - 1
    return Instr(op, (v - (1 << bits) if v >> (bits - 1) else v,))


class _Moves:
    """Random proposals over a window; every proposal is type-checked before it is scored."""

    def __init__(self, rng: random.Random, window: Window, target: Sequence[Instr], local_types) -> None:
        self.rng = rng
        self.outputs = window.outputs
        self.local_types = local_types
        self.int_locals = {t: [x for x, lt in enumerate(local_types) if lt == t] for t in _INT}
        consts = {i.imm[0] for i in target if i.op in (_C32, _C64)}
        derived = set()
        for c in consts:  # neighbours, complements and logarithms of the window's own constants
            derived.update({c + 1, c - 1, -c, ~c})
            if c > 0 and c & (c - 1) == 0:
                derived.add(c.bit_length() - 1)
        self.constants = sorted(consts | derived | {0, 1, 2, 3, 4, 8, 16, 31, 32, 63, 0xFF, -1})
        groups: dict = {}
        for op in _SEMANTICS:
            info = OPCODES[op]
            if info.cls != "int_div":
                groups.setdefault(info.sig, []).append(op)
        self.same_sig = {op: ops for ops in groups.values() for op in ops}
        self.unary = {t: [op for op in _SEMANTICS if OPCODES[op].sig == ((t,), (t,))] for t in _INT}
        self.binary = {t: [op for op in _SEMANTICS if OPCODES[op].sig == ((t, t), (t,))
                           and OPCODES[op].cls != "int_div"] for t in _INT}

    def _const(self, t: ValType) -> Instr:
        rng = self.rng
        v = rng.choice(self.constants) if rng.random() < 0.7 else rng.getrandbits(8) - 128
        return _const_instr(_C32 if t == I32 else _C64, v)

    def _push(self, t: ValType) -> Instr:
        if self.int_locals[t] and self.rng.random() < 0.5:
            return Instr(_GET, (self.rng.choice(self.int_locals[t]),))
        return self._const(t)

    def propose(self, prog: list[Instr], max_len: int) -> list[Instr] | None:
        rng = self.rng
        new = list(prog)
        kind = rng.randrange(7)
        if not new:
            kind = 4
        if kind == 6:  # a constant and the binary operator after it together (x * 8 -> x << 3 in one step)
            sites = [k for k in range(len(new) - 1) if new[k].op in (_C32, _C64) and new[k + 1].op in self.same_sig]
            if not sites:
                return None
            k = rng.choice(sites)
            new[k] = _const_instr(new[k].op, rng.choice(self.constants))
            new[k + 1] = Instr(rng.choice(self.same_sig[new[k + 1].op]))
        elif kind == 0:  # opcode
            k = rng.randrange(len(new))
            alts = self.same_sig.get(new[k].op)
            if not alts:
                return None
            new[k] = Instr(rng.choice(alts))
        elif kind == 1:  # operand: a local of the same type, or a constant
            k = rng.randrange(len(new))
            i = new[k]
            if i.op in (_GET, _SET, _TEE):
                choices = self.int_locals.get(self.local_types[i.imm[0]], [])
                if not choices:
                    return None
                new[k] = Instr(i.op, (rng.choice(choices),))
            elif i.op in (_C32, _C64):
                r = rng.random()
                v = i.imm[0]
                v = (v + rng.choice((-1, 1)) if r < 0.3 else v << 1 if r < 0.4 else v >> 1 if r < 0.5
                     else self._const(I32).imm[0])
                new[k] = _const_instr(i.op, v)
            else:
                return None
        elif kind == 2:  # swap
            if len(new) < 2:
                return None
            a, b = rng.sample(range(len(new)), 2)
            new[a], new[b] = new[b], new[a]
        elif kind == 3:  # delete one instruction, or a push with the binary operator after it
            k = rng.randrange(len(new))
            if k + 1 < len(new) and OPCODES[new[k + 1].op].sig and len(OPCODES[new[k + 1].op].sig[0]) == 2 \
                    and rng.random() < 0.5:
                del new[k:k + 2]
            else:
                del new[k]
        elif kind == 4:  # insert a unary operator, or a push and a binary operator (same stack shape)
            if len(new) + 2 > max_len:
                return None
            k = rng.randrange(len(new) + 1)
            t = rng.choice(_INT)
            if rng.random() < 0.3:
                new[k:k] = [Instr(rng.choice(self.unary[t]))]
            else:
                new[k:k] = [self._push(t), Instr(rng.choice(self.binary[t]))]
        else:  # replace an instruction by a fresh push or operator
            k = rng.randrange(len(new))
            t = rng.choice(_INT)
            r = rng.random()
            new[k] = self._push(t) if r < 0.4 else Instr(rng.choice(self.binary[t] if r < 0.8 else self.unary[t]))
        if new == prog or not _typecheck(new, self.local_types, self.outputs):
            return None
        return new


@dataclass(frozen=True)
class SearchResult:
    rewrite: tuple[Instr, ...]
    cost: float
    target_cost: float
    proposals: int


def search(window_instrs: Sequence[Instr], window: Window, local_types: Sequence[ValType], rng: random.Random,
           iterations: int = 3000, tests: int = 24, check: int = 400, beta: float = 1.0,
           mismatch_weight: float = 2.0) -> SearchResult | None:
    """MCMC from the window itself; the cheapest rewrite that matches on `tests` random inputs and then on
    `check` fresh ones, if it is cheaper than the window, else None. Cost: about `iterations` interpreter
    runs of the window on `tests` inputs (tens of milliseconds to a second in CPython)."""
    target = list(window_instrs)
    keep = window.live  # a rewrite may write any local: those read later must come out as the window's
    near = sorted({i.imm[0] for i in target if i.op in (_C32, _C64)})
    cases = [t for t in _tests(rng, local_types, tests * 2, near) if interpret(target, t, local_types)]
    cases = cases[:tests]
    if not cases:
        return None
    want = _outputs(target, cases, local_types, keep)
    moves = _Moves(rng, window, target, local_types)
    max_len = max(len(target) + 4, 6)
    target_cost = predicted_cost(target)

    def score(prog: list[Instr]) -> tuple[float, int]:
        got = _outputs(prog, cases, local_types, keep)
        wrong = sum(_distance(g, w) for g, w in zip(got, want))
        return mismatch_weight * wrong + predicted_cost(prog), wrong

    current, (cur_cost, _) = target, score(target)
    best: list[Instr] | None = None
    best_cost = target_cost
    tried = 0
    for _ in range(iterations):
        prop = moves.propose(current, max_len)
        if prop is None:
            continue
        tried += 1
        cost, wrong = score(prop)
        if cost <= cur_cost or rng.random() < math.exp(-beta * (cost - cur_cost)):
            current, cur_cost = prop, cost
            if wrong == 0 and predicted_cost(prop) < best_cost - 1e-9:
                if _verified(prop, target, window, local_types, keep, rng, check, near):
                    best, best_cost = prop, predicted_cost(prop)
    if best is None:
        return None
    best = _pruned(best, want, cases, window, target, local_types, keep, rng, check, near)
    return SearchResult(tuple(best), predicted_cost(best), target_cost, tried)


def _pruned(prog: list[Instr], want, cases, window, target, local_types, keep, rng, check, near) -> list[Instr]:
    """Greedily drop single instructions and adjacent pairs the rewrite does not need (leftovers of the
    chain such as `local.get 1 local.set 1`), keeping only drops that still match and verify."""
    changed = True
    while changed:
        changed = False
        for width in (2, 1):
            for k in range(len(prog) - width + 1):
                cand = prog[:k] + prog[k + width:]
                if (predicted_cost(cand) < predicted_cost(prog) and _typecheck(cand, local_types, window.outputs)
                        and _outputs(cand, cases, local_types, keep) == want
                        and _verified(cand, target, window, local_types, keep, rng, check, near)):
                    prog, changed = cand, True
                    break
            if changed:
                break
    return prog


def _verified(prog, target, window, local_types, keep, rng, n: int, near: Sequence[int]) -> bool:
    fresh = _tests(rng, local_types, n, near)
    # every pair of special values for the first two inputs, as well
    for a in _SPECIAL32[:8]:
        for b in _SPECIAL32[:8]:
            regs = list(fresh[0])
            for x, v in zip(window.inputs, (a, b)):
                regs[x] = v
            fresh.append(regs)
    return _outputs(prog, fresh, local_types, keep) == _outputs(target, fresh, local_types, keep)
