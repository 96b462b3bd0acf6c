"""delete_run: remove a stack-neutral run of reachable code — a few instructions, or a whole block or loop.

Deleting [i, j) keeps the body valid when the run is neutral (see `jeet.genetics.runs`): the code
after it sees the same operand stack it saw before. Short runs are preferred.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from jeet.wasm.ir import Body

from .operator import Genome, Operator
from .runs import neutral_runs, prefer_short
from .sites import start_sites

__all__ = ["DeleteRun", "delete"]

ATTEMPTS = 16


def delete(body: Body, i: int, j: int) -> Body:
    """`body` without instructions [i, j)."""
    instrs = body.instrs
    return body.with_instrs(instrs[:i] + instrs[j:])


class DeleteRun(Operator):
    name = "delete_run"

    def propose(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        parent = parents[0]
        for f, i in start_sites(parent, rng, ATTEMPTS):
            ends = neutral_runs(f.instrs, f.infos, f.ends, i)
            if ends:
                j = ends[prefer_short(rng, len(ends))]
                return parent.with_bodies({f.index: delete(f.body, i, j)}, {f.index: f.infos[:i] + f.infos[j:]})
        return None
