"""crossover_splice: child body = A[:p] + B[q:] in one target function of both parents.

p and q are reachable points at the function's own block level (depth 0) where the operand
stacks have identical types, so the head of A hands B's tail exactly what B's tail expects; the
tail is balanced and its branches target its own blocks or the function. The locals are those of
the parent with the longer list, when one list extends the other (otherwise not applicable).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from jeet.wasm.ir import Body

from .operator import Genome, Operator
from .runs import top_level_points
from .sites import Facts, compatible, facts

__all__ = ["CrossoverSplice", "splice", "splice_points"]

ATTEMPTS = 4


def splice_points(f: Facts) -> dict[tuple, list[int]]:
    """Reachable depth-0 points of a body, grouped by the operand stack types there."""
    out: dict[tuple, list[int]] = {}
    for k in top_level_points(f.instrs, f.infos, f.ends):
        out.setdefault(tuple(f.infos[k].stack), []).append(k)
    return out


def splice(a: Body, b: Body, p: int, q: int) -> Body | None:
    """A[:p] + B[q:] with the longer of the two local lists, or None when neither extends the other."""
    la, lb = a.local_types(), b.local_types()
    if la[:len(lb)] == lb:
        locals_ = a.locals
    elif lb[:len(la)] == la:
        locals_ = b.locals
    else:
        return None
    return Body(tuple(locals_), a.instrs[:p] + b.instrs[q:])


class CrossoverSplice(Operator):
    name = "crossover_splice"
    arity = 2

    def propose(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        a, b = parents[0], parents[1]
        mb = b.decoded()
        if not compatible(a, b):
            return None
        shared = [t for t in a.targets if not mb.bodies[t].opaque]
        if not shared:
            return None
        for _ in range(ATTEMPTS):
            t = rng.choice(shared)
            fa, fb = facts(a, t), facts(b, t)
            pa = a.memo_body("splice_points", t, lambda: splice_points(fa))
            pb = b.memo_body("splice_points", t, lambda: splice_points(fb))
            common = [s for s in pa if s in pb]
            if not common:
                continue
            stack = rng.choice(common)
            p, q = rng.choice(pa[stack]), rng.choice(pb[stack])
            body = splice(fa.body, fb.body, p, q)
            if body is None or body.instrs == fa.instrs:
                continue
            return a.with_bodies({t: body}, {t: fa.infos[:p] + fb.infos[q:]})
        return None
