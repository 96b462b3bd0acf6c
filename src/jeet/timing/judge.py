"""Do no harm: a variant takes effect only when it is measurably faster than what it replaces.

`judge_report` decides on a measurement that holds both; `judge` measures them and decides. The
rule: the best variant is "improved" only when the whole two-sided `confidence` interval on
time(best) / time(baseline) lies at or below 1 - margin: with that confidence (one-sided it is
(1 + confidence) / 2) it is faster, and by at least the margin. The margin is min_gain, or more when
an A/A control says the measurement cannot resolve min_gain: `judge` times a second, identical
copy of the baseline alongside (the control), and the margin grows to the largest deviation from 1
of the control's interval on time(copy) / time(baseline), and best must clear it against the copy
too. Identical code can measure several per cent apart (code and data at other addresses, a
function as cheap as the call itself), and the control is what catches that; requiring the interval,
not only the estimate, to clear the margin keeps a tie from winning on a lucky draw. Anything else,
including a tie, noise, a gain smaller than the margin or an untimeable baseline, is "not improved".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

from ..oracle import Case
from .measure import measure
from .report import TimingReport, ratio
from .stats import Ratio


@dataclass(frozen=True)
class Judgement:
    """The verdict and its evidence: ns per call of each, the ratio best/baseline with its interval,
    the A/A control's ratio (None without a control), the margin applied, and the report (samples
    and method) it was judged on."""

    improved: bool
    time_ratio: float
    ci: tuple[float, float]
    baseline_ns: float
    best_ns: float
    confidence: float
    min_gain: float
    margin: float
    control: Ratio | None = None
    report: TimingReport | None = None
    replicates: int = 1  # independent measurements that all had to find it faster (this is the least favourable)

    def to_dict(self, *, samples: bool = True) -> dict[str, Any]:
        """The fields `jeet evolve --json` and the evidence file carry."""
        d: dict[str, Any] = {"improved": self.improved, "baseline_ns": self.baseline_ns, "best_ns": self.best_ns,
                             "time_ratio": self.time_ratio, "time_ratio_ci": list(self.ci),
                             "confidence": self.confidence, "min_gain": self.min_gain, "margin": self.margin,
                             "control_ratio": self.control.as_dict() if self.control is not None else None,
                             "replicates": self.replicates}
        if self.report is not None:
            d["timing"] = self.report.to_dict(samples=samples)
        return d


def decide(r: Ratio, margin: float) -> bool:
    """The rule above, on a ratio time(best) / time(baseline)."""
    return r.ci_high <= 1.0 - margin


def noise_margin(control: Ratio) -> float:
    """How far from 1 an identical copy's interval reaches: gains smaller than this are not resolved."""
    return max(1.0 - control.ci_low, control.ci_high - 1.0, 0.0)


def judge_report(report: TimingReport, baseline: int = 0, best: int = 1, *, control: int | None = None,
                 confidence: float = 0.95, min_gain: float = 0.03, resamples: int = 4000) -> Judgement:
    """Judge variant `best` against variant `baseline` of a measurement; `control`, if given, is the
    index of an identical copy of the baseline (see the module docstring). UntimeableError if the
    baseline, best or control was not timeable."""
    if not 0 <= min_gain < 1:
        raise ValueError(f"min_gain must be in [0, 1), got {min_gain!r}")
    r = ratio(report, best, baseline, confidence=confidence, resamples=resamples)
    margin, aa, improved = min_gain, None, True
    if control is not None:
        aa = ratio(report, control, baseline, confidence=confidence, resamples=resamples)
        margin = max(min_gain, noise_margin(aa))
        improved = decide(ratio(report, best, control, confidence=confidence, resamples=resamples), margin)
    improved = improved and decide(r, margin)
    return Judgement(improved, r.estimate, (r.ci_low, r.ci_high), report.ns_per_call(baseline),
                     report.ns_per_call(best), confidence, min_gain, margin, aa, report)


def judge(baseline: bytes, best: bytes, function: str, cases: Sequence[Case], *, confidence: float = 0.95,
          min_gain: float = 0.03, seed: int = 0, replicates: int = 1, **measure_options: Any) -> Judgement:
    """Measure `baseline`, an identical copy of it (the A/A control) and `best`, interleaved on `cases`
    (the held-out cases), and judge them.

    With `replicates` > 1 the measurement is repeated (each on its own seed) and `best` is faster only if
    every one finds it so; the least favourable judgement is returned. A branchy variant's speed moves with
    the machine's state (a branch predictor shared with other work) over spans longer than one measurement:
    repeats catch a gain that held only while it lasted. `measure_options` go to `measure` (min_time_s,
    sample_s, quiet, ...). Raises UntimeableError when either cannot be timed natively: the caller then
    falls back to fuel and says so."""
    worst: Judgement | None = None
    for k in range(max(1, replicates)):
        report = measure([baseline, baseline, best], function, cases, seed=seed + k, **measure_options)
        j = judge_report(report, 0, 2, control=1, confidence=confidence, min_gain=min_gain)
        if worst is None or (worst.improved, -worst.ci[1]) > (j.improved, -j.ci[1]):
            worst = j
        if not j.improved:
            break  # one measurement that does not find it faster settles it
    return replace(worst, replicates=k + 1)
