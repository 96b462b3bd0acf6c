"""`jeet bench --suite timing`: native time of the kernel suite from each starting point, how noisy
the measurement is, and how well the predictor ranks variants.

For every kernel, one interleaved measurement (`jeet.timing.measure`) on up to 200 of its held-out
cases times: the clang -O0 and clang -O2 builds (the starting points), each beside an identical copy
of itself (the self-vs-self ratio is the noise), clang -O2 + `wasm-opt -O3` (the reference users
ship), and a few correct variants made by jeet's structural operators (so that the predictor is
judged on variants of one function, not only on kernels of different sizes). Fuel and per-class
execution counts come from the sandbox on the same cases. The predictor's Spearman is cross-validated:
each kernel's variants are predicted by costs fitted to the other kernels only. Every measurement is
also recorded in this machine's cost cache (`jeet.timing.CostStore`) so the predictor learns from it.
"""

from __future__ import annotations

import hashlib
import json
import random
import shlex
import statistics
import sys
import time
from dataclasses import asdict, dataclass

from rich.console import Console

from ..errors import JeetError
from ..genetics import Genome, operator_set
from ..kernels import KERNELS, Kernel, get_kernel
from ..oracle import load_tests, tests_oracle
from ..sandbox import Sandbox
from ..timing import (CostStore, TimingError, count_classes, cross_validated_predictions, fit, judge_report, measure,
                      pick_cases, ratio, spearman)
from .options import BenchOptions
from .report import machine as _machine

LEVELS = ("O0", "O2")      # starting points; each is compared with the reference
REFERENCE = "O2opt"        # clang -O2 + wasm-opt -O3
MAX_CASES = 200
MUTANTS = 6


@dataclass
class LevelRow:
    kernel: str
    level: str
    fuel_input: float            # mean fuel per call on the timing cases
    fuel_reference: float
    ns_input: float              # native ns per call, net of the empty function (median)
    ns_reference: float
    ratio: float                 # input / reference, with the bootstrap 95 % interval
    ratio_ci: tuple[float, float]
    self_ratio: float            # input's copy / input: the measurement's noise at this time scale
    self_ci: tuple[float, float]
    predicted_ns_input: float    # the cross-validated predictor's estimate
    reference_judged_faster: bool  # would the do-no-harm judge replace the start by the reference?
    judge_margin: float          # the margin it applied (min_gain, or the A/A control's spread)


@dataclass
class KernelTiming:
    kernel: str
    rows: list[LevelRow]
    variants: int                # measured variants (starting points, copies, reference, mutants)
    mutants: int
    cases: int
    rounds: int
    seconds: float
    spearman_predictor: float    # within this kernel's variants
    spearman_fuel: float


def _mutants(k: Kernel, parents: list[bytes], oracle, sandbox: Sandbox, seed: int, want: int) -> list[bytes]:
    """Up to `want` distinct variants that pass every held-out case, made by chains of structural mutations."""
    rng = random.Random(f"jeet-bench-timing:{k.name}:{seed}")
    ops = [op for op in operator_set("structural") if op.arity == 1]
    pool = [Genome.from_bytes(w, k.function) for w in parents]
    seen = {hashlib.sha256(w).digest() for w in parents}
    out: list[bytes] = []
    for _ in range(40 * want):
        if len(out) >= want:
            break
        child = rng.choice(ops).apply(rng, [rng.choice(pool)])
        if child is None or hashlib.sha256(child.wasm).digest() in seen:
            continue
        seen.add(hashlib.sha256(child.wasm).digest())
        if oracle.verify(sandbox, child.wasm, k.function, oracle.held_out, stop_at_first_failure=True).ok:
            out.append(child.wasm)
            pool.append(child)
    return out


def _fuel(sandbox: Sandbox, wasm: bytes, function: str, cases) -> float:
    results = sandbox.run(wasm, function, cases)
    if not all(r.ok for r in results):
        raise JeetError(f"{function}: a build does not run its own held-out cases")
    return statistics.fmean(r.fuel for r in results)


def measure_kernel(k: Kernel, opts: BenchOptions, sandbox: Sandbox, min_time_s: float) -> tuple[dict, list]:
    """Everything measured for one kernel: the timing report, fuel and class counts per variant."""
    tests = load_tests(k.tests_path(), k.params, k.results)
    oracle = tests_oracle(sandbox, k.wasm("O0"), k.function, tests, seed=opts.seed)
    cases = pick_cases(oracle.held_out, MAX_CASES)
    builds = {level: k.wasm(level) for level in (*LEVELS, REFERENCE)}
    mutants = _mutants(k, [builds["O0"], builds[REFERENCE]], oracle, sandbox, opts.seed, MUTANTS)
    # order: O0, O0 copy, O2, O2 copy, reference, mutants
    variants = [builds["O0"], builds["O0"], builds["O2"], builds["O2"], builds[REFERENCE], *mutants]
    try:
        report = measure(variants, k.function, cases, seed=opts.seed, min_rounds=opts.runs, min_time_s=min_time_s,
                         sample_s=0.002, max_cases=MAX_CASES)
    except TimingError as exc:
        raise JeetError(f"{k.name}: {exc}") from None
    fuel = [_fuel(sandbox, w, k.function, cases) for w in variants]
    counts = [count_classes(w, k.function, cases, sandbox=sandbox) for w in variants]
    return {"report": report, "fuel": fuel, "counts": counts, "mutants": len(mutants)}, variants


