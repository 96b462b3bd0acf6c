"""The kernel benchmark as Markdown: the command, the machine, one table row per kernel and starting
point, and the summary lines that state issue 10's targets."""

from __future__ import annotations

import os
import platform
from importlib import metadata

from ..evolve.seeding import wasm_opt_path
from .native import MAX_CASES
from .results import FASTER, BenchReport, StartRow


def wasm_opt_available() -> bool:
    return wasm_opt_path() is not None


def machine() -> str:
    """CPU model, cores, Python, wasmtime and the load average: what the figures depend on."""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    try:
        wasmtime = metadata.version("wasmtime")
    except metadata.PackageNotFoundError:
        wasmtime = "unknown"
    return (f"{platform.machine()} {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"wasmtime {wasmtime}; load average {load}")


def _f(v, fmt: str = "") -> str:
    return "n/a" if v is None else format(v, fmt)


def _ratio(estimate, ci) -> str:
    return "n/a" if estimate is None else f"{estimate:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def _row(r: StartRow) -> str:
    start = "O0" if r.start == "O0" else "O2 (+opt)"
    judge = f"{'yes' if r.improved else 'no'} ({_f(r.judge_margin, '.1%')})"
    share = _f(r.evolve_timing_share, ".1%")
    return (f"| {r.kernel} | {start} | {r.fuel_input:g} | {r.fuel_O2opt:g} | {r.fuel_jeet:g} | "
            f"{_f(r.ns_input, '.2f')} | {_f(r.ns_O2opt, '.2f')} | {_f(r.ns_jeet, '.2f')} | "
            f"{_ratio(r.ratio, r.ratio_ci)} | {_f(r.O2opt_ratio, '.3f') if r.start == 'O0' else '='} | {judge} | "
            f"{'**yes**' if r.slower else 'no'} | {_f(r.predicted_ns_jeet, '.2f')} | "
            f"{r.held_out_cases - r.held_out_failures}/{r.held_out_cases} | {r.distinct_per_s_per_core:.0f} | "
            f"{share} | {r.peak_rss_mb:.0f} |")


def markdown(report: BenchReport) -> str:
    s = report.summary()
    med = s["median_ratio"]
    o0, o2 = report.by_start("O0"), report.by_start("O2")
    lines = [
        "# jeet bench", "",
        f"Command: `{report.command}`  ",
        f"Machine: {report.machine}; workers {report.workers}; budget {report.budget_s:g} s per kernel and start; "
        f"wasm-opt {'present' if report.wasm_opt else 'absent'}; total {report.seconds:g} s", "",
        "Each kernel is evolved from each starting point: **O0** (clang -O0) and **O2**, which here means the "
        "production build, clang -O2 followed by `wasm-opt -O3` (the suite's O2opt build). Native time is ns per "
        "call (the timing thread's CPU time) on wasmtime (Cranelift, opt level speed, no fuel), net of an empty "
        f"function of the same signature; the call loop runs inside wasm over up to {MAX_CASES} held-out cases "
        "(memory included), and a kernel's inputs, their identical copies, clang -O2 + wasm-opt -O3 and jeet's "
        f"outputs are timed in ONE interleaved measurement (at least {report.rows[0].timing_rounds if report.rows else 0} "
        "rounds, order shuffled each round). Fuel is the mean per call on the same cases. 'jeet / input' is the "
        "ratio of medians with its 95 % paired-bootstrap interval (below 1: jeet is faster). 'faster' is the "
        "do-no-harm verdict (jeet.timing.judge_report: the whole interval at or below 1 - margin, the margin "
        "being 3 % or what an identical copy of the input shows, whichever is larger); 'slower' is its mirror "
        "(the whole interval above 1 + the copy's spread). 'predicted' is the native-time predictor fitted to "
        "this run's variants of the other kernels. 'held-out' is the bench's own check of jeet's output. "
        "Evals/s/core counts distinct evaluated candidates (by content hash) per second per evaluation worker. "
        "Jeet's outputs are in `evolved/`.", "",
        "| kernel | from | fuel input | fuel O2opt | fuel jeet | ns input | ns O2opt | ns jeet | jeet / input [95 % CI] "
        "| O2opt / input | faster (margin) | slower | predicted ns jeet | held-out | distinct evals/s/core "
        "| timing share | peak memory MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---|:-:|---:|---:|---:|---:|---:|",
    ]
    lines += [_row(r) for r in report.rows]
    notes = [f"{r.kernel} from {r.start}: {r.timing_note}" for r in report.rows if r.timing_note]
    no_worse = (med.get("O0") is not None and s["median_O2opt_vs_O0"] is not None
                and med["O0"] <= s["median_O2opt_vs_O0"])
    p = report.predictor
    lines += [
        "",
        f"- kernels at least {FASTER:g}x faster than their input from O2 (clang -O2 + wasm-opt -O3): "
        f"**{len(s['faster_1_25x_from_O2'])}/{len(o2)}** ({_f(s['share_faster_1_25x_from_O2'], '.0%')}, "
        f"ratio at most {1 / FASTER:g}; target one third){': ' + ', '.join(s['faster_1_25x_from_O2']) if s['faster_1_25x_from_O2'] else ''}"
        if o2 else "- no run from O2",
        "- median native-time ratio jeet / input: "
        + ", ".join(f"from {st} **{_f(v, '.3f')}**" for st, v in med.items()) + " (target from O2: at most 0.9)",
        f"- median ratio of clang -O2 + wasm-opt -O3 to clang -O0 on the same kernels: "
        f"**{_f(s['median_O2opt_vs_O0'], '.3f')}**; jeet from O0 {'is' if no_worse else 'is not'} at least as fast "
        f"(median {_f(med.get('O0'), '.3f')})" if o0 else "- no run from O0",
        f"- kernels where jeet's output is slower than its input (do no harm, target 0): "
        f"**{len(s['slower_than_input'])}**{': ' + ', '.join(s['slower_than_input']) if s['slower_than_input'] else ''}",
        "- the do-no-harm judge finds jeet's output faster on "
        + ", ".join(f"{n}/{len(report.by_start(st))} kernels from {st}" for st, n in s["improved"].items()),
        f"- held-out failures of jeet's outputs over the suite: **{s['held_out_failures']}**",
        f"- distinct evaluated candidates per second per core (whole runs; counted by "
        f"{', '.join(sorted({r.distinct_source for r in report.rows})) or 'n/a'}): median "
        f"**{_f(s['median_distinct_per_s_per_core'])}** (target 700); the evaluation pipeline alone, one core: "
        f"median {_f(s['median_pipeline_evals_per_s'])}",
        f"- timing overhead: share of the evolve runs spent timing natively, as the runs report it: median "
        f"{_f(s['median_evolve_timing_share'], '.1%')} (0 while the loop times nothing; target at most 20 %); "
        f"the bench's own native measurements: {_f(s['bench_timing_share'], '.1%')} of the bench",
        f"- predictor Spearman against measured native time over {p.get('variants', 0)} distinct variants of "
        f"{p.get('kernels', 0)} kernels, cross-validated by kernel: **{_f(p.get('spearman_predictor'))}** "
        f"(target 0.8); fuel alone: {_f(p.get('spearman_fuel'))}",
        f"- largest memory of an evolve run (jeet + workers, proportional set sizes summed): "
        f"{_f(s['max_peak_rss_mb'])} MB (target < 500)",
        "- valid offspring rate by operator set (direct application to each -O0 kernel): "
        + ", ".join(f"{v.operator_set} {v.rate:.1%} ({v.valid}/{v.made})" for v in report.validity),
        *(f"- {n}" for n in notes),
        "", "## Operators in native time", "",
        "Offspring each operator made over the suite, how many were correct and improving on fuel, and the "
        "native-time races its offspring won against the champion: wins, kernels, and the speedup its wins "
        "brought a run (geometric mean over the runs it won in; 1 = it never won a race; a fuel gain that "
        "Cranelift erases wins nothing).", "",
        "| operator | made | correct | improving (fuel) | native wins | kernels | native speedup |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *(f"| {o['operator']} | {o['made']} | {o['correct']} | {o['improving']} | {o['native_wins']} | "
          f"{o['kernels_won']} | {o['native_speedup']:.3f} |" for o in report.operators()),
        "",
        "![native-time ratio per kernel](native_time.png)", "",
        "![best fitness over generations](fitness.png)", "",
    ]
    return "\n".join(lines)
