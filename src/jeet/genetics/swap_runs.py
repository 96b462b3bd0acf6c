"""swap_runs: exchange two adjacent stack-neutral runs [i, j) and [j, k).

Both runs start and end at the same stack and never reach below it, and branches keep their
meaning because both sit at the same block level, so the swapped body validates. When the runs
are independent (two stores to different places, two loop-invariant updates) the meaning is kept
and only the schedule changes.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from jeet.wasm.ir import Body

from .operator import Genome, Operator
from .runs import neutral_runs, prefer_short
from .sites import start_sites

__all__ = ["SwapRuns", "swap"]

ATTEMPTS = 16


def swap(body: Body, i: int, j: int, k: int) -> Body:
    """`body` with [i, j) and [j, k) exchanged."""
    ins = body.instrs
    return body.with_instrs(ins[:i] + ins[j:k] + ins[i:j] + ins[k:])


class SwapRuns(Operator):
    name = "swap_runs"

    def propose(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        parent = parents[0]
        for f, i in start_sites(parent, rng, ATTEMPTS):
            firsts = neutral_runs(f.instrs, f.infos, f.ends, i)
            if not firsts:
                continue
            j = firsts[prefer_short(rng, len(firsts))]
            seconds = neutral_runs(f.instrs, f.infos, f.ends, j)
            if not seconds:
                continue
            k = seconds[prefer_short(rng, len(seconds))]
            if f.instrs[i:j] == f.instrs[j:k]:
                continue
            infos = f.infos[:i] + f.infos[j:k] + f.infos[i:j] + f.infos[k:]
            return parent.with_bodies({f.index: swap(f.body, i, j, k)}, {f.index: infos})
        return None
