"""`jeet bench --suite epigenetics`: environment-triggered expression against the single best variant.

For the size-dependent kernel (crc8: a bitwise seed, a 16-entry and a 256-entry table built per call
for the caller's polynomial) the suite builds the per-environment variant table (seeds, per-environment
evolution of `budget` seconds each, the gate over all environments) and reports, per environment, the
expressed variant's mean fuel per call against the single best overall variant's (least geometric mean
of mean fuel over the environments). Target: expression saves >= 20 % fuel in every environment.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from ..epigenetics import ExpressConfig, ExpressionBuild, build_expression, resolve_target

DEFAULT_KERNELS = ("crc8",)
TARGET_GAIN = 0.20


def markdown(builds: list[ExpressionBuild], command: str, budget: float) -> str:
    lines = ["# Epigenetics: expressed variant per environment vs the single best overall variant", "",
             f"Command: `{command}` (evolution: {budget:g} s per environment).", "",
             "Single best overall = the gated variant with the least geometric mean, over the environments, "
             "of its mean fuel per call on each environment's workload. Gain = 1 - expressed / best overall "
             f"(target: >= {TARGET_GAIN:.0%} in every environment). Every variant passed the gate: the "
             "function's held-out cases plus every environment's held-out cases.", ""]
    for b in builds:
        met = all(r.gain >= TARGET_GAIN for r in b.results)
        lines += [f"## {b.name} ({b.function}): target {'met' if met else 'NOT met'}", "",
                  f"Best overall: {b.best_overall.origin} `{b.best_overall.sha256[:12]}`; "
                  f"{len(b.variants)} variants passed the gate of {b.gate_cases} cases, {len(b.rejected)} rejected; "
                  f"{b.seconds:.0f} s.", "",
                  f"| environment | sizes ({b.unit}) | expressed variant | fuel/call | best overall | gain | reference (input) |",
                  "|---|---|---|---:|---:|---:|---:|"]
        for r in b.results:
            lines.append(f"| {r.environment} | {r.sizes[0]}..{r.sizes[1]} | {r.expressed_origin} `{r.expressed[:12]}` "
                         f"| {r.expressed_fuel:,.0f} | {r.best_overall_fuel:,.0f} | {100 * r.gain:.1f} % "
                         f"| {r.reference_fuel:,.0f} |")
        lines += ["", "Every gated variant, mean fuel per call:", "",
                  "| variant | " + " | ".join(s.name for s in b.specs) + " | bytes |",
                  "|---|" + "---:|" * (len(b.specs) + 1)]
        for v in b.variants:
            fuels = [b.table.fuel(s.environment, v.sha256) for s in b.specs]
            lines.append(f"| {v.origin} `{v.short}` | " + " | ".join(f"{f:,.0f}" for f in fuels) + f" | {len(v.wasm)} |")
        if b.runs:
            lines += ["", "Evolution per environment:", "",
                      "| environment | started from | fuel before | champion fuel | generations | evaluations | s |",
                      "|---|---|---:|---:|---:|---:|---:|"]
            for run in b.runs:
                after = "rejected" if run.champion_fuel is None else f"{run.champion_fuel:,.0f}"
                lines.append(f"| {run.environment} | {run.started_from} | {run.seed_fuel:,.0f} | {after} "
                             f"| {run.generations} | {run.evaluations} | {run.seconds:.0f} |")
        lines.append("")
    return "\n".join(lines)


def run(opts, console) -> dict:
    """Writes epigenetics.md and epigenetics.json under opts.out; returns the JSON report."""
    kernels = list(opts.kernels) if opts.kernels else list(DEFAULT_KERNELS)
    builds = []
    for name in kernels:
        config = ExpressConfig(budget_s=opts.budget, seed=opts.seed, workers=opts.workers)
        b = build_expression(resolve_target(name, config=config), config, progress=lambda m: console.print(m))
        for r in b.results:
            console.print(f"{name:>10} {r.environment:>12}: expressed {r.expressed_fuel:,.0f} vs best overall "
                          f"{r.best_overall_fuel:,.0f} fuel/call, gain {100 * r.gain:.1f} %")
        builds.append(b)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    command = ("jeet bench " + " ".join(shlex.quote(a) for a in sys.argv[2:])).strip()
    (out / "epigenetics.md").write_text(markdown(builds, command, opts.budget))
    report = {"target_gain": TARGET_GAIN, "budget_s_per_environment": opts.budget,
              "target_met": all(r.gain >= TARGET_GAIN for b in builds for r in b.results),
              "kernels": [b.to_dict() for b in builds]}
    (out / "epigenetics.json").write_text(json.dumps(report, indent=1) + "\n")
    return report
