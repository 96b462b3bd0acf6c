"""select_to_if: a `select` with an expensive arm into a branch that evaluates only the arm it needs.

    A B c select   ->   c if (result t) A else B end

A and B must be straight-line and free of effects and traps (after the rewrite only one of them
runs; a division by a constant other than 0 and -1 cannot trap); c must not write anything (it now runs
before them). A select is worth a branch only when an arm costs more than a mispredicted branch would;
`COST_THRESHOLD` says how much that is for the operator's proposals. `branchy` turns every select into a
branch whatever its arms cost, for the native-time race to judge: a branch the machine predicts well
costs less than the cheapest arm.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from jeet.wasm.opcodes import OPCODES
from jeet.wasm.types import blocktype_of_valtype

from ._ops import LOCAL_SET, LOCAL_TEE
from ._rewrite import CONTROL, PURE, I, const_of, everywhere, expression_start, rewrite_one_site, signed
from .operator import Genome, Operator
from .sites import Facts

__all__ = ["SelectToIf", "Choice", "find_choices", "arm_cost", "to_branch", "branchy"]

SELECT = 0x1B
# A select of `c ? 3n + 1 : n / 2` (cost 4) measured 1.9x slower as a branch under Cranelift: the
# branch must save more than a mispredict costs, so only arms worth two multiplies and more qualify.
COST_THRESHOLD = 8
_COST = {"int_mul": 3, "float_div_sqrt": 12, "bitcount": 2, "float_arith": 2, "convert": 2}
_FREE = {"const", "local", "global", "parametric", "nop"}
_WRITERS = {"store", "memory", "table", "call", "control"}
_NUMERIC = {0x7F, 0x7E, 0x7D, 0x7C}


@dataclass(frozen=True, slots=True)
class Choice:
    """A select at `at` whose operands are computed by [a, b), [b, c) and [c, at)."""

    a: int
    b: int
    c: int
    at: int


def arm_cost(instrs, start: int, stop: int) -> int:
    """A rough price of evaluating instrs[start:stop]: leaves are free, multiplies and float
    divisions dear."""
    cost = 0
    for k in range(start, stop):
        cls = OPCODES[instrs[k].op].cls
        if cls not in _FREE:
            cost += _COST.get(cls, 1)
    return cost


def _no_writes(instrs, start: int, stop: int) -> bool:
    for k in range(start, stop):
        op = instrs[k].op
        if op in (LOCAL_SET, LOCAL_TEE) or op in CONTROL or op == 0x24 or OPCODES[op].cls in _WRITERS:
            return False
    return True


def _pure(f: Facts, k: int) -> bool:
    """Whether instrs[k] may run or not with nothing observable: a pure instruction, or a division by a
    constant that cannot trap (not 0; not -1, which overflows a signed division of the minimum)."""
    ins = f.instrs[k]
    if ins.op in PURE:
        return True
    if OPCODES[ins.op].cls != "int_div" or k == 0:
        return False
    known = const_of(f.instrs, k - 1, len(f.params))
    return known is not None and signed(known[1], known[0]) not in (0, -1)


def find_choices(f: Facts, threshold: int = COST_THRESHOLD) -> tuple[Choice, ...]:
    instrs, infos = f.instrs, f.infos
    out = []
    for k, ins in enumerate(instrs):
        if ins.op != SELECT or not f.live[k] or infos[k].pushes[0] not in _NUMERIC:
            continue
        h = infos[k].height
        c = expression_start(instrs, infos, k, h - 1)
        b = expression_start(instrs, infos, c, h - 2) if c is not None else None
        a = expression_start(instrs, infos, b, h - 3) if b is not None else None
        if a is None:
            continue
        if not all(_pure(f, j) for j in range(a, c)) or not _no_writes(instrs, c, k):
            continue
        if max(arm_cost(instrs, a, b), arm_cost(instrs, b, c)) >= threshold:
            out.append(Choice(a, b, c, k))
    return tuple(out)


def to_branch(f: Facts, ch: Choice):
    instrs = f.instrs
    vtype = f.infos[ch.at].pushes[0]
    new = (list(instrs[:ch.a]) + list(instrs[ch.c:ch.at]) + [I("if", blocktype_of_valtype(vtype))]
           + list(instrs[ch.a:ch.b]) + [I("else")] + list(instrs[ch.b:ch.c]) + [I("end")]
           + list(instrs[ch.at + 1:]))
    return f.body.with_instrs(new)


class SelectToIf(Operator):
    name = "select_to_if"

    def propose(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        return rewrite_one_site(parents[0], rng, "costly_selects", find_choices, to_branch)


def branchy(genome: Genome) -> Genome | None:
    """`genome` with every select whose arms may be skipped turned into a branch (the last first, so the
    outer choice of a nested pair is converted while its inner one is still a select), or None when there
    is none: the inverse of `if_convert.branch_free`."""
    return everywhere(genome, lambda f: find_choices(f, threshold=0), to_branch,
                      lambda found: max(found, key=lambda ch: ch.at))