def run(opts: BenchOptions, console: Console) -> dict:
    kernels = [get_kernel(n) for n in opts.kernels] if opts.kernels else list(KERNELS)
    min_time_s = min(opts.budget, 1.0)
    t0 = time.monotonic()
    measured: dict[str, dict] = {}
    with Sandbox() as sandbox:
        for k in kernels:
            m, _ = measure_kernel(k, opts, sandbox, min_time_s)
            measured[k.name] = m
            r = m["report"]
            console.print(f"{k.name:>16}: O0 {r.ns_per_call(0):.1f} ns, O2 {r.ns_per_call(2):.1f} ns, "
                          f"O2+wasm-opt {r.ns_per_call(4):.1f} ns ({r.rounds} rounds, {m['mutants']} mutants)")
    # the predictor, cross-validated by kernel over every timeable variant
    xs, ys, groups, fuels, owners = [], [], [], [], []
    for name, m in measured.items():
        r = m["report"]
        for i, v in enumerate(r.variants):
            if v.ok and i not in (1, 3):  # the copies repeat their originals
                xs.append(m["counts"][i].per_call)
                ys.append(r.ns_per_call(i))
                fuels.append(m["fuel"][i])
                groups.append(name)
                owners.append(i)
    cv_predicted = cross_validated_predictions(xs, ys, groups)
    costs = CostStore()
    for x, y in zip(xs, ys):
        costs.observe(x, y, save=False)
    costs.refit()
    kernel_rows: list[KernelTiming] = []
    for name, m in measured.items():
        r = m["report"]
        mine = [j for j, g in enumerate(groups) if g == name]
        rows = []
        for level, base in zip(LEVELS, (0, 2)):
            q = ratio(r, base, 4)
            s = ratio(r, base + 1, base)
            pred = next(cv_predicted[j] for j in mine if owners[j] == base)
            verdict = judge_report(r, base, 4, control=base + 1)
            rows.append(LevelRow(name, level, round(m["fuel"][base], 1), round(m["fuel"][4], 1),
                                 round(r.ns_per_call(base), 2), round(r.ns_per_call(4), 2),
                                 round(q.estimate, 4), (round(q.ci_low, 4), round(q.ci_high, 4)),
                                 round(s.estimate, 4), (round(s.ci_low, 4), round(s.ci_high, 4)), round(pred, 2),
                                 verdict.improved, round(verdict.margin, 4)))
        kernel_rows.append(KernelTiming(
            name, rows, len(r.variants), m["mutants"], r.cases, r.rounds, r.seconds,
            round(spearman([cv_predicted[j] for j in mine], [ys[j] for j in mine]), 3),
            round(spearman([fuels[j] for j in mine], [ys[j] for j in mine]), 3)))
    seconds = round(time.monotonic() - t0, 1)
    summary = _summary(kernel_rows, cv_predicted, xs, ys, fuels)
    command = "jeet bench " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    result = {"command": command.strip(), "machine": _machine(), "seconds": seconds, "summary": summary,
              "costs": {"path": str(costs.path), "observations": len(costs.observations),
                        "ns_per_execution": costs.model.as_dict()},
              "kernels": [asdict(k) for k in kernel_rows],
              "samples": {name: m["report"].to_dict() for name, m in measured.items()}}
    opts.out.mkdir(parents=True, exist_ok=True)
    (opts.out / "timing.json").write_text(json.dumps(result, indent=1))
    (opts.out / "timing.md").write_text(markdown(result, kernel_rows))
    result.pop("samples")
    return result




