"""if_convert: a small branch diamond into `select`.

    c if (result t) A else B end            ->  c local.set $c  A B  local.get $c  select
    c if A local.set x [else B local.set x] end
                                            ->  c local.set $c  A (B | local.get x)  local.get $c  select  local.set x
    block C br_if 0  A local.set x  end     ->  C local.set $c  local.get x  A  local.get $c  select  local.set x
    block block C br_if 0  A local.set x  br 1  end  B local.set x  end
                                            ->  C local.set $c  B A  local.get $c  select  local.set x
    block C if A local.set x br 1 end  B local.set x  end
                                            ->  C local.set $c  A B  local.get $c  select  local.set x
    block (result t) ... A C br_if 0 drop B end
                                            ->  block (result t) ... A C local.set $c  B  local.get $c  select  end

(the third and fourth are how clang -O0 writes `if (c) x = ...;` and `x = c ? ... : ...;`; the last two
are what `wasm-opt` makes of an early return and of a chain of them, undone one link at a time). The arms
must be cheap, straight-line and free of effects and traps, because after the rewrite both run
whatever `c` is; besides the value they leave (or assign to x) they may only write temporaries
whose values never leave their straight-line stretch. A mispredicted branch costs far more
than a few instructions evaluated for nothing; `select_to_if` is the inverse.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from jeet.wasm.ir import Instr
from jeet.wasm.opcodes import OPCODES
from jeet.wasm.types import EMPTY_BLOCK, I32, ValType, valtype_of_blocktype

from ._ops import BLOCK, BR, BR_IF, DROP, ELSE, IF, LOCAL_SET, LOCAL_TEE
from ._rewrite import CONTROL, PURE, I, block_local, everywhere, rewrite_one_site
from .operator import Genome, Operator
from .sites import Facts, add_locals

__all__ = ["IfConvert", "Diamond", "find_diamonds", "convert", "branch_free"]

MAX_ARM_OPS = 6  # operators per arm (locals and constants not counted): beyond this a branch is cheaper
MAX_ARM = 40
_NUMERIC = {0x7F, 0x7E, 0x7D, 0x7C}
_FREE = {"const", "local", "global", "parametric", "nop"}

Range = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Diamond:
    """Instructions [start, stop) choose between two values: `when_set` if the condition is
    nonzero, `when_clear` otherwise (ranges of code that push the value; None: x's current value).
    `cond` is the code that pushes the condition (None: it is on the stack already). `assigned`
    is the local the choice goes to, or -1 when it stays on the stack (typed `vtype`)."""

    start: int
    stop: int
    cond: Range | None
    when_set: Range | None
    when_clear: Range | None
    assigned: int
    vtype: ValType


def _arm(instrs: Sequence[Instr], start: int, stop: int, temps: frozenset[int]) -> bool:
    """Whether instrs[start:stop] is a cheap, effect- and trap-free value, temporaries aside."""
    if not 0 < stop - start <= MAX_ARM:
        return False
    ops = 0
    for k in range(start, stop):
        ins = instrs[k]
        if ins.op in (LOCAL_SET, LOCAL_TEE):
            if ins.imm[0] not in temps:
                return False
        elif ins.op not in PURE:
            return False
        elif OPCODES[ins.op].cls not in _FREE:
            ops += 1
    return ops <= MAX_ARM_OPS


def _assignment(instrs: Sequence[Instr], start: int, stop: int, temps: frozenset[int]) -> int | None:
    """x when instrs[start:stop] is an arm followed by `local.set x` (x no temporary)."""
    if stop - start < 2 or instrs[stop - 1].op != LOCAL_SET or instrs[stop - 1].imm[0] in temps:
        return None
    return instrs[stop - 1].imm[0] if _arm(instrs, start, stop - 1, temps) else None


def _straight(instrs: Sequence[Instr], start: int, stop: int) -> bool:
    return all(instrs[k].op not in CONTROL for k in range(start, stop))


def find_diamonds(f: Facts) -> tuple[Diamond, ...]:
    instrs, ends, infos = f.instrs, f.ends, f.infos
    if not any(ins.op in (IF, BR_IF) for ins in instrs):
        return ()
    temps = block_local(instrs, len(f.params))
    out = []
    for s, ins in enumerate(instrs):
        if not f.live[s] or ins.op not in (IF, BLOCK):
            continue
        e = ends[s]
        bt = ins.imm[0]
        if ins.op == IF:
            else_ = next((j for j in range(s + 1, e) if instrs[j].op == ELSE and infos[j].depth == infos[e].depth), -1)
            if bt != EMPTY_BLOCK:
                if bt < 0 and valtype_of_blocktype(bt) in _NUMERIC and else_ > 0 \
                        and _arm(instrs, s + 1, else_, temps) and _arm(instrs, else_ + 1, e, temps):
                    out.append(Diamond(s, e + 1, None, (s + 1, else_), (else_ + 1, e), -1, valtype_of_blocktype(bt)))
                continue
            x = _assignment(instrs, s + 1, else_ if else_ > 0 else e, temps)
            if x is None:
                continue
            other: Range | None = None
            if else_ > 0:
                if _assignment(instrs, else_ + 1, e, temps) != x:
                    continue
                other = (else_ + 1, e - 1)
            out.append(Diamond(s, e + 1, None, (s + 1, (else_ if else_ > 0 else e) - 1), other, x, f.local_types[x]))
            continue
        if bt != EMPTY_BLOCK:
            if bt < 0 and valtype_of_blocktype(bt) in _NUMERIC:
                d = _last_link(instrs, infos, s, e, temps, valtype_of_blocktype(bt))
                if d is not None:
                    out.append(d)
            continue
        inner = s + 1
        first = next((j for j in range(s + 1, e) if instrs[j].op in CONTROL), -1)
        if first > s + 1 and instrs[first] == Instr(IF, (EMPTY_BLOCK,)) and infos[first].height == 1 \
                and ends[first] < e and _straight(instrs, s + 1, first):
            ie = ends[first]  # block C if A local.set x br 1 end B local.set x end
            x = _assignment(instrs, first + 1, ie - 1, temps)
            if x is not None and instrs[ie - 1] == Instr(BR, (1,)) and _assignment(instrs, ie + 1, e, temps) == x:
                out.append(Diamond(s, e + 1, (s + 1, first), (first + 1, ie - 2), (ie + 1, e - 1), x,
                                   f.local_types[x]))
            continue
        if instrs[inner].op == BLOCK and instrs[inner].imm == (EMPTY_BLOCK,):
            ie = ends[inner]  # block block C br_if 0 A local.set x br 1 end B local.set x end
            q = next((j for j in range(inner + 1, ie) if instrs[j].op in CONTROL), -1)
            if q < 0 or instrs[q] != Instr(BR_IF, (0,)) or infos[q].height != 1 or instrs[ie - 1] != Instr(BR, (1,)):
                continue
            x = _assignment(instrs, q + 1, ie - 1, temps)
            if x is None or not _straight(instrs, inner + 1, q) or _assignment(instrs, ie + 1, e, temps) != x:
                continue
            out.append(Diamond(s, e + 1, (inner + 1, q), (ie + 1, e - 1), (q + 1, ie - 2), x, f.local_types[x]))
        else:  # block C br_if 0 A local.set x end
            q = next((j for j in range(s + 1, e) if instrs[j].op in CONTROL), -1)
            if q < 0 or instrs[q] != Instr(BR_IF, (0,)) or infos[q].height != 1 or not _straight(instrs, s + 1, q):
                continue
            x = _assignment(instrs, q + 1, e, temps)
            if x is not None:
                out.append(Diamond(s, e + 1, (s + 1, q), None, (q + 1, e - 1), x, f.local_types[x]))
    return tuple(out)


def _last_link(instrs: Sequence[Instr], infos: Sequence, s: int, e: int, temps: frozenset[int],
               vtype: ValType) -> Diamond | None:
    """The last `A C br_if 0 drop B` of block s (which ends at e and yields a `vtype`): A and B cheap values,
    C a straight-line condition, the br_if leaving A when C holds."""
    q = max((j for j in range(s + 1, e) if instrs[j].op in CONTROL), default=-1)
    if q < 0 or instrs[q] != Instr(BR_IF, (0,)) or infos[q].depth != infos[e].depth or infos[q].height != 2 \
            or instrs[q + 1].op != DROP or not _arm(instrs, q + 2, e, temps):
        return None
    start = max((j + 1 for j in range(s + 1, q) if instrs[j].op in CONTROL), default=s + 1)
    if instrs[start - 1].op == BR_IF and instrs[start].op == DROP:  # the link before this one
        start += 1
    if infos[start].height != 0 or not _straight(instrs, start, q):
        return None
    split = max((j for j in range(start, q) if infos[j].height == 1), default=-1)
    if split <= start or not _arm(instrs, start, split, temps) or not _arm(instrs, split, q, temps):
        return None
    return Diamond(start, e, (split, q), (start, split), (q + 2, e), -1, vtype)


def convert(f: Facts, d: Diamond):
    """The body with diamond `d` turned into a `select`."""
    instrs = f.instrs
    c = len(f.local_types)

    def value(arm: Range | None) -> list[Instr]:
        return list(instrs[arm[0]:arm[1]]) if arm is not None else [I("local.get", d.assigned)]

    new = list(instrs[:d.start])
    if d.cond is not None and d.when_set is not None and d.when_set[1] == d.cond[0]:  # A C: kept in that order
        new += value(d.when_set) + list(instrs[d.cond[0]:d.cond[1]]) + [I("local.set", c)] + value(d.when_clear)
    else:
        if d.cond is not None:
            new += instrs[d.cond[0]:d.cond[1]]
        new += [I("local.set", c)] + value(d.when_set) + value(d.when_clear)
    new += [I("local.get", c), I("select")]
    if d.assigned >= 0:
        new.append(I("local.set", d.assigned))
    new += instrs[d.stop:]
    return add_locals(f.body.with_instrs(new), [I32])


class IfConvert(Operator):
    name = "if_convert"

    def propose(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        return rewrite_one_site(parents[0], rng, "diamonds", find_diamonds, convert)


def branch_free(genome: Genome) -> Genome | None:
    """`genome` with every diamond of every target function turned into a select (innermost first, so
    a chain of early returns becomes a chain of selects), or None when there is none. Whether that is
    faster is the machine's call: a select costs both arms, a branch costs a misprediction."""
    return everywhere(genome, find_diamonds, convert, lambda found: max(found, key=lambda d: d.start))
