"""The kernel benchmark's figures: native-time ratio per kernel, and best fitness over generations."""

from __future__ import annotations

from pathlib import Path

from .results import FASTER, BenchReport

_STYLE = {"O0": dict(color="tab:blue", marker="o", label="jeet / input, from O0 (clang -O0)"),
          "O2": dict(color="tab:orange", marker="s", label="jeet / input, from O2 (clang -O2 + wasm-opt -O3)")}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def native_time_plot(report: BenchReport, path: Path) -> None:
    """One line per kernel, a log axis of jeet / input native time with 95 % intervals for each start,
    and clang -O2 + wasm-opt -O3 against -O0 for scale; readable at two dozen kernels."""
    plt = _pyplot()
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    kernels = list(dict.fromkeys(r.kernel for r in report.rows))
    y = {k: len(kernels) - 1 - i for i, k in enumerate(kernels)}
    height = 0.32 * len(kernels) + 2.2
    fig, ax = plt.subplots(figsize=(8, height))
    offset = {"O0": 0.14, "O2": -0.14}
    for start, style in _STYLE.items():
        rows = [r for r in report.by_start(start) if r.ratio is not None]
        if not rows:
            continue
        ys = [y[r.kernel] + offset[start] for r in rows]
        xs = [r.ratio for r in rows]
        err = [[r.ratio - r.ratio_ci[0] for r in rows], [r.ratio_ci[1] - r.ratio for r in rows]]
        ax.errorbar(xs, ys, xerr=err, fmt=style["marker"], color=style["color"], label=style["label"],
                    markersize=4, elinewidth=1, capsize=2)
    ref = [r for r in report.by_start("O0") if r.O2opt_ratio is not None]
    if ref:
        ax.scatter([r.O2opt_ratio for r in ref], [y[r.kernel] + offset["O0"] for r in ref], marker="x",
                   color="grey", s=18, label="clang -O2 + wasm-opt -O3 / clang -O0", zorder=3)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.axvline(1 / FASTER, color="grey", linewidth=0.7, linestyle=":", label=f"{FASTER:g}x faster")
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(list(y.values()), list(y.keys()), fontsize=7)
    ax.set_ylim(-0.7, len(kernels) - 0.3)
    ax.set_xlabel("native time ratio, log scale (below 1: faster than the input)", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(axis="x", alpha=0.3, which="both")
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=6.5, loc="lower center", ncol=2, frameon=False)
    ax.set_title(f"jeet bench: native time of jeet's output per kernel ({report.budget_s:g} s per kernel and start)",
                 fontsize=9)
    fig.tight_layout(rect=(0, 0.45 / height, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def fitness_plot(report: BenchReport, path: Path) -> None:
    """Best fitness over generations: small multiples, one panel per kernel, one line per start."""
    plt = _pyplot()
    kernels = list(dict.fromkeys(r.kernel for r in report.rows))
    cols = min(6, max(1, len(kernels)))
    rows = max(1, -(-len(kernels) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols + 1, 1.7 * rows + 1.2), sharey=True, squeeze=False)
    for ax in axes.flat[len(kernels):]:
        ax.axis("off")
    panels = dict(zip(kernels, axes.flat))
    for r in report.rows:
        ax = panels[r.kernel]
        ax.plot([g["generation"] for g in r.logbook], [g["best_fitness"] for g in r.logbook], linewidth=1.2,
                color=_STYLE[r.start]["color"], label=f"from {r.start}",
                marker="o" if len(r.logbook) < 5 else None, markersize=3)
        ax.set_title(r.kernel, fontsize=8)
    for ax in panels.values():
        ax.axhline(0.5, color="grey", linewidth=0.6, linestyle=":")
        ax.tick_params(labelsize=6)
        ax.grid(alpha=0.3)
    if kernels:
        axes.flat[0].legend(fontsize=6)
    fig.supxlabel("generation", fontsize=9)
    fig.supylabel("best fitness (0.5 = the input)", fontsize=9)
    fig.suptitle(f"jeet bench: fitness over generations ({report.budget_s:g} s per kernel and start)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
