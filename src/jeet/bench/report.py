"""The benchmark's outputs: a Markdown table and a plot of fitness over generations."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from ..evolve.seeding import wasm_opt_path
from .results import BenchReport


def wasm_opt_available() -> bool:
    return wasm_opt_path() is not None


def _f(v) -> str:
    return "n/a" if v is None else str(v)


def markdown(report: BenchReport, command: str) -> str:
    s = report.summary()
    lines = [
        "# jeet bench",
        "",
        f"Command: `{command}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"workers {report.workers}; budget {report.budget_s:g} s per kernel; "
        f"wasm-opt {'present' if report.wasm_opt else 'absent'}; total {report.seconds:g} s",
        "",
        "Fuel is summed over each kernel's held-out cases (same cases for every column). "
        "Wall times are medians of at least 30 interleaved rounds on wasmtime (Cranelift, no fuel; jeet.timing, "
        "the timing thread's CPU time), input, evolved and -O2 side by side: one pass over up to 200 held-out "
        "cases, the call loop inside wasm; 'net' subtracts an empty function of the same signature timed in the "
        "same harness. Evolved modules are in `evolved/`.",
        "",
        "| kernel | -O0 fuel | -O0 + wasm-opt -O3 | -O2 | -O2 + wasm-opt -O3 | evolved | evolved/-O0 | beats -O2+opt | held-out | evals/s/core (run) | evals/s/core (pipeline) | valid | net wall -O0 µs | net wall -O2 µs | net wall evolved µs | wall ratio | net ratio |",
        "|---|---:|---:|---:|---:|---:|---:|:-:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for k in report.kernels:
        lines.append(
            f"| {k.kernel} | {k.fuel_O0} | {_f(k.fuel_O0_wasm_opt)} | {k.fuel_O2} | {_f(k.fuel_O2_wasm_opt)} | "
            f"{k.fuel_evolved} | {k.ratio_evolved:.3f} | {'yes' if k.beats_O2_wasm_opt else 'no'} | "
            f"{k.held_out_cases - k.held_out_failures}/{k.held_out_cases} | {k.evals_per_s_per_core:.0f} | "
            f"{k.pipeline_evals_per_s:.0f} | "
            f"{k.valid_offspring_rate:.1%} | {k.net_O0_us:.2f} | {k.net_O2_us:.2f} | {k.net_evolved_us:.2f} | "
            f"{k.wall_ratio:.3f} | "
            f"{k.net_ratio:.3f} |")
    lines += [
        "",
        f"- median fuel ratio (evolved / -O0): **{s['median_fuel_ratio']:.3f}**" if s["median_fuel_ratio"] is not None else "- no kernels",
        f"- held-out failures over the suite: **{s['held_out_failures']}**",
        f"- kernels where evolved needs less fuel than -O2 + wasm-opt -O3: {', '.join(s['kernels_beating_O2_wasm_opt']) or 'none'}",
        f"- evaluations per second per core: whole runs (main process, duplicates and held-out checks "
        f"included) median {s['median_evals_per_s_per_core']}; the evaluation pipeline alone (mutate, encode, "
        f"compile/validate, run the training cases; one core) median {s['median_pipeline_evals_per_s_per_core']}",
        f"- median wall-clock ratio (evolved / -O0): {s['median_wall_ratio']}; "
        f"net of the per-call overhead (an empty function's time subtracted): {s['median_net_wall_ratio']}",
        f"- largest resident memory of an evolve run (jeet + workers): {s['max_peak_rss_mb']} MB",
        "- valid offspring rate by operator set (direct application to each -O0 kernel): "
        + ", ".join(f"{v.operator_set} {v.rate:.1%} ({v.valid}/{v.made})" for v in report.validity),
        "",
    ]
    return "\n".join(lines)


def plot(report: BenchReport, path: Path) -> None:
    """Best fitness over generations, one line per kernel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Small multiples: one panel per kernel on a shared scale, readable at two dozen kernels.
    kernels = report.kernels or []
    cols = min(6, max(1, len(kernels)))
    rows = max(1, -(-len(kernels) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols + 1, 1.7 * rows + 1), sharey=True, squeeze=False)
    for ax in axes.flat[len(kernels):]:
        ax.axis("off")
    for ax, k in zip(axes.flat, kernels):
        gens = [r["generation"] for r in k.logbook]
        best = [r["best_fitness"] for r in k.logbook]
        ax.plot(gens, best, linewidth=1.2)
        ax.axhline(0.5, color="grey", linewidth=0.6, linestyle=":")
        ax.set_title(k.kernel, fontsize=8)
        ax.tick_params(labelsize=6)
        ax.grid(alpha=0.3)
    fig.supxlabel("generation", fontsize=9)
    fig.supylabel("best fitness (0.5 = the input)", fontsize=9)
    fig.suptitle(f"jeet bench: fitness over generations ({report.budget_s:g} s per kernel)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
