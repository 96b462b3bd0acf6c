"""Driving a loop: the generation in flight (pipelining) and when to stop.

Stop rules are shared by every loop that keeps a `Progress` (the single-module `Evolution`, the
pair `Coevolution`): a generation cap, an evaluation cap, a wall-clock budget, `stagnation`
(generations without a better champion) and `patience_s` (seconds, and at least
`PATIENCE_MIN_GENERATIONS` generations, in which nothing improved). The order is fixed, so the
reported reason does not depend on timing when a count decides.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Protocol, TypeVar

from .pool import Evaluator, Pending
from .worker import Context, Offspring, Task

# Patience in seconds alone would stop a slow search after a handful of generations: it also needs this many.
PATIENCE_MIN_GENERATIONS = 50


@dataclass
class Progress:
    """The counters every loop keeps and the stop rules read."""

    generation: int = 0
    evaluations: int = 0
    stagnant: int = 0  # generations since the champion last improved
    improved_generation: int = 0  # the last generation in which anything improved
    improved_at: float = field(default_factory=time.monotonic)

    def improved(self) -> None:
        self.improved_generation, self.improved_at = self.generation, time.monotonic()


def stop_reason(config, progress: Progress, started: float, now: float | None = None) -> str | None:
    """Why a loop under `config` should stop now, or None. Settings a config lacks do not apply."""
    now = time.monotonic() if now is None else now
    generations = getattr(config, "generations", None)
    if generations is not None and progress.generation >= generations:
        return "generations"
    cap = getattr(config, "max_evaluations", None)
    if cap is not None and progress.evaluations >= cap:
        return "evaluations"
    budget = getattr(config, "budget_s", None)
    if budget is not None and now - started >= budget:
        return "budget"
    stagnation = getattr(config, "stagnation", None)
    if stagnation is not None and progress.stagnant >= stagnation:
        return "stagnation"
    patience = getattr(config, "patience_s", None)
    if (patience is not None and now - progress.improved_at >= patience
            and progress.generation - progress.improved_generation >= PATIENCE_MIN_GENERATIONS):
        return "patience"
    return None


def describe_stop(reason: str, config, progress: Progress, now: float | None = None) -> str:
    """The stop reason in plain words, for the output and for --json's `stopped`."""
    now = time.monotonic() if now is None else now
    if reason == "generations":
        return f"reached {progress.generation} generations"
    if reason == "evaluations":
        return f"reached {progress.evaluations} evaluations"
    if reason == "budget":
        return f"spent the budget of {getattr(config, 'budget_s', 0):g} s"
    if reason == "stagnation":
        return f"no better champion for {progress.stagnant} generations"
    if reason == "patience":
        idle = progress.generation - progress.improved_generation
        return f"no improvement for {now - progress.improved_at:.0f} s ({idle} generations)"
    return reason


class Steppable(Protocol):
    def done(self) -> str | None: ...
    def step(self): ...
    def finish(self, reason: str) -> None: ...


L = TypeVar("L", bound=Steppable)


def drive(loop: L, on_generation: Callable[[L, object], None] | None = None) -> str:
    """Step `loop` until it says it is done, then let it finish; returns the stop reason."""
    while (reason := loop.done()) is None:
        row = loop.step()
        if on_generation:
            on_generation(loop, row)
    loop.finish(reason)
    return reason


class Pipeline:
    """At most one generation in flight: handed to the workers before the main process does the previous
    generation's bookkeeping (held-out checks, store writes), collected at the next step."""

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self.inflight: Pending | None = None
        self.ready: list[Offspring] | None = None  # a generation collected early (see `settle`)

    @property
    def busy(self) -> bool:
        return self.inflight is not None or self.ready is not None

    def settle(self) -> None:
        """Wait for the generation in flight and keep its results for the next `collect`: the workers are
        idle afterwards (for a native-time race), and the run is the same as without the wait."""
        if self.inflight is not None:
            self.ready = self.evaluator.collect(self.inflight)
            self.inflight = None

    def submit(self, tasks: list[Task], ctx: Context) -> None:
        self.inflight = self.evaluator.submit(tasks, ctx)

    def collect(self, ask: Callable[[], list[Task]], ctx: Callable[[], Context]) -> list[Offspring]:
        """The generation in flight, or (if none) one asked for and evaluated now."""
        if self.ready is not None:
            results, self.ready = self.ready, None
            return results
        pending = self.inflight or self.evaluator.submit(ask(), ctx())
        self.inflight = None
        return self.evaluator.collect(pending)

    def drain(self) -> list[Offspring]:
        """Collect and return a generation in flight (its context is about to change), or nothing."""
        self.settle()
        results, self.ready = self.ready or [], None
        return results
