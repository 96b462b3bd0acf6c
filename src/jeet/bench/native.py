"""One kernel's builds and jeet's outputs, timed natively together, and the predictor judged on them.

All variants of a kernel go into ONE interleaved measurement (`jeet.timing.measure`) on the same
held-out cases: each starting build with an identical copy of itself (the A/A control the judge
needs), clang -O2 + `wasm-opt -O3`, and jeet's output from each start. Identical bytes are timed
once (an output that is its input shares the input's index, so its ratio is exactly 1). Fuel and
per-class execution counts come from the sandbox on the same cases.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

from ..kernels import Kernel
from ..sandbox import Sandbox
from ..timing import (CountError, TimingError, TimingReport, UntimeableError, count_classes,
                      cross_validated_predictions, judge_report, measure, noise_margin, pick_cases, ratio, spearman)
from .results import REFERENCE, STARTS, StartRow
from .runs import StartRun

MAX_CASES = 200
SAMPLE_S = 0.005


@dataclass
class Variants:
    """Distinct modules to time, by role ("O0", "O0 copy", "O2opt", "jeet O0", ...), deduplicated by bytes
    except the copies, which must stay separate compilations."""

    wasm: list[bytes] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)

    def add(self, role: str, wasm: bytes, *, copy: bool = False) -> None:
        if not copy and wasm in self.wasm:
            self.index[role] = self.wasm.index(wasm)
            return
        self.index[role] = len(self.wasm)
        self.wasm.append(wasm)


@dataclass
class Sample:
    """One distinct timed variant, for the predictor: its kernel, class counts, fuel and ns per call."""

    kernel: str
    roles: tuple[str, ...]         # every role these bytes play ("O2", "O2opt", "jeet O2", ...)
    counts: tuple[float, ...]
    fuel: float
    ns: float


def _fuel(sandbox: Sandbox, wasm: bytes, function: str, cases) -> float:
    results = sandbox.run(wasm, function, cases)
    return statistics.fmean(r.fuel for r in results) if all(r.ok for r in results) else float("nan")


def time_kernel(k: Kernel, runs: list[StartRun], sandbox: Sandbox, seed: int, rounds: int
                ) -> tuple[list[StartRow], list[Sample]]:
    """Measure kernel `k`'s starts, reference and outputs together; one row per run, and the samples."""
    v = Variants()
    for run in runs:
        v.add(run.start, run.problem.wasm)
        v.add(f"{run.start} copy", run.problem.wasm, copy=True)
    v.add(REFERENCE, k.wasm(REFERENCE))
    for run in runs:
        v.add(f"jeet {run.start}", run.output)
    cases = pick_cases(runs[0].problem.oracle.held_out, MAX_CASES)
    t0 = time.monotonic()
    note = ""
    try:
        report: TimingReport | None = measure(v.wasm, k.function, cases, seed=seed, min_rounds=rounds,
                                              min_time_s=0.0, sample_s=SAMPLE_S, max_cases=MAX_CASES)
    except TimingError as exc:
        report, note = None, f"not timed: {exc}"
    if report is not None and not report.agree:  # the harness's result sums differ: some variant computes otherwise
        note = "the timed variants returned different results on the timing inputs"
    timing_s = time.monotonic() - t0
    fuel = [_fuel(sandbox, w, k.function, cases) for w in v.wasm]
    rows = [_row(k, run, v, report, fuel, sandbox, note) for run in runs]
    for row in rows:
        row.timing_s = round(timing_s, 3)
        row.timing_rounds, row.timing_cases = (report.rounds, report.cases) if report else (0, len(cases))
    return rows, _samples(k, v, report, fuel, sandbox, cases)


