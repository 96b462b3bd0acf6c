"""`jeet tune`: search EvolveConfig's settings with Optuna and write the best as a config file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from ..store import default_data_dir
from . import checks
from .errors import user_errors


@user_errors
def tune(
    trials: int = typer.Option(30, "--trials", help="Finished trials the study should have (a re-run continues it)."),
    budget: Optional[float] = typer.Option(None, "--budget", help="Wall-clock seconds for this session; no new trial starts after."),
    kernels: Optional[str] = typer.Option(None, "--kernels", help="Comma-separated built-in kernels to score on (default: the training half)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Data folder; the study is kept in DATA/tune.db (default ~/.jeet)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    seeds: int = typer.Option(2, "--seeds", help="Seeds per kernel in every trial."),
    offspring: int = typer.Option(4000, "--offspring", help="Budget of every evolution run inside a trial, in offspring."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampler (and first run seed)."),
    jobs: int = typer.Option(0, "--jobs", help="Runs side by side (default: one per core)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Config file to write (default DATA/tuned.json)."),
    force: bool = typer.Option(False, "--force", help="Allow more --jobs than cores."),
) -> None:
    """Tune the genetic algorithm's settings on built-in kernels; resumable; writes a config for `jeet evolve --config`."""
    from ..evolve.pool import default_workers
    from ..tune import TuneSetup, parse_kernels, study_name, tune as run_tune, write_config

    checks.count("--trials", trials, 1, 100_000)
    checks.count("--seeds", seeds, 1, 1000)
    checks.count("--offspring", offspring, 1, checks.MAX_EVALUATIONS)
    checks.count("--seed", seed, 0, checks.MAX_SEED - 1000)
    checks.workers("--jobs", jobs, force)
    checks.seconds("--budget", budget)
    data = data or default_data_dir()
    checks.writable(out, "--out", make_parents=True)
    setup = TuneSetup(kernels=parse_kernels(kernels), seeds=tuple(range(seed, seed + seeds)), offspring=offspring,
                      jobs=jobs or default_workers())
    console = Console(stderr=True)
    console.print(f"jeet tune: study {study_name(setup)} in {Path(data) / 'tune.db'}: {len(setup.kernels)} kernels x "
                  f"{seeds} seeds, {offspring} offspring per run, up to {trials} trials")

    def on_trial(study, t) -> None:
        done = [x for x in study.get_trials(deepcopy=False) if x.value is not None and x.state.name == "COMPLETE"]
        best = min((x.value for x in done), default=None)
        what = f"{t.value:.4f}" if t.value is not None else ""
        if t.state.name == "PRUNED":
            what = f"pruned after {len(t.intermediate_values)} runs"
        elif t.state.name == "FAIL":
            what = f"failed: {t.user_attrs.get('error', 'see above')}"
        tag = " (default)" if t.user_attrs.get("default") else ""
        best_s = f"{best:.4f}" if best is not None else "-"
        console.print(f"  trial {t.number}{tag}: {what}  best {best_s}  [{t.user_attrs.get('run_seconds', 0):.0f} s of runs]")

    report = run_tune(setup, Path(data), trials=trials, budget_s=budget, seed=seed, on_trial=on_trial)
    path = out or Path(data) / "tuned.json"
    if report.best_trial is not None:
        report.config_file = str(write_config(path, report))
    if json_out:
        sys.stdout.write(json.dumps(report.to_dict()) + "\n")
    else:
        _print_report(report, Console())


def _print_report(r, console: Console) -> None:
    if r.best_trial is None:
        console.print(f"study {r.study}: no completed trial yet ({r.trials})")
        return
    t = Table(title=f"jeet tune: study {r.study}", show_header=True)
    t.add_column("setting")
    t.add_column("value", justify="right")
    for k, v in r.config.items():
        t.add_row(k, json.dumps(v) if isinstance(v, dict) else str(v))
    console.print(t)
    default = f"{r.default_value:.4f}" if r.default_value is not None else "n/a"
    gain = f" ({r.improvement:+.1%} less fuel)" if r.improvement is not None else ""
    console.print(f"best value {r.best_value:.4f} (trial {r.best_trial}) vs default {default}{gain}: geometric mean "
                  f"of evolved/original fuel over {len(r.setup['kernels'])} kernels x {len(r.setup['seeds'])} seeds")
    if r.importances:
        top = sorted(r.importances.items(), key=lambda kv: -kv[1])[:8]
        console.print("importances: " + ", ".join(f"{k} {v:.2f}" for k, v in top))
    counts = ", ".join(f"{n} {s}" for s, n in sorted(r.trials.items()))
    console.print(f"trials: {counts}; {r.new_trials} finished in this session ({r.seconds:.0f} s)"
                  + ("" if r.islands_searched else "; islands not searched (jeet.evolve.islands unavailable)"))
    console.print(f"wrote {r.config_file} (use: jeet evolve --config {r.config_file})")
