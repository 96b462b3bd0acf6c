"""licm: loop-invariant code motion — compute an expression once before the loop instead of every trip.

    loop ... E ... end   ->   E local.set $t  loop ... local.get $t ... end

E is a straight-line expression free of effects and traps (so evaluating it once more, or on a
path that never reached it, cannot be observed) whose inputs do not change inside the loop: the
locals it reads are not written in the loop, and the globals it reads are neither set nor
possibly set by a call there. It holds at least one operator (hoisting a lone `local.get` buys
nothing), and it is the largest such expression where it stands.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from jeet.wasm.types import ValType

from ._ops import CALL, CALL_INDIRECT, CONST_TYPE, GLOBAL_GET, GLOBAL_SET, LOCAL_GET, LOOP
from ._rewrite import PURE, I, checked_child, local_writes
from .operator import Genome, Operator
from .runs import expressions
from .sites import Facts, add_locals, facts, pick_target

__all__ = ["Licm", "Hoist", "find_hoists", "hoist"]

_LEAVES = frozenset(CONST_TYPE) | {LOCAL_GET, GLOBAL_GET}


@dataclass(frozen=True, slots=True)
class Hoist:
    """Expression [start, stop) of type `vtype`, invariant in the loop that starts at `loop`."""

    loop: int
    start: int
    stop: int
    vtype: ValType


def find_hoists(f: Facts) -> tuple[Hoist, ...]:
    instrs, infos, ends = f.instrs, f.infos, f.ends
    out = []
    for loop, ins in enumerate(instrs):
        if ins.op != LOOP or not f.live[loop]:
            continue
        end = ends[loop]
        written = local_writes(instrs, loop + 1, end)
        globals_fixed = not any(instrs[k].op in (GLOBAL_SET, CALL, CALL_INDIRECT) for k in range(loop + 1, end))

        def invariant(k: int) -> bool:
            i = instrs[k]
            if i.op not in PURE:
                return False
            if i.op == LOCAL_GET:
                return i.imm[0] not in written
            return globals_fixed or i.op != GLOBAL_GET

        found: list[Hoist] = []
        for start in range(loop + 1, end):
            if not f.live[start] or infos[start].pops or not invariant(start):
                continue
            if found and found[-1].start < start < found[-1].stop:
                continue  # inside a larger invariant expression: hoist that one
            checked = start
            operator = False
            longest = None
            for stop, vtype in expressions(instrs, infos, ends, start):
                while checked < stop and invariant(checked):
                    operator = operator or instrs[checked].op not in _LEAVES
                    checked += 1
                if checked < stop:
                    break
                if operator:
                    longest = Hoist(loop, start, stop, vtype)
            if longest is not None:
                found.append(longest)
        out.extend(found)
    return tuple(out)


def hoist(f: Facts, h: Hoist):
    """The body with expression `h` computed once into a new local before its loop."""
    instrs = f.instrs
    t = len(f.local_types)
    new = (list(instrs[:h.loop]) + list(instrs[h.start:h.stop]) + [I("local.set", t)]
           + list(instrs[h.loop:h.start]) + [I("local.get", t)] + list(instrs[h.stop:]))
    return add_locals(f.body.with_instrs(new), [h.vtype])


class Licm(Operator):
    name = "licm"

    def propose(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        parent = parents[0]
        for _ in range(4):
            t = pick_target(parent, rng)
            if t is None:
                return None
            found = parent.memo_body("invariants", t, lambda: find_hoists(facts(parent, t)))
            if found:
                return checked_child(parent, t, hoist(facts(parent, t), found[rng.randrange(len(found))]))
        return None
