"""idiom_rotate: shift-or patterns into `rotl` / `rotr`.

    (x << k) | (x >>u (W - k))        ->  x rotl k        (also with ^ or + in place of |)
    (x >>u k) | (x << (W - k))        ->  x rotr k
    (x << n) | (x >>u (W - n))        ->  x rotl n        (any n: shifts count modulo W)

The halves are matched on what they compute, through locals (clang -O0 passes every value through
a temporary), within one straight-line stretch. When both halves are one run of pure code right
before the `or`, the run is replaced; otherwise the `or` becomes `drop drop local.get x k rotl`
and the halves are left for the compiler (or delete_run) to remove.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from jeet.wasm.ir import Instr
from jeet.wasm.opcodes import BY_NAME
from jeet.wasm.types import I32, I64, ValType

from ._rewrite import CONTROL, PURE, WIDTH, I, expression_start, rewrite_one_site
from ._symbolic import State, step
from .operator import Genome, Operator
from .sites import Facts

__all__ = ["IdiomRotate", "Rotate", "find_rotates", "rewrite"]

_SHR_U = frozenset((BY_NAME["i32.shr_u"], BY_NAME["i64.shr_u"]))
_JOIN = {f"{t}.{o}": vt for t, vt in (("i32", I32), ("i64", I64)) for o in ("or", "xor", "add")}


@dataclass(frozen=True, slots=True)
class Rotate:
    """The join at `at` rotates local `x` (type `vtype`) by constant `amount`, or by local `by`."""

    at: int
    start: int  # the pure run computing both halves, or -1 when they are spread out
    x: int
    vtype: ValType
    left: bool
    amount: int
    by: int = -1


def _holder(state: State, tree: tuple, candidates) -> int | None:
    """A local whose current value is `tree`."""
    for u in candidates:
        if state.local(u) == tree:
            return u
    return None


def _match(a: tuple, b: tuple, t: str, w: int):
    """(value, left, amount tree) when a | b is a rotation of value (a rotr when a is the right shift)."""
    for lo, hi, first in ((a, b, True), (b, a, False)):
        if lo[0] != f"{t}.shl" or hi[0] != f"{t}.shr_u" or lo[1] != hi[1]:
            continue
        x = lo[1]
        p, q = lo[2], hi[2]
        if p[0] == "const" and q[0] == "const":
            if (p[2] % w) and (p[2] % w) + (q[2] % w) == w:
                return (x, True, p) if first else (x, False, q)
        elif q[0] == f"{t}.sub" and q[1] == ("const", q[1][1], w) and q[2] == p:
            return x, True, p
        elif p[0] == f"{t}.sub" and p[1] == ("const", p[1][1], w) and p[2] == q:
            return x, False, q
    return None


def find_rotates(f: Facts) -> tuple[Rotate, ...]:
    instrs, infos = f.instrs, f.infos
    if not any(ins.op in _SHR_U for ins in instrs):  # no shift right: nothing to find
        return ()
    out = []
    state = State([], {})
    nlocals = len(f.local_types)
    for k, ins in enumerate(instrs):
        info = infos[k]
        if ins.op in CONTROL or not info.reachable:
            state = State([], {})
            continue
        name = ins.name
        if name in _JOIN and len(state.stack) >= 2:
            vtype = _JOIN[name]
            t, w = name[:3], WIDTH[vtype]
            hit = _match(state.stack[-2], state.stack[-1], t, w)
            if hit is not None:
                value, left, amount = hit
                x = _holder(state, value, range(nlocals))
                by = -1
                if amount[0] != "const":
                    by = _holder(state, amount, range(nlocals))
                if x is not None and (amount[0] == "const" or by is not None):
                    b = expression_start(instrs, infos, k, info.height - 1)
                    a = expression_start(instrs, infos, b, info.height - 2) if b is not None else None
                    start = a if a is not None and all(instrs[j].op in PURE for j in range(a, k)) else -1
                    n = amount[2] % w if amount[0] == "const" else 0
                    out.append(Rotate(k, start, x, vtype, left, n, by))
        if not step(state, ins):
            del state.stack[max(0, len(state.stack) - len(info.pops)):]
            state.stack.extend([("opaque", k)] * len(info.pushes))
    return tuple(out)


def rewrite(f: Facts, r: Rotate) -> list[Instr]:
    t = "i32" if r.vtype == I32 else "i64"
    amount = I(f"{t}.const", r.amount) if r.by < 0 else I("local.get", r.by)
    rot = [I("local.get", r.x), amount, I(f"{t}.rotl" if r.left else f"{t}.rotr")]
    instrs = list(f.instrs)
    if r.start >= 0:
        return instrs[:r.start] + rot + instrs[r.at + 1:]
    return instrs[:r.at] + [I("drop"), I("drop")] + rot + instrs[r.at + 1:]


class IdiomRotate(Operator):
    name = "idiom_rotate"

    def propose(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        return rewrite_one_site(parents[0], rng, "rotates", find_rotates,
                                lambda f, r: f.body.with_instrs(rewrite(f, r)))
