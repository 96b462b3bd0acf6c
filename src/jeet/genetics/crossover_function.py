"""crossover_function: give parent A the whole body of one target function from parent B.

Both parents descend from one module, so a function index means the same function (same type,
globals, callees) in both; the body is taken only when the two modules agree on all of that.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from .operator import Genome, Operator
from .sites import compatible

__all__ = ["CrossoverFunction"]


class CrossoverFunction(Operator):
    name = "crossover_function"
    arity = 2

    def propose(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        a, b = parents[0], parents[1]
        ma, mb = a.decoded(), b.decoded()
        if not compatible(a, b):
            return None
        candidates = [
            t for t in a.targets
            if not mb.bodies[t].opaque and ma.bodies[t] != mb.bodies[t]
        ]
        if len(candidates) < 2:
            return None  # swapping the only differing body would just copy parent b
        t = rng.choice(candidates)
        infos = b.analysis(t)  # the donated body must type-check (WasmError -> not applicable)
        return a.with_bodies({t: mb.bodies[t]}, {t: infos})
