"""`jeet bench`: run the kernel suite and write a Markdown table and a plot."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from ..errors import JeetError
from .errors import user_errors


@user_errors
def bench(
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    budget: float = typer.Option(60.0, "--budget", help="Evolution budget per kernel, in seconds."),
    kernels: Optional[str] = typer.Option(None, "--kernels", help="Comma-separated kernel names (default: all)."),
    runs: int = typer.Option(30, "--runs", help="Wall-clock repetitions per variant (medians are reported)."),
    seed: int = typer.Option(0, "--seed"),
    workers: int = typer.Option(0, "--workers", help="Evaluation processes (default: one per core)."),
    out: Path = typer.Option(Path("bench-out"), "--out", help="Folder for bench.md, bench.json and fitness.png."),
) -> None:
    """Measure jeet on the built-in kernels against clang -O2 and wasm-opt -O3."""
    from ..bench.report import markdown, plot
    from ..bench.suite import run_bench

    if budget <= 0 or runs < 1:
        raise JeetError("--budget must be positive and --runs at least 1")
    names = [n.strip() for n in kernels.split(",") if n.strip()] if kernels else None
    if names is not None:
        from ..kernels import get_kernel
        for n in names:
            try:
                get_kernel(n)
            except ValueError as exc:
                raise JeetError(str(exc)) from None
    console = Console(stderr=True)

    def on_kernel(r) -> None:
        console.print(f"{r.kernel:>16}: fuel {r.fuel_O0} -> {r.fuel_evolved} ({r.ratio_evolved:.3f}x), "
                      f"-O2 {r.fuel_O2}, held-out {r.held_out_cases - r.held_out_failures}/{r.held_out_cases}, "
                      f"{r.evals_per_s_per_core:.0f} evals/s/core (pipeline {r.pipeline_evals_per_s:.0f}), "
                      f"wall x{r.net_ratio:.2f}")

    report = run_bench(names, budget, seed=seed, workers=workers, runs=runs, on_kernel=on_kernel,
                       save_dir=out / "evolved")
    out.mkdir(parents=True, exist_ok=True)
    command = "jeet bench " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    md = markdown(report, command.strip())
    (out / "bench.md").write_text(md)
    (out / "bench.json").write_text(json.dumps(report.to_dict(), indent=1))
    plot(report, out / "fitness.png")
    if json_out:
        sys.stdout.write(json.dumps(report.to_dict()) + "\n")
    else:
        Console().print(md)
        console.print(f"wrote {out / 'bench.md'}, {out / 'bench.json'}, {out / 'fitness.png'}")
