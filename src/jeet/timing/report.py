"""What a measurement found: per variant, its samples and ns per call; ratios between variants."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import numpy as np

from ..errors import UntimeableError
from .stats import Ratio, bootstrap_ratio, net_median

OK = "ok"
STATUSES = (OK, "trap", "timeout", "invalid")


@dataclass(frozen=True, slots=True)
class VariantTiming:
    """One variant's measurement. `samples_ns` holds gross ns per call (one pass over the cases
    divided by their number), one sample per round in round order; empty unless `status` is "ok".
    `sink` is what the harness returned for one repetition: variants that compute the same results
    on the timing inputs return the same sink."""

    status: str
    samples_ns: tuple[float, ...] = ()
    reps: int = 0
    sink: int | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def median_ns(self) -> float:
        """Median gross ns per call (harness overhead included); NaN when untimeable."""
        return statistics.median(self.samples_ns) if self.samples_ns else float("nan")


@dataclass(frozen=True)
class TimingReport:
    """Interleaved timings of several variants of one function and of the empty function.

    `ns_per_call(i)` is variant i's median net of the empty function's median (with several `layouts`,
    the mean over copies of each copy's median, see `jeet.timing.stats`): the time the function itself
    takes per call, averaged over the cases. `method` records how it was measured (engine, cases,
    rounds, repetitions, ...) for evidence files."""

    function: str
    cases: int
    seed: int
    variants: tuple[VariantTiming, ...]
    empty: VariantTiming
    rounds: int
    seconds: float
    method: dict = field(default_factory=dict)
    layouts: int = 1  # round r timed every variant's copy r mod layouts

    def variant(self, i: int) -> VariantTiming:
        """Variant i; UntimeableError when it could not be timed."""
        v = self.variants[i]
        if not v.ok:
            raise UntimeableError(f"variant {i} of {self.function!r} cannot be timed ({v.status}): {v.message}",
                                  i, v.status)
        return v

    def ns_per_call(self, i: int) -> float:
        return net_median(self.variant(i).samples_ns, self.empty.samples_ns, self.layouts)

    def ranking(self) -> list[int]:
        """Indices of the timeable variants, fastest first (by ns per call): a race's standings."""
        return sorted((i for i, v in enumerate(self.variants) if v.ok), key=self.ns_per_call)

    @property
    def agree(self) -> bool:
        """Whether every timeable variant returned the same results (same sink) on the timing inputs."""
        return len({v.sink for v in self.variants if v.ok}) <= 1

    def to_dict(self, *, samples: bool = True) -> dict:
        """JSON-ready: statuses, medians, ns per call and (optionally) the raw samples."""
        def one(v: VariantTiming, net: float | None) -> dict:
            d = {"status": v.status, "median_gross_ns": v.median_ns if v.ok else None, "ns_per_call": net,
                 "reps": v.reps, "message": v.message}
            if samples:
                d["samples_ns"] = list(v.samples_ns)
            return d

        return {"function": self.function, "cases": self.cases, "seed": self.seed, "rounds": self.rounds,
                "layouts": self.layouts,
                "seconds": self.seconds, "method": self.method, "agree": self.agree,
                "empty": one(self.empty, None),
                "variants": [one(v, self.ns_per_call(i) if v.ok else None) for i, v in enumerate(self.variants)]}


def ratio(report: TimingReport, a: int, b: int, *, confidence: float = 0.95, resamples: int = 4000) -> Ratio:
    """time(variant a) / time(variant b), net of the empty function, with a bootstrap interval.

    Deterministic for a given report (the bootstrap's generator is seeded from report.seed, a and b).
    UntimeableError when either variant could not be timed."""
    va, vb = report.variant(a), report.variant(b)
    rng = np.random.default_rng([report.seed & 0xFFFFFFFF, a, b])
    return bootstrap_ratio(va.samples_ns, vb.samples_ns, report.empty.samples_ns, layouts=report.layouts,
                           confidence=confidence, resamples=resamples, rng=rng)
