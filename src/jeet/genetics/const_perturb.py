"""const_perturb: change one reachable constant (i32/i64/f32/f64) in a target function.

The new value is a small step (±1, ±small), a negation, 0 or 1, a power of two, a doubling or
halving, a flipped bit, or another constant of the same type found in the targets. Any value of
the right type keeps the module valid.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence

from jeet.wasm.ir import Body, Instr
from jeet.wasm.types import F32, F64, I32, I64, ValType

from ._ops import CONST_OF, CONST_TYPE
from .operator import Genome, Operator
from .sites import pick_site

__all__ = ["ConstPerturb", "perturb_value", "seen_constants", "set_const"]

_WIDTH = {I32: 32, I64: 64, F32: 32, F64: 64}
_FLOAT_FMT = {F32: ("<f", "<I"), F64: ("<d", "<Q")}


def _wrap(value: int, width: int) -> int:
    value &= (1 << width) - 1
    return value - (1 << width) if value >> (width - 1) else value


def perturb_value(rng: random.Random, vtype: ValType, value: int, seen: Sequence[int] = ()) -> int:
    """A new immediate for a constant of type `vtype` (signed int, or float bit pattern), != value
    unless no other value was found."""
    width = _WIDTH[vtype]
    for _ in range(8):
        new = _int_step(rng, value, width, seen) if vtype in (I32, I64) else _float_step(rng, vtype, value, seen)
        if new is not None and new != value:
            return new
    return value


def _int_step(rng: random.Random, v: int, width: int, seen: Sequence[int]) -> int:
    kind = rng.randrange(11)
    if kind == 0:
        new = v + 1
    elif kind == 1:
        new = v - 1
    elif kind == 2:
        new = v + rng.randint(2, 16) * rng.choice((1, -1))
    elif kind == 3:
        new = -v
    elif kind == 4:
        new = 0
    elif kind == 5:
        new = 1
    elif kind == 6:
        new = 1 << rng.randrange(width)
    elif kind == 7:
        new = v ^ (1 << rng.randrange(width))
    elif kind == 8:
        new = v * 2 if rng.random() < 0.5 else v >> 1
    elif kind == 9:
        new = -1
    else:
        new = rng.choice(seen) if seen else v + 1
    return _wrap(new, width)


def _float_step(rng: random.Random, vtype: ValType, bits: int, seen: Sequence[int]) -> int | None:
    ffmt, ifmt = _FLOAT_FMT[vtype]
    width = _WIDTH[vtype]
    kind = rng.randrange(9)
    if kind == 0:
        return bits ^ (1 << rng.randrange(width))
    if kind == 1:
        return bits ^ (1 << (width - 1))  # negate
    if kind == 2 and seen:
        return rng.choice(seen)
    x = struct.unpack(ffmt, struct.pack(ifmt, bits))[0]
    new = (x + 1, x - 1, 0.0, 1.0, x * 2, x / 2, x + rng.uniform(-4, 4), float(rng.randint(-8, 8)), 0.5)[kind]
    try:
        return struct.unpack(ifmt, struct.pack(ffmt, new))[0]
    except (OverflowError, struct.error):
        return None


def set_const(body: Body, index: int, value: int) -> Body:
    """`body` with the constant at `index` given a new immediate."""
    instrs = list(body.instrs)
    instrs[index] = Instr(instrs[index].op, (value,))
    return body.with_instrs(instrs)


def seen_constants(genome: Genome, vtype: ValType) -> tuple[int, ...]:
    """The constant immediates of type `vtype` in the target bodies (a value once per body)."""
    op = CONST_OF[vtype]
    out: list[int] = []
    bodies = genome.decoded().bodies
    for t in genome.targets:
        out.extend(genome.memo_body("constants", t, lambda: _body_constants(bodies[t])).get(op, ()))
    return tuple(out)


def _body_constants(body: Body) -> dict[int, tuple[int, ...]]:
    seen: dict[int, set[int]] = {}
    for ins in body.instrs:
        if ins.op in CONST_TYPE:
            seen.setdefault(ins.op, set()).add(ins.imm[0])
    return {op: tuple(sorted(vals)) for op, vals in seen.items()}


class ConstPerturb(Operator):
    name = "const_perturb"

    def propose(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        parent = parents[0]
        site = pick_site(parent, rng, "const_sites", CONST_TYPE.keys())
        if site is None:
            return None
        f, k = site
        ins = f.instrs[k]
        vtype = CONST_TYPE[ins.op]
        new = perturb_value(rng, vtype, ins.imm[0], seen_constants(parent, vtype))
        if new == ins.imm[0]:
            return None
        return parent.with_bodies({f.index: set_const(f.body, k, new)}, {f.index: f.infos})
