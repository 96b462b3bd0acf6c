"""`jeet coevolve`: co-evolve a caller and the callee it imports from, judged as a linked pair."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..errors import JeetError
from ..sandbox import Limits
from ..store import Store, default_data_dir
from ..symbiosis import CoevolveConfig, Coevolution, load_pair_problem
from ..symbiosis.result import CoevolveResult, persist_run, summarize, write_outputs
from . import checks
from .budget import process_start, remaining, within
from .errors import user_errors

DEFAULT_BUDGET_S = 30.0


@user_errors
def coevolve(
    caller: Optional[Path] = typer.Argument(None, help="Caller module (.wasm or .wat); default: the built-in example."),
    callee: Optional[Path] = typer.Argument(None, help="Callee module whose exports satisfy the caller's imports."),
    function: Optional[str] = typer.Option(None, "--function", "-f", help="The caller's exported function (the pair's entry point)."),
    tests: Optional[Path] = typer.Option(None, "--tests", help="JSON Lines test cases for FUNCTION; default: differential testing against the original pair."),
    budget: Optional[float] = typer.Option(None, "--budget", help=f"Wall-clock budget in seconds (default {DEFAULT_BUDGET_S:g}, none when --generations is given)."),
    generations: Optional[int] = typer.Option(None, "--generations", help="Stop after N generations."),
    population: Optional[int] = typer.Option(None, "--population", help="Population size of each side."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Master seed: same seed, same run."),
    data: Optional[Path] = typer.Option(None, "--data", help="Data folder (specimen store); default ~/.jeet."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Prefix of the files written (PREFIX.caller.wasm, PREFIX.callee.wasm, ...)."),
) -> None:
    """Co-evolve a caller and a callee linked through imports; write the best pair with its evidence."""
    started = process_start()  # the budget covers start-up and set-up too
    checks.seconds("--budget", budget)
    checks.count("--generations", generations, 1, checks.MAX_GENERATIONS)
    checks.count("--population", population, 4, checks.MAX_POPULATION)
    checks.count("--seed", seed, 0, checks.MAX_SEED)
    checks.check_input(caller, "caller module")
    checks.check_input(callee, "callee module")
    checks.check_tests(tests)
    if out is not None:
        checks.writable(Path(f"{out}.caller.wasm"), "--out", make_parents=True)
    if budget is None and generations is None:
        budget = DEFAULT_BUDGET_S
    cfg = CoevolveConfig(budget_s=None, generations=None).with_overrides(
        budget_s=budget, generations=generations, population=population, seed=seed)
    if tests is not None and caller is None:
        raise JeetError("--tests needs CALLER and CALLEE modules")
    limits = Limits(fuel=cfg.fuel, memory_bytes=cfg.memory_bytes, deadline_s=cfg.deadline_s)
    set_up = time.monotonic()
    with within(cfg.budget_s, "reading and checking the pair", started):
        problem = load_pair_problem(caller, callee, function, tests, seed=cfg.seed, limits=limits,
                                    train_size=cfg.train_size, held_out_factor=cfg.held_out_factor)
    checks.population("--population", cfg.population, len(problem.caller) + len(problem.callee), 2)
    cfg = cfg.with_overrides(budget_s=remaining(cfg.budget_s, started, time.monotonic() - set_up))
    prefix = out or Path(f"{problem.name}.coevolved")
    checks.writable(Path(f"{prefix}.caller.wasm"), "--out", make_parents=True)
    with Store(data or default_data_dir()) as store, Coevolution(problem, cfg) as co:
        co.start()
        reason = co.run() if json_out else _run_with_progress(co, cfg, Console(stderr=True))
        result = summarize(co, reason, time.monotonic() - started)
        result = replace(result, store=persist_run(co, store, result))
        files = write_outputs(co, result, prefix)
        result = replace(result, files=[str(p) for p in files])
    if json_out:
        sys.stdout.write(json.dumps(result.to_dict()) + "\n")
    else:
        _print_result(result, Console())


def _run_with_progress(co: Coevolution, cfg: CoevolveConfig, console: Console) -> str:
    by_generation = cfg.generations is not None
    total = cfg.generations if by_generation else cfg.budget_s
    columns = [TextColumn("[bold]gen {task.fields[gen]}"), BarColumn(),
               TextColumn("best pair fuel {task.fields[fuel]}  pairs {task.fields[pairs]}  "
                          "evals {task.fields[evals]}"), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("coevolve", total=total, gen=0, fuel=co.champion.evaluation.fuel, pairs=0, evals=0)

        def on_gen(c: Coevolution, row) -> None:
            done = row.generation if by_generation else min(time.monotonic() - c.started, total or 0.0)
            progress.update(task, completed=done, gen=row.generation, fuel=row.champion_fuel, pairs=row.pairs,
                            evals=c.state.evaluations)

        return co.run(on_gen)


def _print_result(r: CoevolveResult, console: Console) -> None:
    t = Table(title=f"jeet coevolve: {r.name} / {r.function} -> {', '.join(r.callee_functions)}")
    t.add_column("")
    t.add_column("original pair", justify="right")
    t.add_column("best pair", justify="right")
    t.add_row("fuel (training cases)", str(r.baseline_fuel), f"{r.best_fuel}  ({r.speedup:g}x cheaper)")
    t.add_row("size (bytes, both modules)", str(r.baseline_size), str(r.best_size))
    t.add_row("held-out cases", "", f"{r.held_out_cases - r.held_out_failures}/{r.held_out_cases} passed")
    score = r.symbiosis["score"] if r.symbiosis and r.symbiosis["score"] is not None else None
    t.add_row("symbiosis score", "", "n/a (no other partners)" if score is None else f"{score:+.3f}")
    t.add_row("caller sha256", r.original_caller_sha256[:16], r.caller_sha256[:16])
    t.add_row("callee sha256", r.original_callee_sha256[:16], r.callee_sha256[:16])
    console.print(t)
    if r.strong_pairs:
        s = Table(title="strongest pairs (kept: verified on every held-out case)")
        for col in ("caller", "callee", "fitness", "fuel", "symbiosis", "partners (caller/callee)"):
            s.add_column(col, justify="left" if col in ("caller", "callee") else "right")
        for p in r.strong_pairs:
            s.add_row(p["caller"][:12], p["callee"][:12], f"{p['fitness']:.3f}", str(p["fuel"]),
                      f"{p['symbiosis']:+.3f}", f"{p['caller_partners']}/{p['callee_partners']}")
        console.print(s)
    else:
        console.print("no strong pair (symbiosis above the threshold with enough partners) was kept")
    console.print(f"{r.generations} generations, {r.evaluations} pair evaluations in {r.seconds:.1f} s, "
                  f"stopped on {r.stop_reason}")
    if r.files:
        console.print(f"wrote {', '.join(Path(f).name for f in r.files)}")
