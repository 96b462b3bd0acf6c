"""A PNG of honest coverage over rounds for the protocol and the baselines."""

from __future__ import annotations

from pathlib import Path


def plot_coverage(report: dict, path: Path | str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {"jeet gossip": report["per_round"]}
    for name, label in (("flooding", "flooding (degree 20)"), ("push", "push gossip (fanout 3)")):
        if name in report.get("baselines", {}):
            series[label] = report["baselines"][name]["per_round"]
    start = 100.0 / max(1, report.get("honest_nodes", 1))  # the source holds it when the run starts
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for label, rows in series.items():
        ax.plot([0] + [r["round"] for r in rows], [start] + [100 * r["coverage"] for r in rows], marker="o",
                markersize=3, label=label)
    ax.axhline(99, color="grey", linestyle=":", linewidth=1)
    cfg = report["config"]
    ax.set_title(f"{cfg['nodes']} nodes, {100 * cfg['malicious']:.0f}% malicious, loss {cfg['loss']}, "
                 f"churn {cfg['churn']}, seed {cfg['seed']}", fontsize=9)
    ax.set_xlabel("round (heartbeats since the injection)")
    ax.set_ylabel("honest nodes holding the specimen (%)")
    ax.set_ylim(0, 101)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
