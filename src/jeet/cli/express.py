"""`jeet express`: build a function's per-environment variant table and show what each environment expresses."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from ..errors import JeetError
from . import checks
from .errors import user_errors


def _bounds(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise JeetError(f"--bounds: expected comma-separated integers, got {text!r}") from None


@user_errors
def express(
    target: str = typer.Argument(..., help="A built-in kernel name (e.g. crc8) or a module file (.wasm/.wat)."),
    function: Optional[str] = typer.Option(None, "--function", "-f", help="Exported function (modules exporting several)."),
    tests: Optional[Path] = typer.Option(None, "--tests", help="JSON Lines test cases; default: the kernel's, or differential."),
    budget: float = typer.Option(30.0, "--budget", help="Seconds of evolution in all, shared by the environments (0: seeds only)."),
    generations: Optional[int] = typer.Option(None, "--generations", help="Stop each environment's evolution after N generations."),
    bounds: Optional[str] = typer.Option(None, "--bounds", help="Size bucket bounds, e.g. 8 or 16,1024 (bytes; bits for scalar functions)."),
    max_size: Optional[int] = typer.Option(None, "--max-size", help="Largest size in the last environment's workload."),
    size_arg: Optional[int] = typer.Option(None, "--size-arg", help="Index of the argument that is the input size."),
    seed: int = typer.Option(0, "--seed", help="Master seed: same seed, same cases and runs."),
    workers: int = typer.Option(0, "--workers", help="Evaluation processes (default: one per core)."),
    no_wasm_opt: bool = typer.Option(False, "--no-wasm-opt", help="Do not add wasm-opt -O3 builds to the seeds."),
    node_tag: Optional[List[str]] = typer.Option(None, "--node-tag", help="A tag of this node (key=value) for the saved expression; repeatable."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the expression (expression.json, variants, build.json) here."),
    force: bool = typer.Option(False, "--force", help="Allow more --workers than cores."),
) -> None:
    """Per environment (input-size bucket): the expressed variant, its fuel, the single best overall variant's fuel, the gain."""
    from ..epigenetics import Environment, ExpressConfig, MemoryGauge, build_expression, resolve_target

    checks.seconds("--budget", budget, zero=True)
    checks.count("--generations", generations, 1, checks.MAX_GENERATIONS)
    checks.count("--max-size", max_size, 1, 1 << 32)
    checks.count("--size-arg", size_arg, 0, 1000)
    checks.count("--seed", seed, 0, checks.MAX_SEED)
    checks.workers("--workers", workers, force)
    target_path = Path(target)
    if target_path.exists():
        checks.check_input(target_path, "module")
    checks.check_tests(tests)
    node = Environment(node=tuple(node_tag or ())).node  # checks the tags before any work
    parsed = _bounds(bounds)
    n_envs = len(parsed) + 1 if parsed else 2
    config = ExpressConfig(bounds=parsed, max_size=max_size, size_arg=size_arg, budget_s=budget / n_envs,
                           generations=generations, seed=seed, workers=workers, use_wasm_opt=not no_wasm_opt)
    if out is not None and out.exists() and not out.is_dir():
        raise JeetError(f"--out: {out} exists and is not a folder")
    err = Console(stderr=True)
    built = build_expression(resolve_target(target, function, tests, config), config,
                             progress=None if json_out else (lambda msg: err.print(f"[dim]{msg}[/dim]")))
    report = built.to_dict()
    if out is not None:
        built.expression(memory=MemoryGauge(), node_tags=node).save(out)
        (out / "build.json").write_text(json.dumps(report, indent=1) + "\n")
        report["out"] = str(out)
    if json_out:
        sys.stdout.write(json.dumps(report) + "\n")
        return
    console = Console()
    table = Table(title=f"{built.name}: {built.function}, {len(built.variants)} variants passed the gate "
                        f"({built.gate_cases} cases)")
    for col in ("environment", f"sizes ({built.unit})", "fuel/call", "best overall", "gain", "expressed variant"):
        table.add_column(col, justify="right" if col in ("fuel/call", "best overall", "gain") else "left")
    for r in built.results:
        table.add_row(r.environment, f"{r.sizes[0]}..{r.sizes[1]}", f"{r.expressed_fuel:,.0f}",
                      f"{r.best_overall_fuel:,.0f}", f"{100 * r.gain:.1f} %", f"{r.expressed_origin} [{r.expressed[:8]}]")
    console.print(table)
    console.print(f"single best overall (least geometric-mean fuel over the environments): "
                  f"{built.best_overall.origin} [{built.best_overall.sha256[:12]}]")
    if out is not None:
        console.print(f"wrote the expression to {out}")
