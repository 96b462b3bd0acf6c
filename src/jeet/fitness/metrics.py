"""Fitness of a candidate relative to the original function: normalized metrics, weights, hard correctness gate.

Every metric is a share against the baseline (the original module's `Measurement`) of the
form ``b / (b + c)``: the original scores exactly 0.5, a candidate twice as good scores
2/3, a free one scores 1, and the score moves monotonically with the raw figure. When
both figures are 0 the share is 0.5 (nothing tells them apart).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import FitnessError

# (execution_speed, memory_efficiency, usage_frequency, energy term), as in the roadmap; they sum to 1.
WEIGHTS: tuple[float, float, float, float] = (0.4, 0.3, 0.2, 0.1)

# memory_efficiency = PAGES_SHARE * pages share + (1 - PAGES_SHARE) * code-size share. Equal parts: both are
# unit-free shares against the baseline; peak pages are the run-time footprint, code size the footprint that
# is shipped, cached and compiled, and neither should be able to hide a regression in the other.
PAGES_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class Measurement:
    """Raw figures of one specimen: fuel summed over the training cases, peak linear-memory pages
    (64 KiB each), module size in bytes, how often it was called, its modelled energy
    (`jeet.fitness.energy.energy_estimate`) and its native time in ns per call, predicted
    (`jeet.fitness.native`) or measured; None when the run's objective is fuel."""

    fuel: int
    peak_pages: int
    code_size: int
    calls: int = 0
    energy: float = 0.0
    ns: float | None = None

    def __post_init__(self) -> None:
        for name in ("fuel", "peak_pages", "code_size", "calls", "energy", "ns"):
            value = getattr(self, name)
            if value is None and name == "ns":
                continue
            if not (value >= 0 and math.isfinite(value)):
                raise FitnessError(f"Measurement.{name} must be finite and >= 0, got {value!r}")

    def objectives(self) -> tuple[float, float, float]:
        """The minimized objectives for Pareto ranking: (native ns per call, or fuel when there is no native
        time, peak pages, code size)."""
        speed = float(self.ns) if self.ns is not None else float(self.fuel)
        return (speed, float(self.peak_pages), float(self.code_size))


@dataclass(frozen=True, slots=True)
class FitnessMetrics:
    """Normalized metrics in [0, 1]; the baseline scores 0.5 on each.

    Higher is better for the first three; `energy_consumption` is a cost (lower is better).
    """

    execution_speed: float
    memory_efficiency: float
    usage_frequency: float
    energy_consumption: float


def share(x: float, y: float) -> float:
    """``x / (x + y)`` for non-negative figures, 0.5 when both are 0."""
    total = x + y
    return 0.5 if total == 0 else x / total


def measure_metrics(candidate: Measurement, baseline: Measurement) -> FitnessMetrics:
    """Normalize a candidate's raw figures against the baseline's (b = baseline, c = candidate).

    - execution_speed    = b.ns / (b.ns + c.ns), native time per call, when both have one (objective time);
                           else b.fuel / (b.fuel + c.fuel), fuel being wasmtime's deterministic instruction count
    - memory_efficiency  = PAGES_SHARE * b.pages / (b.pages + c.pages)
                           + (1 - PAGES_SHARE) * b.code_size / (b.code_size + c.code_size)
    - usage_frequency    = c.calls / (c.calls + b.calls); being called more is better
    - energy_consumption = c.energy / (c.energy + b.energy); a cost, lower is better
    """
    timed = baseline.ns is not None and candidate.ns is not None
    return FitnessMetrics(
        execution_speed=share(baseline.ns, candidate.ns) if timed else share(baseline.fuel, candidate.fuel),
        memory_efficiency=PAGES_SHARE * share(baseline.peak_pages, candidate.peak_pages)
        + (1.0 - PAGES_SHARE) * share(baseline.code_size, candidate.code_size),
        usage_frequency=share(candidate.calls, baseline.calls),
        energy_consumption=share(candidate.energy, baseline.energy),
    )


def calculate_fitness(m: FitnessMetrics, weights: Sequence[float] = WEIGHTS) -> float:
    """The roadmap's weighted sum, in [0, 1]; the baseline scores exactly 0.5.

    The roadmap wrote ``speed*0.4 + memory*0.3 + usage*0.2 + (1.0 - energy*0.1)``. By operator
    precedence its last term is ``1 - 0.1*energy``, which adds a constant 0.9 and lets the
    score reach 1.9; the evident intent, implemented here, is ``0.1 * (1 - energy)``: a
    weight of 0.1 on energy efficiency. Weights are divided by their sum, so any
    non-negative weights keep the score in [0, 1].
    """
    w = _check_weights(weights)
    total = (
        w[0] * m.execution_speed
        + w[1] * m.memory_efficiency
        + w[2] * m.usage_frequency
        + w[3] * (1.0 - m.energy_consumption)
    ) / sum(w)
    return min(1.0, max(0.0, total))  # clamp only float rounding


def fitness(
    candidate: Measurement, baseline: Measurement, *, correct: bool, weights: Sequence[float] = WEIGHTS
) -> float:
    """The score of a candidate; 0.0 when it is not correct, because correctness is a hard gate, not a term."""
    if not correct:
        return 0.0
    return calculate_fitness(measure_metrics(candidate, baseline), weights)


def _check_weights(weights: Sequence[float]) -> tuple[float, float, float, float]:
    w = tuple(float(x) for x in weights)
    if len(w) != 4:
        raise FitnessError(f"fitness takes 4 weights (speed, memory, usage, energy), got {len(w)}")
    if not all(x >= 0 and math.isfinite(x) for x in w) or sum(w) <= 0:
        raise FitnessError(f"weights must be finite, non-negative and not all zero: {w}")
    return w  # type: ignore[return-value]
