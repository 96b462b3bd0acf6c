"""The kernel benchmark's results: one row per kernel and starting point, and the suite's summary.

A row compares three builds of one kernel measured together: the input (the starting point),
clang -O2 + `wasm-opt -O3` (what users ship; the issue's "O2"), and jeet's output from that input.
The summary states the targets of issue 10 as figures: kernels at least 1.25x faster from the
production build, median native-time ratios from each start against the production build's own
ratio to -O0, kernels made slower (do no harm), distinct evaluations per second per core.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field

FASTER = 1.25           # "at least 1.25x faster": a native-time ratio of at most 1 / FASTER
STARTS = {"O0": "O0", "O2": "O2opt"}  # a starting point -> the kernel build it evolves from
REFERENCE = "O2opt"     # clang -O2 + wasm-opt -O3


@dataclass
class StartRow:
    """One kernel from one starting point. Fuel is the mean per call and ns the native time per call
    (net of an empty function) on the same timing cases; `ratio` is jeet / input with its 95 % CI."""

    kernel: str
    category: str
    start: str                     # "O0" or "O2" (the O2opt build)
    build: str                     # the kernel build the run started from
    fuel_input: float
    fuel_O2opt: float
    fuel_jeet: float
    ns_input: float | None         # None: could not be timed natively (see timing_note)
    ns_O2opt: float | None
    ns_jeet: float | None
    ratio: float | None            # jeet / input
    ratio_ci: tuple[float, float] | None
    O2opt_ratio: float | None      # O2opt / input on the same measurement (None from O2: it is the input)
    O2opt_ratio_ci: tuple[float, float] | None
    improved: bool                 # do-no-harm verdict (judge_report, an identical copy as control)
    judge_margin: float | None     # the margin the verdict applied (min_gain or the control's spread)
    slower: bool                   # jeet's output slower than its input beyond the control's spread
    output_is_input: bool          # jeet wrote its input unchanged
    evolve_improved: bool | None   # the run's own verdict, when its result carries one
    evolve_time_ratio: float | None
    predicted_ns_jeet: float | None  # the predictor's estimate, cross-validated by kernel
    held_out_cases: int
    held_out_failures: int         # the bench's own check of jeet's output on every held-out case
    evaluations: int               # sandbox evaluations the run reports
    distinct: int                  # distinct evaluated candidates (by content hash)
    distinct_source: str           # "run" (the Evolution result), "bench" (counted at the evaluator), or a
                                   # plain name for a fallback (see runs.distinct_evaluations)
    seconds: float                 # the evolve run, start to final check
    workers: int
    distinct_per_s_per_core: float
    pipeline_evals_per_s: float    # one core, the evaluation pipeline alone (see runs.pipeline_throughput)
    evolve_timing_share: float | None  # share of the run spent timing natively; None: the run does not say
    valid_offspring_rate: float
    generations: int
    stop_reason: str
    size_input: int
    size_jeet: int
    peak_rss_mb: float             # jeet and its workers during the run, largest sample
    timing_rounds: int = 0
    timing_cases: int = 0
    timing_s: float = 0.0          # the bench's own native measurement of this kernel
    timing_note: str = ""
    logbook: list[dict] = field(default_factory=list)
    operators: list[dict] = field(default_factory=list)  # the run's operator ledger (jeet.genetics.stats rows)


@dataclass
class OperatorValidity:
    operator_set: str
    made: int
    valid: int

    @property
    def rate(self) -> float:
        return self.valid / self.made if self.made else 0.0


@dataclass
class BenchReport:
    budget_s: float
    workers: int
    starts: list[str]
    rows: list[StartRow]
    validity: list[OperatorValidity]
    wasm_opt: bool
    seconds: float
    predictor: dict                # Spearman of the cross-validated predictor (and of fuel) vs measured ns
    command: str = ""
    machine: str = ""

    def by_start(self, start: str) -> list[StartRow]:
        return [r for r in self.rows if r.start == start]

    def summary(self) -> dict:
        def med(values):
            values = [v for v in values if v is not None and not math.isnan(v)]
            return round(statistics.median(values), 4) if values else None

        o0, o2 = self.by_start("O0"), self.by_start("O2")
        fast = [r.kernel for r in o2 if r.ratio is not None and r.ratio <= 1 / FASTER]
        timing_s = sum({r.kernel: r.timing_s for r in self.rows}.values())
        return {
            "kernels": len({r.kernel for r in self.rows}),
            "median_ratio": {s: med(r.ratio for r in self.by_start(s)) for s in self.starts},
            "faster_1_25x_from_O2": fast,
            "share_faster_1_25x_from_O2": round(len(fast) / len(o2), 4) if o2 else None,
            "median_O2opt_vs_O0": med(r.O2opt_ratio for r in o0),
            "slower_than_input": [f"{r.kernel} from {r.start}" for r in self.rows if r.slower],
            "improved": {s: sum(r.improved for r in self.by_start(s)) for s in self.starts},
            "held_out_failures": sum(r.held_out_failures for r in self.rows),
            "median_distinct_per_s_per_core": med(r.distinct_per_s_per_core for r in self.rows),
            "median_pipeline_evals_per_s": med(r.pipeline_evals_per_s for r in self.rows),
            "median_evolve_timing_share": med(r.evolve_timing_share for r in self.rows),
            "bench_timing_share": round(timing_s / self.seconds, 4) if self.seconds else None,
            "max_peak_rss_mb": max((r.peak_rss_mb for r in self.rows), default=None),
            "spearman_predictor": self.predictor.get("spearman_predictor"),
            "valid_rate": {v.operator_set: round(v.rate, 4) for v in self.validity},
        }

    def operators(self) -> list[dict]:
        """Per operator over every run: offspring made, correct and improving (fuel, training cases), and what
        its offspring won in native-time races against the champion (wins, the kernels, and the geometric
        mean over the runs it won in of the speedup its wins brought that run): where the native-time gains
        came from. (A product over runs would multiply unrelated kernels' gains.)"""
        total: dict[str, dict] = {}
        for r in self.rows:
            for o in r.operators:
                t = total.setdefault(o["operator"], {"operator": o["operator"], "made": 0, "correct": 0,
                                                     "improving": 0, "native_wins": 0, "log_gains": [],
                                                     "kernels_won": set()})
                for k in ("made", "correct", "improving", "native_wins"):
                    t[k] += int(o.get(k, 0))
                speedup = float(o.get("native_speedup", 1.0) or 1.0)
                if o.get("native_wins") and speedup > 0:
                    t["log_gains"].append(math.log(speedup))
                    t["kernels_won"].add(r.kernel)
        rows = [{**{k: v for k, v in t.items() if k not in ("log_gains", "kernels_won")},
                 "native_speedup": round(math.exp(sum(t["log_gains"]) / len(t["log_gains"])) if t["log_gains"]
                                         else 1.0, 4),
                 "kernels_won": len(t["kernels_won"])}
                for t in total.values()]
        return sorted(rows, key=lambda t: (-t["native_speedup"], -t["improving"], t["operator"]))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["operators"] = self.operators()
        d["summary"] = self.summary()
        return json_safe(d)


def json_safe(value):
    """NaN and infinity become None, so the file is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
