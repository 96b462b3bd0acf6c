"""Do no harm: a variant takes effect only when it is measurably faster than what it replaces.

`judge_report` decides on a measurement that holds both; `judge` measures the two and decides. The
rule: the best variant is "improved" only when the whole two-sided `confidence` interval on
time(best) / time(baseline) lies at or below 1 - min_gain: with that confidence (one-sided it is
(1 + confidence) / 2) it is faster, and by at least min_gain. Requiring the interval, not only the
estimate, to clear the margin is what keeps an identical copy from ever winning on a lucky draw (a
tie clears 1 - min_gain only when the noise is several times min_gain). Anything else, including a
tie, noise, a gain smaller than min_gain or an untimeable baseline, is "not improved".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from ..oracle import Case
from .measure import measure
from .report import TimingReport, ratio
from .stats import Ratio


@dataclass(frozen=True)
class Judgement:
    """The verdict and its evidence: ns per call of each, the ratio best/baseline with its interval,
    and the report (samples and method) it was judged on."""

    improved: bool
    time_ratio: float
    ci: tuple[float, float]
    baseline_ns: float
    best_ns: float
    confidence: float
    min_gain: float
    report: TimingReport | None = None

    def to_dict(self, *, samples: bool = True) -> dict[str, Any]:
        """The fields `jeet evolve --json` and the evidence file carry."""
        d: dict[str, Any] = {"improved": self.improved, "baseline_ns": self.baseline_ns, "best_ns": self.best_ns,
                             "time_ratio": self.time_ratio, "time_ratio_ci": list(self.ci),
                             "confidence": self.confidence, "min_gain": self.min_gain}
        if self.report is not None:
            d["timing"] = self.report.to_dict(samples=samples)
        return d


def decide(r: Ratio, min_gain: float) -> bool:
    """The rule above, on a ratio time(best) / time(baseline)."""
    return r.ci_high <= 1.0 - min_gain


def judge_report(report: TimingReport, baseline: int = 0, best: int = 1, *, confidence: float = 0.95,
                 min_gain: float = 0.03, resamples: int = 4000) -> Judgement:
    """Judge variant `best` against variant `baseline` of a measurement (UntimeableError if either
    was not timeable)."""
    if not 0 <= min_gain < 1:
        raise ValueError(f"min_gain must be in [0, 1), got {min_gain!r}")
    r = ratio(report, best, baseline, confidence=confidence, resamples=resamples)
    return Judgement(decide(r, min_gain), r.estimate, (r.ci_low, r.ci_high), report.ns_per_call(baseline),
                     report.ns_per_call(best), confidence, min_gain, report)


def judge(baseline: bytes, best: bytes, function: str, cases: Sequence[Case], *, confidence: float = 0.95,
          min_gain: float = 0.03, seed: int = 0, **measure_options: Any) -> Judgement:
    """Measure `baseline` and `best` interleaved on `cases` (the held-out cases) and judge them.

    `measure_options` go to `measure` (min_time_s, sample_s, quiet, ...). Raises UntimeableError when
    either cannot be timed natively: the caller then falls back to fuel and says so."""
    report = measure([baseline, best], function, cases, seed=seed, **measure_options)
    return judge_report(report, 0, 1, confidence=confidence, min_gain=min_gain)