def _row(k: Kernel, run: StartRun, v: Variants, report: TimingReport | None, fuel: list[float],
         sandbox: Sandbox, note: str) -> StartRow:
    i, copy, ref, out = (v.index[r] for r in (run.start, f"{run.start} copy", REFERENCE, f"jeet {run.start}"))
    oracle = run.problem.oracle
    check = oracle.verify(sandbox, run.output, k.function, oracle.held_out, stop_at_first_failure=False)
    res = run.result
    ns = q = ref_q = None
    improved = slower = False
    margin = None
    if report is not None:
        try:
            ns = tuple(round(report.ns_per_call(j), 3) for j in (i, ref, out))
            q = ratio(report, out, i)
            ref_q = ratio(report, ref, i) if ref != i else None
            verdict = judge_report(report, i, out, control=copy)
            improved, margin = verdict.improved, round(verdict.margin, 4)
            # the mirror of the judge's rule: slower with 95 % confidence, beyond what the copy shows
            slower = out != i and q.ci_low > 1.0 + noise_margin(ratio(report, copy, i))
        except UntimeableError as exc:
            ns, q, ref_q, note = None, None, None, f"not timed: {exc}"
    seconds = max(run.seconds, 1e-9)
    return StartRow(
        kernel=k.name, category=k.category, start=run.start, build=STARTS[run.start],
        fuel_input=round(fuel[i], 2), fuel_O2opt=round(fuel[ref], 2), fuel_jeet=round(fuel[out], 2),
        ns_input=ns[0] if ns else None, ns_O2opt=ns[1] if ns else None, ns_jeet=ns[2] if ns else None,
        ratio=round(q.estimate, 4) if q else None,
        ratio_ci=(round(q.ci_low, 4), round(q.ci_high, 4)) if q else None,
        O2opt_ratio=round(ref_q.estimate, 4) if ref_q else None,
        O2opt_ratio_ci=(round(ref_q.ci_low, 4), round(ref_q.ci_high, 4)) if ref_q else None,
        improved=improved, judge_margin=margin, slower=slower, output_is_input=out == i,
        evolve_improved=run.evolve_improved, evolve_time_ratio=res.get("time_ratio"), predicted_ns_jeet=None,
        held_out_cases=len(oracle.held_out), held_out_failures=check.failed,
        evaluations=int(res.get("evaluations", 0)), distinct=run.distinct, distinct_source=run.distinct_source,
        seconds=round(run.seconds, 2), workers=run.workers,
        distinct_per_s_per_core=round(run.distinct / seconds / run.workers, 1),
        pipeline_evals_per_s=round(run.pipeline_evals_per_s, 1),
        evolve_timing_share=run.evolve_timing_share,
        valid_offspring_rate=float(res.get("valid_offspring_rate", 0.0)),
        generations=int(res.get("generations", 0)), stop_reason=str(res.get("stop_reason", "")),
        size_input=len(run.problem.wasm), size_jeet=len(run.output), peak_rss_mb=round(run.peak_rss / 2**20, 1),
        timing_note=note, logbook=run.logbook, operators=list(res.get("operators") or []))


def _samples(k: Kernel, v: Variants, report: TimingReport | None, fuel: list[float], sandbox: Sandbox,
             cases) -> list[Sample]:
    """The distinct timed variants (copies left out) that can be counted, for the predictor."""
    if report is None:
        return []
    out = []
    for j, wasm in enumerate(v.wasm):
        roles = tuple(r for r, i in v.index.items() if i == j and not r.endswith(" copy"))
        if not roles:
            continue
        try:
            counts = count_classes(wasm, k.function, cases, sandbox=sandbox)
            out.append(Sample(k.name, roles, counts.per_call, fuel[j], report.ns_per_call(j)))
        except (CountError, UntimeableError):
            continue  # opaque (SIMD) bodies cannot be counted; untimeable ones have no time
    return out


def predictor_figures(rows: list[StartRow], samples: list[Sample]) -> dict:
    """Spearman of the predictor (costs fitted to the run's variants, each kernel predicted from the
    others) and of fuel against measured ns; fills each row's predicted ns for jeet's output."""
    if not samples:
        return {"spearman_predictor": None, "spearman_fuel": None, "variants": 0, "kernels": 0}
    predicted = cross_validated_predictions([s.counts for s in samples], [s.ns for s in samples],
                                            [s.kernel for s in samples])
    by_role = {(s.kernel, role): p for s, p in zip(samples, predicted) for role in s.roles}
    for row in rows:
        p = by_role.get((row.kernel, f"jeet {row.start}"))
        row.predicted_ns_jeet = round(p, 3) if p is not None else None
    ns = [s.ns for s in samples]
    return {"spearman_predictor": round(spearman(predicted, ns), 3),
            "spearman_fuel": round(spearman([s.fuel for s in samples], ns), 3),
            "variants": len(samples), "kernels": len({s.kernel for s in samples})}
