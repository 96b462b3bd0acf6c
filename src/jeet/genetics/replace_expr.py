"""replace_expr: replace an expression of type T by `local.get k`, a constant, or `local.get k; unop`.

An expression is a run that consumes nothing below its start and leaves exactly one more value, of
type T (`local.get 0 i32.const 1 i32.add`, an `i32.load` with its address, a lone `local.get`).
Any instruction sequence with that effect can stand in its place. The unary forms (popcnt, clz,
ctz, eqz for i32; popcnt, clz, ctz for i64; abs, neg, sqrt, rounding for floats) let a whole
computation collapse into one instruction: the final read of a bit-count loop's counter can
become `local.get 0; i32.popcnt`, after which delete_run can drop the loop.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from jeet.wasm.ir import Body, Instr
from jeet.wasm.types import F32, F64, I32, I64, ValType

from ._ops import CONST_OF, LOCAL_GET, UNARY_SAME_TYPE
from .const_perturb import seen_constants
from .operator import Genome, Operator
from .retype import pushed_value
from .runs import expressions, prefer_short
from .sites import start_sites

__all__ = ["ReplaceExpr", "replace", "replacement"]

ATTEMPTS = 16
_BASIC_CONSTS: dict[ValType, tuple[int, ...]] = {
    I32: (0, 1, -1), I64: (0, 1, -1),
    F32: (0x00000000, 0x3F800000), F64: (0x0000000000000000, 0x3FF0000000000000),
}


def replace(body: Body, i: int, j: int, new: Sequence[Instr]) -> Body:
    """`body` with instructions [i, j) replaced by `new`."""
    ins = body.instrs
    return body.with_instrs(ins[:i] + tuple(new) + ins[j:])


def replacement(rng: random.Random, vtype: ValType, local_types: Sequence[ValType],
                seen_consts: Sequence[int] = ()) -> tuple[Instr, ...]:
    """A short instruction sequence that pushes one value of type `vtype` and touches nothing else."""
    same = [k for k, t in enumerate(local_types) if t == vtype]
    kind = rng.random()
    if same and kind < 0.45:
        return (Instr(LOCAL_GET, (rng.choice(same),)),)
    if same and kind < 0.75:
        return (Instr(LOCAL_GET, (rng.choice(same),)), Instr(rng.choice(UNARY_SAME_TYPE[vtype])))
    pool = _BASIC_CONSTS[vtype] + tuple(seen_consts)
    return (Instr(CONST_OF[vtype], (rng.choice(pool),)),)


class ReplaceExpr(Operator):
    name = "replace_expr"

    def propose(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        parent = parents[0]
        for f, i in start_sites(parent, rng, ATTEMPTS):
            found = expressions(f.instrs, f.infos, f.ends, i)
            if not found:
                continue
            j, vtype = found[prefer_short(rng, len(found))]
            if vtype not in CONST_OF:
                continue
            old = f.instrs[i:j]
            seen = seen_constants(parent, vtype)
            for _ in range(3):
                new = replacement(rng, vtype, f.local_types, seen)
                if new != old:
                    infos = f.infos[:i] + tuple(pushed_value(new, f.infos[i], f.local_types)) + f.infos[j:]
                    return parent.with_bodies({f.index: replace(f.body, i, j, new)}, {f.index: infos})
        return None

