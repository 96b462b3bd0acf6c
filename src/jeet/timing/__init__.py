"""jeet.timing: native time, as a host runs the code, and the do-no-harm judgement built on it.

Fuel counts instructions; users feel native time under Cranelift. This package measures it: a
harness module runs the call loop inside wasm over the oracle's cases (`harness`), on an engine
without fuel (`clock`), variants interleaved round by round with an empty function subtracted
(`measure`), medians and bootstrap intervals (`stats`, `report`), and the rule that a variant takes
effect only when it is faster with confidence, by more than an A/A control can show (`judge`).
`quiet` keeps evaluation workers off the cores while a measurement runs. `predictor` estimates native time cheaply
from per-instruction-class execution counts (`counts`) with costs fitted per machine to measurements
and cached in the data folder (`costs`).

    report = measure([input_wasm, best_wasm], "f", oracle.held_out, seed=0)
    report.ns_per_call(1), ratio(report, 1, 0)      # ns/call of best; best/input with its interval
    report.ranking()                                # a race's standings, fastest first
    judge(input_wasm, best_wasm, "f", oracle.held_out).improved
    costs = CostStore(); costs.predict(count_classes(wasm, "f", oracle.train))   # predicted ns/call
"""

from .costs import CostStore, machine_description
from .counts import FEATURES, ClassCounts, CountError, count_classes, instrument
from ..errors import TimingError, UntimeableError
from .harness import HARNESS_EXPORT, Harness, build_harness, empty_variant
from .judge import Judgement, decide, judge, judge_report, noise_margin
from .measure import measure, pick_cases
from .predictor import CostModel, cross_validated_predictions, cross_validated_spearman, fit, spearman
from .quiet import pausing, suspended
from .report import TimingReport, VariantTiming, ratio
from .stats import Ratio, bootstrap_ratio

__all__ = [
    "FEATURES", "HARNESS_EXPORT", "ClassCounts", "CostModel", "CostStore", "CountError", "Harness", "Judgement",
    "Ratio", "TimingError", "TimingReport", "UntimeableError", "VariantTiming", "bootstrap_ratio", "build_harness",
    "count_classes", "cross_validated_predictions", "cross_validated_spearman", "decide", "empty_variant", "fit",
    "instrument", "judge", "judge_report", "machine_description", "measure", "noise_margin", "pausing",
    "pick_cases", "ratio", "spearman", "suspended",
]
