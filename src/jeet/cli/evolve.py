"""`jeet evolve`: evolve one exported function and write out the verified best variant."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..errors import JeetError
from ..evolve import EvolveConfig, Evolution, load_problem
from ..evolve.result import summarize, write_outputs
from ..sandbox import Limits
from ..store import Store, default_data_dir
from .errors import user_errors


@user_errors
def evolve(
    input: Optional[Path] = typer.Argument(None, help="Module to evolve (.wasm or .wat); default: a built-in kernel."),
    function: Optional[str] = typer.Option(None, "--function", "-f", help="Exported function to evolve."),
    tests: Optional[Path] = typer.Option(None, "--tests", help="JSON Lines test cases; default: differential testing against the input."),
    budget: Optional[float] = typer.Option(None, "--budget", help="Wall-clock budget in seconds."),
    generations: Optional[int] = typer.Option(None, "--generations", help="Stop after N generations."),
    evaluations: Optional[int] = typer.Option(None, "--evaluations", help="Stop after N candidate evaluations."),
    population: Optional[int] = typer.Option(None, "--population", help="Population size."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Master seed: same seed, same run."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Where to write the best variant."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    data: Optional[Path] = typer.Option(None, "--data", help="Data folder (specimen store); default ~/.jeet."),
    resume: bool = typer.Option(False, "--resume", help="Continue the last unfinished run with the same settings."),
    operators: Optional[str] = typer.Option(None, "--operators", help="'structural' (default), 'raw', 'all' or a comma-separated list."),
    objectives: Optional[str] = typer.Option(None, "--objectives", help="'weighted' (default) or 'pareto' (NSGA-II over fuel, memory, size)."),
    kernel: Optional[str] = typer.Option(None, "--kernel", help="Built-in kernel to evolve when no INPUT is given."),
    config: Optional[Path] = typer.Option(None, "--config", help="JSON config file (for example from the tuner)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Evaluation processes (default: one per core)."),
    stagnation: Optional[int] = typer.Option(None, "--stagnation", help="Stop after N generations without a better champion."),
    logbook: Optional[Path] = typer.Option(None, "--logbook", help="Write the per-generation logbook (.csv or .json)."),
    no_wasm_opt: bool = typer.Option(False, "--no-wasm-opt", help="Do not seed the population with wasm-opt -O3 output."),
) -> None:
    """Evolve a faster variant of one exported function and write it out with its evidence."""
    base = EvolveConfig.from_file(config) if config else EvolveConfig()
    cfg = base.with_overrides(budget_s=budget, generations=generations, max_evaluations=evaluations,
                              population=population, seed=seed, operators=operators, objectives=objectives,
                              workers=workers, stagnation=stagnation)
    if no_wasm_opt:
        cfg = cfg.with_overrides(use_wasm_opt=False)
    if input is None and tests is not None and kernel is None:
        raise JeetError("--tests needs an INPUT module")
    limits = Limits(fuel=cfg.fuel, memory_bytes=cfg.memory_bytes, deadline_s=cfg.deadline_s)
    problem = load_problem(input, function, tests, seed=cfg.seed, limits=limits,
                           train_size=cfg.train_size, held_out_factor=cfg.held_out_factor, kernel=kernel)
    out = out or Path(f"{problem.name}.evolved.wasm")
    console = Console(stderr=True)
    started = time.monotonic()
    with Store(data or default_data_dir()) as store, Evolution(problem, cfg, store=store, resume=resume) as evo:
        evo.start()
        if json_out:
            reason = evo.run()
        else:
            reason = _run_with_progress(evo, cfg, console)
        result = summarize(evo, reason, time.monotonic() - started, out)
        write_outputs(evo, result, out)
        if logbook:
            evo.logbook.write(logbook)
    if json_out:
        sys.stdout.write(json.dumps(result.to_dict()) + "\n")
    else:
        _print_result(result, Console())


def _run_with_progress(evo: Evolution, cfg: EvolveConfig, console: Console) -> str:
    """A bar over generations when they bound the run, else over the wall-clock budget."""
    by_generation = cfg.generations is not None
    total = cfg.generations if by_generation else cfg.budget_s
    columns = [TextColumn("[bold]gen {task.fields[gen]}"), BarColumn(),
               TextColumn("best fuel {task.fields[fuel]}  valid {task.fields[valid]:.0%}  evals {task.fields[evals]}"),
               TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("evolve", total=total, gen=0, fuel=evo.champion.evaluation.fuel, valid=0.0, evals=0)

        def on_gen(e: Evolution, row) -> None:
            done = row.generation if by_generation else min(row.seconds, total or row.seconds)
            progress.update(task, completed=done, gen=row.generation, fuel=row.champion_fuel,
                            valid=e.valid_offspring_rate, evals=row.evaluations)

        return evo.run(on_gen)


def _print_result(r, console: Console) -> None:
    t = Table(title=f"jeet evolve: {r.name} / {r.function}", show_header=True)
    t.add_column("")
    t.add_column("input", justify="right")
    t.add_column("best", justify="right")
    t.add_row("fuel (training cases)", str(r.baseline_fuel), f"{r.best_fuel}  ({r.fuel_ratio:.3f}x)")
    t.add_row("size (bytes)", str(r.baseline_size), str(r.best_size))
    t.add_row("held-out cases", "", f"{r.held_out_cases - r.held_out_failures}/{r.held_out_cases} passed")
    t.add_row("sha256", r.input_sha256[:16], r.best_sha256[:16])
    console.print(t)
    console.print(f"{r.generations} generations, {r.evaluations} evaluations in {r.seconds:.1f} s "
                  f"({r.evaluations / max(r.seconds, 1e-9):.0f}/s), valid offspring {r.valid_offspring_rate:.1%}, "
                  f"stopped on {r.stop_reason}")
    console.print(f"wrote {r.out} (+ .evidence.json, .tests.jsonl)")
