"""`jeet evolve`: evolve one exported function and write out the verified best variant."""

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
from ..evolve import EvolveConfig, Evolution, load_problem
from ..evolve.result import summarize, write_outputs
from ..sandbox import Limits
from ..store import Store, default_data_dir
from . import checks
from .budget import first_generation, process_start, remaining, within
from .errors import user_errors
from .runlock import RunLock

FINAL_TIMING_S = 1.5  # reserved from the budget for the do-no-harm measurement at the end
DEFAULT_PATIENCE_S = 10.0  # `jeet evolve` stops once nothing has improved for this long (see --patience)


@user_errors
def evolve(
    input: Optional[Path] = typer.Argument(None, help="Module to evolve (.wasm or .wat); default: a built-in kernel."),
    function: Optional[str] = typer.Option(None, "--function", "-f", help="Exported function to evolve."),
    tests: Optional[Path] = typer.Option(None, "--tests", help="JSON Lines test cases; default: differential testing against the input."),
    budget: Optional[float] = typer.Option(None, "--budget", help="Wall-clock budget in seconds, counted from the "
                                           "start of the command: reading the input and building the first "
                                           "population count too. A budget that runs out before the search "
                                           "finds anything ends with the input unchanged (improved: false); "
                                           "one too small to read and measure the input ends with one line "
                                           "and exit status 2."),
    generations: Optional[int] = typer.Option(None, "--generations", help="Stop after N generations."),
    evaluations: Optional[int] = typer.Option(None, "--evaluations", help="Stop after N candidate evaluations."),
    population: Optional[int] = typer.Option(None, "--population", help="Population size."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Master seed: same seed, same run."),
    held_out_seed: Optional[int] = typer.Option(None, "--held-out-seed", help="Seed of the held-out cases (default: drawn fresh per run; the evidence records it)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Where to write the best variant."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    data: Optional[Path] = typer.Option(None, "--data", help="Data folder (specimen store); default ~/.jeet."),
    max_specimens: Optional[int] = typer.Option(None, "--max-specimens", help="Cap the store at N specimens (remembered in --data; see jeet gc)."),
    max_store_mb: Optional[float] = typer.Option(None, "--max-store-mb", help="Cap the store at M MiB on disk (remembered in --data; see jeet gc)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the last unfinished run with the same settings."),
    operators: Optional[str] = typer.Option(None, "--operators", help="'structural' (default), 'raw', 'machine' (the rewrites that change what the CPU does), 'all' or a comma-separated list."),
    objective: Optional[str] = typer.Option(None, "--objective", help="What decides the output: 'time' (default; native time under Cranelift, "
                                            "and only a variant measurably faster than the input is written) or 'fuel'."),
    objectives: Optional[str] = typer.Option(None, "--objectives", help="'weighted' (default) or 'pareto' (NSGA-II over native time (fuel under --objective fuel), memory, size)."),
    kernel: Optional[str] = typer.Option(None, "--kernel", help="Built-in kernel to evolve when no INPUT is given."),
    level: Optional[str] = typer.Option(None, "--level", help="Which build of the kernel to start from: O0 "
                                        "(default; clang -O0), O2 (clang -O2) or O2opt (clang -O2 + wasm-opt -O3)."),
    config: Optional[Path] = typer.Option(None, "--config", help="JSON config file (for example from the tuner)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Evaluation processes (default: one per core)."),
    stagnation: Optional[int] = typer.Option(None, "--stagnation", help="Stop after N generations without a better champion."),
    patience: Optional[float] = typer.Option(None, "--patience", help=f"Stop once nothing has improved for this many seconds (and 50 generations); default {DEFAULT_PATIENCE_S:g}, 0 turns it off."),
    logbook: Optional[Path] = typer.Option(None, "--logbook", help="Write the per-generation logbook (.csv or .json)."),
    no_wasm_opt: bool = typer.Option(False, "--no-wasm-opt", help="Do not seed the population with wasm-opt -O3 output."),
    islands: Optional[int] = typer.Option(None, "--islands", help="Evolve K islands in parallel, one process each, with migration."),
    topology: Optional[str] = typer.Option(None, "--topology", help="Who sends to whom: ring (default), fully_connected or unconnected."),
    migration_interval: Optional[int] = typer.Option(None, "--migration-interval", help="Generations between migrations (default 5)."),
    migration_rate: Optional[int] = typer.Option(None, "--migration-rate", help="Emigrants each island sends per migration (default 2)."),
    emigrant_policy: Optional[str] = typer.Option(None, "--emigrant-policy", help="Which specimens leave: best (default) or random."),
    replacement_policy: Optional[str] = typer.Option(None, "--replacement-policy", help="How immigrants get in: fair (default; only if better) or worst."),
    no_prove: bool = typer.Option(False, "--no-prove", help="Do not prove champions equivalent to the input (held-out testing only; the evidence says so)."),
    prove_bound: Optional[int] = typer.Option(None, "--prove-bound", help="Loop unrolling bound K a champion with loops must be checked to (default 16)."),
    prove_timeout: Optional[float] = typer.Option(None, "--prove-timeout", help="Solver time limit per query, in seconds (default 2; each check at most 3 times that)."),
    force: bool = typer.Option(False, "--force", help="Allow more --workers than cores and more than 4 --islands per core."),
) -> None:
    """Evolve a faster variant of one exported function and write it out with its evidence."""
    started = process_start()  # the budget covers start-up and set-up too
    checks.seconds("--budget", budget)
    checks.count("--generations", generations, 1, checks.MAX_GENERATIONS)
    checks.count("--evaluations", evaluations, 1, checks.MAX_EVALUATIONS)
    checks.count("--population", population, 4, checks.MAX_POPULATION)
    checks.count("--seed", seed, 0, checks.MAX_SEED)
    checks.count("--stagnation", stagnation, 1, checks.MAX_GENERATIONS)
    checks.workers("--workers", workers, force)
    checks.islands(islands, force)
    checks.count("--prove-bound", prove_bound, 1, 4096)
    checks.seconds("--prove-timeout", prove_timeout, 3600)
    checks.check_input(input, "module")
    checks.check_tests(tests)
    if config is not None:
        checks.check_tests(config, "--config")
    checks.writable(out, "--out", make_parents=True)
    checks.writable(logbook, "--logbook")
    base = EvolveConfig.from_file(config) if config else EvolveConfig()
    checks.evolve_config(base, f"config {config}")
    cfg = base.with_overrides(budget_s=budget, generations=generations, max_evaluations=evaluations,
                              population=population, seed=seed, operators=operators, objectives=objectives,
                              workers=workers, stagnation=stagnation, objective=objective)
    if no_wasm_opt:
        cfg = cfg.with_overrides(use_wasm_opt=False)
    cfg = cfg.with_overrides(prove=False if no_prove else None, prove_bound=prove_bound, prove_timeout_s=prove_timeout)
    if patience is not None and patience < 0:
        raise JeetError("--patience must be at least 0 (0 turns it off)")
    if patience == 0:
        cfg = replace(cfg, patience_s=None)
    elif patience is not None or (config is None or "patience_s" not in _keys(config)):
        cfg = cfg.with_overrides(patience_s=patience or DEFAULT_PATIENCE_S)
    cfg = cfg.with_overrides(islands=islands, topology=topology, migration_interval=migration_interval,
                             migration_rate=migration_rate, emigrant_policy=emigrant_policy,
                             replacement_policy=replacement_policy)
    checks.workers("config workers", cfg.workers, force)
    checks.islands(cfg.islands, force)
    if input is None and tests is not None and kernel is None:
        raise JeetError("--tests needs an INPUT module")
    if max_specimens is not None or max_store_mb is not None:  # remembered in the folder: every store opened there obeys
        Store(data or default_data_dir(), max_specimens=max_specimens, max_store_mb=max_store_mb).close()
    limits = Limits(fuel=cfg.fuel, memory_bytes=cfg.memory_bytes, deadline_s=cfg.deadline_s)
    set_up = time.monotonic()
    with within(cfg.budget_s, "reading and checking the input", started):
        if level is not None:
            input, function, tests = _kernel_build(input, kernel, level, function, tests)
        problem = load_problem(input, function, tests, seed=cfg.seed, limits=limits,
                               train_size=cfg.train_size, held_out_factor=cfg.held_out_factor, kernel=kernel,
                               held_out_seed=held_out_seed)
    checks.population("--population", cfg.population, len(problem.wasm), cfg.islands)
    total = cfg.budget_s
    cfg = cfg.with_overrides(budget_s=remaining(cfg.budget_s, started, time.monotonic() - set_up))
    if cfg.objective == "time" and cfg.budget_s is not None:  # leave room for the do-no-harm measurement
        cfg = cfg.with_overrides(budget_s=max(cfg.budget_s / 2, cfg.budget_s - FINAL_TIMING_S))
    first_generation(problem.wasm, cfg.population, cfg.workers or checks.cores(), cfg.budget_s)
    # the search ends here, whatever is still being built or evaluated then (the rest is the final check)
    deadline = time.monotonic() + cfg.budget_s if cfg.budget_s is not None else None
    explicit_out = out is not None
    out = out or Path(f"{problem.name}.evolved.wasm")
    checks.writable(out, "--out", make_parents=True)
    console = Console(stderr=True)
    if cfg.islands > 1:  # the islands search by fuel; under "time" native time picks the archipelago's output
        return _evolve_islands(problem, cfg, data, resume, json_out, out, explicit_out, logbook, console, started)
    with Store(data or default_data_dir()) as store, \
            Evolution(problem, cfg, store=store, resume=resume, deadline=deadline) as evo, \
            RunLock(store.root, evo.fingerprint(), resume, store.find_resumable_run, console):
        with within(total, "measuring the input", started):
            evo.measure()
        evo.populate()  # cut short at the deadline: the input is then the answer
        if json_out:
            reason = evo.run()
        else:
            reason = _run_with_progress(evo, cfg, console)
        # do no harm: when nothing faster was found, write nothing new (or the input, if --out was given)
        writes = result_writes(evo, explicit_out)
        result = summarize(evo, reason, time.monotonic() - started, out if writes else None)
        if writes:
            write_outputs(evo, result, out)
        if logbook:
            evo.logbook.write(logbook)
    for notice in result.notices:
        console.print(f"jeet: {notice}", highlight=False)
    if json_out:
        sys.stdout.write(json.dumps(result.to_dict()) + "\n")
    else:
        _print_result(result, Console())


def result_writes(evo, explicit_out: bool) -> bool:
    """Whether to write the output files (a run or an archipelago): always under fuel; under time only an
    improvement, or the input unchanged when the user named --out."""
    return evo.race is None or bool(evo.improved) or explicit_out


def _kernel_build(input: Optional[Path], kernel: Optional[str], level: str, function: Optional[str],
                  tests: Optional[Path]) -> tuple[Optional[Path], Optional[str], Optional[Path]]:
    """`--level`: the kernel's build at that level, as an INPUT with the kernel's function and tests."""
    from ..kernels import DEFAULT_KERNEL, KernelError, get_kernel

    if input is not None:
        raise JeetError("--level selects a build of a built-in kernel: use it with --kernel, not with INPUT")
    try:
        k = get_kernel(kernel or DEFAULT_KERNEL)
        path = k.wasm_path(level)
    except KernelError as exc:
        raise JeetError(str(exc)) from None
    if level == "O0":
        return None, function, tests  # the default build: evolve it exactly as without --level
    return path, function or k.function, tests if tests is not None else k.tests_path()


def _keys(path: Path) -> set[str]:
    """The settings a config file gives (it was read and checked already)."""
    data = json.loads(Path(path).read_text())
    return set(data.get("evolve", data))


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
    v = r.verification
    if v["status"] in ("proved", "bounded"):
        k = f" (k = {v['bound']})" if v.get("bound") else ""
        console.print(f"verification: {v['status']}{k} by {v['method']} in {v['solver_s']:.2f} s; "
                      f"{v.get('counterexamples_fed_back', 0)} counterexample(s) fed back during the run")
    else:
        console.print(f"verification: {v['reason']}")
    console.print(f"{r.generations} generations, {r.evaluations} evaluations in {r.seconds:.1f} s "
                  f"({r.evaluations / max(r.seconds, 1e-9):.0f}/s), valid offspring {r.valid_offspring_rate:.1%}")
    console.print(f"{r.distinct_candidates} distinct candidates ({r.repeated_candidates} repeats), "
                  f"{r.distinct_per_s_per_core:.0f} per second per core on {r.cores} core(s)")
    console.print(f"stopped: {r.stopped}")
    if r.objective == "time":
        if r.time_ratio is not None:
            console.print(f"native time: {r.baseline_ns:.2f} -> {r.best_ns:.2f} ns per call, ratio {r.time_ratio:.3f} "
                          f"(95% CI {r.time_ratio_ci[0]:.3f}-{r.time_ratio_ci[1]:.3f}); timing took "
                          f"{r.timing_seconds:.1f} s ({r.timing_share:.0%} of the run)")
        if not r.improved:
            console.print("no faster variant found: native time did not improve on the input with 95% confidence "
                          "by at least 3%" + (f"; wrote the input unchanged to {r.out}" if r.out else "; nothing written"))
            return
    console.print(f"wrote {r.out} (+ .evidence.json, .tests.jsonl)")


def _evolve_islands(problem, cfg: EvolveConfig, data: Optional[Path], resume: bool, json_out: bool, out: Path,
                    explicit_out: bool, logbook: Optional[Path], console: Console, started: float) -> None:
    """`--islands K`: an archipelago of K island processes; it writes what a single-island run writes."""
    from ..evolve.islands import Archipelago, summarize_archipelago

    with Store(data or default_data_dir()) as store, \
            Archipelago(problem, cfg, store=store, resume=resume, on_event=lambda m: console.print(f"jeet: {m}")) as arch, \
            RunLock(store.root, arch.fingerprint(), resume, store.find_resumable_run, console):
        reason = arch.run() if json_out else _run_islands_with_progress(arch, cfg, console)
        writes = result_writes(arch, explicit_out)
        result = summarize_archipelago(arch, reason, time.monotonic() - started, out if writes else None)
        if writes:
            write_outputs(arch, result, out)
        if logbook:
            arch.logbook.write(logbook)
    for notice in result.notices:
        console.print(f"jeet: {notice}", highlight=False)
    figures = arch.figures()
    if json_out:
        sys.stdout.write(json.dumps(result.to_dict() | {"islands": figures}) + "\n")
        return
    _print_result(result, Console())
    per = ", ".join(f"#{i['island']} {i['champion_fuel']} fuel/{i['generations']} gen" + (" (died)" if i["status"] == "died" else "")
                    for i in figures["per_island"])
    Console().print(f"{figures['islands']} islands ({figures['topology']}): {per}; migrants let in "
                    f"{figures['immigrants_accepted']}/{figures['immigrants_offered']}")


def _run_islands_with_progress(arch, cfg: EvolveConfig, console: Console) -> str:
    """A bar over generations (the slowest island's) when they bound the run, else over the budget."""
    by_generation = cfg.generations is not None
    total = cfg.generations if by_generation else cfg.budget_s
    columns = [TextColumn("[bold]gen {task.fields[gen]}"), BarColumn(),
               TextColumn("{task.fields[islands]} islands  best fuel {task.fields[fuel]}  evals {task.fields[evals]}"),
               TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("islands", total=total, gen=0, fuel="-", islands=cfg.islands, evals=0)

        def on_report(a, _report) -> None:
            gen = min(i.generation for i in a.islands)
            done = gen if by_generation else min(time.monotonic() - a.t0, total or 0.0)
            fuels = [i.champion.fuel for i in a.islands if i.champion is not None]
            progress.update(task, completed=done, gen=gen, fuel=min(fuels) if fuels else "-",
                            islands=sum(i.status != "died" for i in a.islands), evals=a.evaluations)

        arch.on_report = on_report
        reason = arch.run()
        on_report(arch, None)  # the islands' last figures came with their results, not in a report
        return reason
