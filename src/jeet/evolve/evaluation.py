"""Judging one candidate: valid? correct on the training cases? how much does it cost?

This runs inside worker processes, so everything here is plain picklable data.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..fitness import FitnessMetrics, Measurement, calculate_fitness, measure_metrics


class Status(str, enum.Enum):
    OK = "ok"                    # valid and correct on every training case
    INVALID = "invalid"          # not a valid module
    WRONG = "wrong"              # finished but computed a different result
    TRAP = "trap"                # trapped where the reference does not
    OUT_OF_FUEL = "out_of_fuel"  # exceeded the cycle budget
    TIMEOUT = "timeout"          # exceeded the wall-clock deadline
    OUT_OF_MEMORY = "out_of_memory"
    BLACKLISTED = "blacklisted"  # known bad hash: not run again
    CRASH = "crash"              # the evaluation itself died (worker crash)

    @property
    def blacklists(self) -> bool:
        """Outcomes that put a hash on the persistent blacklist."""
        return self in (Status.TRAP, Status.OUT_OF_FUEL, Status.TIMEOUT, Status.OUT_OF_MEMORY,
                        Status.WRONG, Status.CRASH)


@dataclass(frozen=True, slots=True)
class Evaluation:
    status: Status
    fuel: int = 0
    peak_pages: int = 0
    size: int = 0
    energy: float = 0.0
    fitness: float = 0.0
    metrics: FitnessMetrics | None = None
    failed_case: int | None = None
    message: str = ""
    ns: float | None = None  # predicted native ns per call (objective time), see jeet.fitness.native

    @property
    def valid(self) -> bool:
        return self.status not in (Status.INVALID, Status.CRASH)

    @property
    def correct(self) -> bool:
        return self.status is Status.OK

    def measurement(self) -> Measurement:
        return Measurement(fuel=self.fuel, peak_pages=self.peak_pages, code_size=self.size, energy=self.energy,
                           ns=self.ns)

    def objectives(self) -> tuple[float, float, float]:
        """Pareto objectives, all minimized: (native ns per call, predicted; fuel when there is none, as under
        objective fuel), peak memory pages, code size."""
        speed = float(self.ns) if self.ns is not None else float(self.fuel)
        return (speed, float(self.peak_pages), float(self.size))


def score(candidate: Measurement, baseline: Measurement) -> tuple[float, FitnessMetrics]:
    metrics = measure_metrics(candidate, baseline)
    return calculate_fitness(metrics), metrics
