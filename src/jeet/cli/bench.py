"""`jeet bench`: run a benchmark suite (default: the kernel suite) and write its report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from ..errors import JeetError
from . import checks
from .errors import user_errors


@user_errors
def bench(
    suite: str = typer.Option("kernels", "--suite", help="Which benchmark: kernels, runtime, islands, tuner, "
                              "epigenetics, forgetting, compression, latency, timing, prove, bits."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    budget: Optional[float] = typer.Option(None, "--budget", help="Evolution budget per unit of work, in seconds "
                                           "(default 60; bits: 15 per program)."),
    kernels: Optional[str] = typer.Option(None, "--kernels", help="Comma-separated kernel names (default: the suite's)."),
    runs: int = typer.Option(30, "--runs", help="Repetitions for wall-clock medians."),
    seed: int = typer.Option(0, "--seed"),
    workers: int = typer.Option(0, "--workers", help="Evaluation processes (default: one per core)."),
    out: Path = typer.Option(Path("bench-out"), "--out", help="Folder for the report files."),
    no_wasm_opt: bool = typer.Option(False, "--no-wasm-opt", help="tuner suite: evolve without wasm-opt "
                                     "seeds, so the search alone does the optimising."),
    force: bool = typer.Option(False, "--force", help="Allow more --workers than cores."),
    start_from: str = typer.Option("O0,O2", "--from", help="kernels suite: starting points, comma-separated: O0 "
                                   "(clang -O0) and O2, the production build (clang -O2 + wasm-opt -O3, the "
                                   "kernels' O2opt build)."),
) -> None:
    """Measure jeet: the kernel suite against clang -O2 and wasm-opt -O3, or another suite."""
    from ..bench.options import BenchOptions, default_budget, load_suite, parse_starts

    checks.seconds("--budget", budget)
    budget = default_budget(suite) if budget is None else budget
    checks.count("--runs", runs, 1, 100_000)
    checks.count("--seed", seed, 0, checks.MAX_SEED)
    checks.workers("--workers", workers, force)
    if out.exists() and not out.is_dir():
        raise JeetError(f"--out {out} exists and is not a folder")
    try:
        run = load_suite(suite)
        starts = parse_starts(start_from)
    except ValueError as exc:
        raise JeetError(str(exc)) from None
    names = tuple(n.strip() for n in kernels.split(",") if n.strip()) if kernels else None
    if names is not None:
        from ..kernels import get_kernel
        for n in names:
            try:
                get_kernel(n)
            except ValueError as exc:
                raise JeetError(str(exc)) from None
    console = Console(stderr=True)
    opts = BenchOptions(budget=budget, runs=runs, seed=seed, kernels=names, workers=workers, out=out,
                        wasm_opt=not no_wasm_opt, starts=starts)
    report = run(opts, console)
    if json_out:
        sys.stdout.write(json.dumps(report) + "\n")
    else:
        md = out / ("bench.md" if suite == "kernels" else f"{suite}.md")
        Console().print(md.read_text() if md.exists() else json.dumps(report, indent=1))
        console.print(f"wrote the report under {out}")
