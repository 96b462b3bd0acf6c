"""stoke: STOKE-style stochastic superoptimisation of one loop-free window of a target function.

The search lives in `superopt` (see there for the moves, the cost and the checks). This operator picks a
window of straight-line integer code, runs the Markov chain from it, and replaces the window by the
cheapest rewrite that matched the window on every test input and on a larger fresh set; when the chain
finds nothing cheaper, it answers None.

Expensive by design: one call runs a few thousand interpreted evaluations of the window (tens of
milliseconds to about a second in CPython), where the other operators take microseconds. The registry
gives it a low default weight.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import ClassVar

from .operator import Genome, Operator
from .sites import facts, pick_target
from .superopt import find_windows, search

__all__ = ["Stoke"]


class Stoke(Operator):
    """Replaces a loop-free window by a cheaper rewrite found by MCMC that agrees on every test."""

    name = "stoke"
    iterations: ClassVar[int] = 2000  # Markov chain steps per call

    def propose(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        parent = parents[0]
        t = pick_target(parent, rng)
        if t is None:
            return None
        f = facts(parent, t)
        windows = parent.memo_body("stoke_windows", t, lambda: find_windows(f.instrs, f.infos, f.local_types, f.live))
        if not windows:
            return None
        # code in loops runs more often: weigh a window by 8 per loop around it (as the energy model does)
        w = rng.choices(windows, weights=[8 ** min(w.loops, 3) for w in windows])[0]
        found = search(f.instrs[w.start:w.stop], w, f.local_types, rng, iterations=self.iterations)
        if found is None:
            return None
        instrs = f.instrs[:w.start] + found.rewrite + f.instrs[w.stop:]
        return parent.with_bodies({t: f.body.with_instrs(instrs)})