def _summary(rows: list[KernelTiming], predicted, xs, ys, fuels) -> dict:
    by_level = {level: [r for k in rows for r in k.rows if r.level == level] for level in LEVELS}
    judged = {level: sum(r.reference_judged_faster for r in rs) for level, rs in by_level.items()}
    selfs = [r.self_ratio for k in rows for r in k.rows]
    within_pred = [k.spearman_predictor for k in rows if k.spearman_predictor == k.spearman_predictor]
    within_fuel = [k.spearman_fuel for k in rows if k.spearman_fuel == k.spearman_fuel]
    return {
        "median_ratio_to_reference": {lv: statistics.median(r.ratio for r in rs) for lv, rs in by_level.items() if rs},
        "reference_judged_faster": judged,
        "self_vs_self": {"median": statistics.median(selfs) if selfs else None,
                         "median_abs_deviation": statistics.median(abs(s - 1) for s in selfs) if selfs else None,
                         "max_abs_deviation_above_2ns": max((round(abs(r.self_ratio - 1), 4) for k in rows
                                                             for r in k.rows if r.ns_input >= 2.0), default=None),
                         "intervals_containing_1": sum(r.self_ci[0] <= 1 <= r.self_ci[1] for k in rows for r in k.rows),
                         "intervals": sum(len(k.rows) for k in rows)},
        "spearman_predictor_in_sample": round(spearman([fit(xs, ys).predict(x) for x in xs], ys), 3),
        "spearman_predictor_cross_validated": round(spearman(predicted, ys), 3),
        "spearman_fuel_pooled": round(spearman(fuels, ys), 3),
        "median_spearman_within_kernel": {"predictor": statistics.median(within_pred) if within_pred else None,
                                          "fuel": statistics.median(within_fuel) if within_fuel else None},
        "variants": len(ys),
    }


def markdown(result: dict, rows: list[KernelTiming]) -> str:
    s = result["summary"]

    def ci(pair) -> str:
        return f"[{pair[0]:.3f}, {pair[1]:.3f}]"

    lines = [
        "# jeet bench --suite timing", "",
        f"Command: `{result['command']}`  ",
        f"Machine: {result['machine']}; total {result['seconds']:g} s", "",
        "Native time is ns per call (the timing thread's CPU time) on wasmtime (Cranelift, opt level speed, no fuel), "
        "the call loop inside wasm "
        f"over up to {MAX_CASES} held-out cases (memory included), variants interleaved in randomized order each "
        "round, an empty function's median subtracted; medians over rounds, 95 % intervals by paired bootstrap. "
        "Fuel is the mean per call on the same cases. 'self' is the input against an identical copy of itself "
        "(the noise). 'predicted' is the cross-validated predictor (costs fitted to the other kernels). 'judge' says "
        "whether the do-no-harm rule (jeet.timing.judge_report, the copy as A/A control) would replace the start "
        "by the reference, with the margin it required.", "",
        "| kernel | start | fuel start | fuel -O2+wasm-opt | ns start | ns -O2+wasm-opt | start / ref [95 % CI] "
        "| self [95 % CI] | predicted ns start | judge: ref faster (margin) | rounds | variants |",
        "|---|---|---:|---:|---:|---:|---|---|---:|---|---:|---:|",
    ]
    for k in rows:
        for r in k.rows:
            lines.append(f"| {r.kernel} | {r.level} | {r.fuel_input:g} | {r.fuel_reference:g} | {r.ns_input:.2f} | "
                         f"{r.ns_reference:.2f} | {r.ratio:.3f} {ci(r.ratio_ci)} | {r.self_ratio:.3f} "
                         f"{ci(r.self_ci)} | {r.predicted_ns_input:.2f} | "
                         f"{'yes' if r.reference_judged_faster else 'no'} ({r.judge_margin:.1%}) | {k.rounds} | {k.variants} |")
    sv = s["self_vs_self"]
    med = s["median_ratio_to_reference"]
    lines += [
        "",
        "- median native-time ratio to clang -O2 + wasm-opt -O3: "
        + ", ".join(f"from {lv} **{v:.3f}**" for lv, v in med.items()),
        "- the judge would replace the start by clang -O2 + wasm-opt -O3 on "
        + ", ".join(f"{n}/{len(rows)} kernels from {lv}" for lv, n in s["reference_judged_faster"].items()),
        f"- self-vs-self (noise): median ratio {sv['median']:.4f}, median |ratio - 1| {sv['median_abs_deviation']:.4f}, "
        f"largest |ratio - 1| where the input takes at least 2 ns per call {sv['max_abs_deviation_above_2ns']}; "
        f"{sv['intervals_containing_1']}/{sv['intervals']} intervals contain 1",
        f"- predictor Spearman vs measured ns over {s['variants']} correct variants: cross-validated by kernel "
        f"**{s['spearman_predictor_cross_validated']}** (fitted to all, in sample: {s['spearman_predictor_in_sample']}); "
        f"fuel alone {s['spearman_fuel_pooled']}",
        f"- median Spearman within one kernel's variants: predictor {s['median_spearman_within_kernel']['predictor']}, "
        f"fuel {s['median_spearman_within_kernel']['fuel']}",
        f"- costs (ns per execution) fitted to all {result['costs']['observations']} observations on this machine, "
        f"cached in `{result['costs']['path']}`: "
        + ", ".join(f"{k} {v:.3f}" for k, v in result["costs"]["ns_per_execution"].items() if v > 0.0005),
        "",
    ]
    return "\n".join(lines)
