"""Unsigned upper bounds of the integers a body computes: the range facts a rewrite needs to drop a modulo.

`Bounds(facts).value(p)` bounds the unsigned value instruction p pushes, for every input and every
path. It follows producers through the stack (`flow.simulate`) and locals: a local's bound is the
largest bound of anything the body writes to it (its start value, 0, included; a parameter has none).
A value that depends on itself through a local (a loop's running sum) has no bound but the type's
(the fixpoint widens it), unless an operation bounds it again: `(a + byte) %u 65521` is at most 65520 however `a` was made.

    i32.const c  -> c            load8_u -> 255          load16_u -> 65535      i64.load32_u -> 2^32 - 1
    a + b        -> a + b        a * b   -> a * b        (the type's bound when the sum could wrap)
    a & b        -> min(a, b)    a | b, a ^ b -> all ones up to the higher one's top bit
    a >>u k      -> a >> k       a << k  -> a << k       a %u b -> min(a, b - 1)       a /u b -> a
    comparisons  -> 1            clz, ctz, popcnt -> width        select -> max      wrap, extend_u
Anything else (block results, calls, signed operations) is bounded by its type only.
"""

from __future__ import annotations

from collections import defaultdict

from jeet.wasm.opcodes import OPCODES

from ._ops import LOCAL_GET, LOCAL_SET, LOCAL_TEE
from ._rewrite import WIDTH, unsigned
from .flow import simulate
from .sites import Facts

__all__ = ["Bounds"]

# rounds of narrowing after the widening: a widened checksum comes back to its modulus in one
NARROWING_ROUNDS = 3

_COMPARE = frozenset(("eqz", "eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u"))
_LOADS = {"i32.load8_u": 0xFF, "i64.load8_u": 0xFF, "i32.load16_u": 0xFFFF, "i64.load16_u": 0xFFFF,
          "i64.load32_u": 0xFFFF_FFFF}


class Bounds:
    """Upper bounds of one body's unsigned integer values: a fixpoint over the locals, widened to the
    type's bound for a local whose bound still grows after three rounds (a running sum), then narrowed
    (a widened `a = (a + byte) %u d` is again below d)."""

    def __init__(self, f: Facts) -> None:
        self.f = f
        self.flow = simulate(f.instrs, f.infos)
        writes: dict[int, list[int]] = defaultdict(list)
        for k, ins in enumerate(f.instrs):
            if ins.op in (LOCAL_SET, LOCAL_TEE) and f.infos[k].reachable:
                writes[ins.imm[0]].append(self.flow.operands[k][0])
        tops = [(1 << WIDTH[t]) - 1 if t in WIDTH else None for t in f.local_types]
        # a caller's argument is bounded by its type only; a declared local starts at 0
        self._locals: list[int | None] = [t if i < len(f.params) else (None if t is None else 0)
                                          for i, t in enumerate(tops)]
        grew: dict[int, int] = defaultdict(int)
        changed = True
        while changed:  # upward: each local's bound only grows, and at most three times before it widens
            self._values, changed = self._pass(), False
            for i, ws in writes.items():
                new = self._written(ws, tops[i])
                if new is not None and new > self._locals[i]:
                    grew[i] += 1
                    self._locals[i] = tops[i] if grew[i] > 2 else new
                    changed = True
        for _ in range(NARROWING_ROUNDS):  # downward: from a sound bound, what the writes give is sound too
            narrowed = False
            for i, ws in writes.items():
                new = self._written(ws, tops[i])
                if new is not None and new < self._locals[i]:
                    self._locals[i], narrowed = new, True
            if not narrowed:
                break
            self._values = self._pass()

    def _written(self, producers: list[int], top: int | None) -> int | None:
        return None if top is None else max(self._values.get(w, top) for w in producers)

    def value(self, p: int) -> int | None:
        """The bound of what instruction p pushes; None when it pushes no integer (or p < 0: from outside)."""
        return self._values.get(p)

    def local(self, index: int) -> int | None:
        """The bound of local `index` wherever it is read; None when it holds no integer."""
        return self._locals[index]

    def _pass(self) -> dict[int, int]:
        """Every reachable integer value's bound, in order (producers come before their consumers)."""
        values: dict[int, int] = {}
        infos = self.f.infos
        for p in range(len(self.f.instrs)):
            pushes = infos[p].pushes
            if infos[p].reachable and len(pushes) == 1 and pushes[0] in WIDTH:
                top = (1 << WIDTH[pushes[0]]) - 1
                values[p] = min(self._compute(p, top, values), top)
        return values

    def _compute(self, p: int, top: int, values: dict[int, int]) -> int:
        ins = self.f.instrs[p]
        if ins.op == LOCAL_GET:
            return self._locals[ins.imm[0]]
        ops = self.flow.operands[p]
        if ins.op == LOCAL_TEE:
            return values.get(ops[0], top)
        name = OPCODES[ins.op].name if ins.op in OPCODES else ""
        kind = name.partition(".")[2]
        if kind == "const":
            return unsigned(ins.imm[0], self.f.infos[p].pushes[0])
        if name in _LOADS:
            return _LOADS[name]
        if kind in _COMPARE:
            return 1
        if kind in ("clz", "ctz", "popcnt"):
            return top.bit_length()
        if name == "select":
            return max(values.get(ops[0], top), values.get(ops[1], top))
        if name == "i32.wrap_i64":
            return values.get(ops[0], top)
        if name == "i64.extend_i32_u":
            return values.get(ops[0], 0xFFFF_FFFF)
        if len(ops) != 2:
            return top
        a, b = values.get(ops[0], top), values.get(ops[1], top)
        if kind == "add":
            return a + b if a + b <= top else top
        if kind == "mul":
            return a * b if a * b <= top else top
        if kind == "and":
            return min(a, b)
        if kind in ("or", "xor"):
            return (1 << max(a, b).bit_length()) - 1
        if kind == "rem_u":
            return min(a, b - 1) if b > 0 else a
        if kind == "div_u":
            return a
        shift = self._constant(ops[1])
        if kind == "shr_u":
            return a >> (shift % top.bit_length()) if shift is not None else a
        if kind == "shl" and shift is not None:
            shifted = a << (shift % top.bit_length())
            return shifted if shifted <= top else top
        return top

    def _constant(self, p: int) -> int | None:
        if p < 0:
            return None
        ins = self.f.instrs[p]
        if ins.op in OPCODES and OPCODES[ins.op].name in ("i32.const", "i64.const"):
            return unsigned(ins.imm[0], self.f.infos[p].pushes[0])
        return None
