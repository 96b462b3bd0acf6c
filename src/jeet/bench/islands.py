"""`jeet bench --suite islands`: do K islands on K cores reach the one-core result sooner?

For each kernel and seed, one island on one core (a plain `Evolution` with the default settings,
evaluating in its own process) runs for the budget; its final champion's fuel over the held-out
cases is "the 1-core result". Then an archipelago of K = 2 islands with the command line's defaults
(one process each, each island the population of the 1-core run, migration along a ring every 5
generations) runs for the same budget from the same master seed, and its time is the moment any island first held a champion whose held-out
fuel is at most the 1-core result. Both clocks start before anything is set up, so process
start-up counts against the islands.

Two layouts are measured against the same 1-core run: "same", each island the 1-core run's population
(K independent searches that trade migrants), and "split", each island 1/K of it (one population
evaluated on K cores, as island models usually divide work).

Three ratios per trial, medians over trials: the issue's figure, islands' time / the 1-core run's
wall time (target <= 0.60); the stricter islands' time / the moment the 1-core run itself first
held its result; and a work ratio, the evaluations the first island to get there had done per
evaluation the 1-core run had done at its own moment, which is what the strict ratio would be
with a free core per island and no start-up. A trial where the islands never get there counts as
infinitely slow.
"""

from __future__ import annotations

import json
import math
import shlex
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..evolve import EvolveConfig, Evolution, load_problem
from ..evolve.islands import Archipelago, ChampionChange, warm_start
from ..evolve.pool import default_workers
from ..sandbox import Sandbox
from .results import json_safe

DEFAULT_KERNELS = ("popcount", "isqrt", "fnv1a32", "collatz")
ISLANDS = 2
TARGET_RATIO = 0.60
MAX_SEEDS = 3


@dataclass
class IslandTrial:
    kernel: str
    seed: int
    layout: str                    # "same": each island the 1-core population; "split": 1/K of it
    islands: int
    island_population: int
    one_core_population: int
    budget_s: float
    baseline_fuel: int             # the input's held-out fuel
    one_core_fuel: int             # the 1-core run's final champion, held-out fuel
    one_core_time_s: float         # when the 1-core run first held a champion that good
    one_core_wall_s: float
    one_core_evaluations: int
    islands_time_s: float | None   # when an island first held a champion that good (None: never)
    islands_fuel: int              # the archipelago's final champion, held-out fuel
    islands_wall_s: float
    islands_evaluations: int
    immigrants_accepted: int
    wall_ratio: float              # islands_time_s / one_core_wall_s (the figure)
    time_ratio: float              # islands_time_s / one_core_time_s
    work_ratio: float              # evaluations of the first island there / the 1-core run's at its moment


class _HeldOutFuel:
    """Held-out fuel per specimen, computed once (None for a specimen that fails a held-out case)."""

    def __init__(self, problem, sandbox: Sandbox) -> None:
        self.problem, self.sandbox, self.memo = problem, sandbox, {}

    def __call__(self, sha: str, wasm: bytes) -> int | None:
        if sha not in self.memo:
            o = self.problem.oracle
            v = o.verify(self.sandbox, wasm, self.problem.function, o.held_out, stop_at_first_failure=True)
            self.memo[sha] = v.fuel if v.ok else None
        return self.memo[sha]


def _first_reaching(history: list[ChampionChange], fuel_of, target: int) -> ChampionChange | None:
    """The earliest champion change at or below `target` held-out fuel."""
    hits = [c for c in history if (f := fuel_of(c.sha256, c.wasm)) is not None and f <= target]
    return min(hits, key=lambda c: c.at_s) if hits else None


def one_core_run(problem, cfg: EvolveConfig) -> tuple[list[ChampionChange], float, int]:
    """A plain single-island run evaluating in this process: its champion changes with their times,
    its wall time and its evaluations."""
    t0 = time.monotonic()
    history: list[ChampionChange] = []

    def note(evo: Evolution, _row=None) -> None:
        c = evo.champion
        if not history or history[-1].sha256 != c.sha256:
            history.append(ChampionChange(0, evo.state.generation, time.monotonic() - t0, c.sha256,
                                          c.evaluation.fuel, evo.state.evaluations, c.wasm))

    with Evolution(problem, cfg) as evo:
        evo.start()
        note(evo)
        evo.run(note)
        note(evo)
        return history, time.monotonic() - t0, evo.state.evaluations


LAYOUTS = ("same", "split")


def run_trial(kernel: str, seed: int, budget_s: float, islands: int = ISLANDS,
              layouts: tuple[str, ...] = LAYOUTS, **island_options) -> list[IslandTrial]:
    """One kernel and seed: the 1-core run, then K islands in each layout for the same budget (see the
    module's doc); one IslandTrial per layout."""
    problem = load_problem(None, kernel=kernel, seed=seed, held_out_seed=seed)  # layouts judged on one case set
    base = EvolveConfig(budget_s=budget_s, seed=seed, workers=1)
    one_hist, one_wall, one_evals = one_core_run(problem, base)
    runs = []
    for layout in layouts:
        pop = max(4, base.population // islands) if layout == "split" else base.population
        cfg = base.with_overrides(islands=islands, population=pop, **island_options)
        t0 = time.monotonic()
        with Archipelago(problem, cfg) as arch:
            arch.run()
        runs.append((layout, pop, arch, time.monotonic() - t0))
    with Sandbox(problem.limits) as sb:
        fuel_of = _HeldOutFuel(problem, sb)
        baseline = fuel_of(problem.sha256, problem.wasm)
        target = fuel_of(one_hist[-1].sha256, one_hist[-1].wasm)
        if target is None:  # cannot happen: every champion passed the held-out cases
            raise RuntimeError(f"{kernel}: the 1-core champion fails a held-out case")
        one_hit = _first_reaching(one_hist, fuel_of, target)
        return [_trial(kernel, seed, layout, pop, islands, base, budget_s, baseline, target, one_hit, one_wall,
                       one_evals, arch, arch_wall, fuel_of)
                for layout, pop, arch, arch_wall in runs]


def _trial(kernel, seed, layout, pop, islands, base, budget_s, baseline, target, one_hit, one_wall, one_evals,
           arch, arch_wall, fuel_of) -> IslandTrial:
    isl_hit = _first_reaching(arch.history, fuel_of, target)
    isl_fuel = fuel_of(arch.champion.sha256, arch.champion.wasm)
    isl_time = isl_hit.at_s if isl_hit is not None else None

    def ratio(num: float | None, den: float) -> float:
        return round(num / max(den, 1e-9), 4) if num is not None else math.inf

    return IslandTrial(
        kernel=kernel, seed=seed, layout=layout, islands=islands, island_population=pop,
        one_core_population=base.population, budget_s=budget_s,
        baseline_fuel=baseline, one_core_fuel=target, one_core_time_s=round(one_hit.at_s, 3),
        one_core_wall_s=round(one_wall, 3), one_core_evaluations=one_evals,
        islands_time_s=round(isl_time, 3) if isl_time is not None else None,
        islands_fuel=isl_fuel, islands_wall_s=round(arch_wall, 3), islands_evaluations=arch.evaluations,
        immigrants_accepted=arch.figures()["immigrants_accepted"],
        wall_ratio=ratio(isl_time, one_wall), time_ratio=ratio(isl_time, one_hit.at_s),
        work_ratio=ratio(isl_hit.evaluations if isl_hit else None, max(1, one_hit.evaluations)),
    )


def summary(trials: list[IslandTrial]) -> dict:
    def med(name: str) -> float | None:
        return statistics.median([getattr(t, name) for t in trials]) if trials else None

    wall = med("wall_ratio")
    return {
        "trials": len(trials),
        "median_wall_ratio": wall,
        "median_time_ratio": med("time_ratio"),
        "median_work_ratio": med("work_ratio"),
        "target": TARGET_RATIO,
        "meets_target": wall is not None and wall <= TARGET_RATIO,
        "reached": sum(t.islands_time_s is not None for t in trials),
        "islands_better_final": sum(t.islands_fuel < t.one_core_fuel for t in trials),
        "islands_worse_final": sum(t.islands_fuel > t.one_core_fuel for t in trials),
        "evaluation_ratio": round(sum(t.islands_evaluations for t in trials)
                                  / max(1, sum(t.one_core_evaluations for t in trials)), 3),
    }


def _f(v) -> str:
    return "never" if v is None or (isinstance(v, float) and math.isinf(v)) else f"{v:g}"


def markdown(trials: list[IslandTrial], by_layout: dict[str, dict], command: str, cores: int,
             fork_server_s: float = 0.0) -> str:
    t0 = trials[0] if trials else None
    pops = ", ".join(f"{t.layout}: {t.island_population} each" for t in trials[:len(by_layout)])  # one kernel's
    setup = (f"{cores} cores; {t0.islands} islands ({pops}) against one island of {t0.one_core_population}; "
             f"budget {t0.budget_s:g} s per run; default migration (ring, every 5 generations, 2 best emigrants, "
             "fair replacement)") if t0 else "no trials"
    lines = [
        "# jeet bench --suite islands", "",
        f"Command: `{command}`  ",
        setup, "",
        ("The 1-core result is the held-out fuel of a single island's final champion. Times run from the start of "
         "each run, set-up and process start-up included. wall ratio = islands' time to the 1-core result / the "
         f"1-core run's wall time (the target: <= {TARGET_RATIO:.2f}); time ratio = islands' time / when the 1-core "
         "run itself first held that result; work ratio = evaluations of the first island there / the 1-core run's "
         "evaluations at its moment (the time ratio with a free core per island and no start-up). Layouts: "
         "same = each island the 1-core population, split = each island 1/K of it."), "",
        ("| kernel | seed | layout | input fuel | 1-core fuel | 1-core there s | 1-core wall s | islands there s "
         "| wall ratio | time ratio | work ratio | islands final fuel | evals 1-core | evals islands | migrants in |"),
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in trials:
        lines.append(f"| {t.kernel} | {t.seed} | {t.layout} | {t.baseline_fuel} | {t.one_core_fuel} | "
                     f"{t.one_core_time_s:g} | {t.one_core_wall_s:g} | {_f(t.islands_time_s)} | {_f(t.wall_ratio)} | "
                     f"{_f(t.time_ratio)} | {_f(t.work_ratio)} | {t.islands_fuel} | {t.one_core_evaluations} | "
                     f"{t.islands_evaluations} | {t.immigrants_accepted} |")
    lines.append("")
    for layout, s in by_layout.items():
        lines += [
            f"**{layout}**:",
            (f"- median wall ratio: **{_f(s['median_wall_ratio'])}** (target <= {TARGET_RATIO:.2f}: "
             f"{'met' if s['meets_target'] else 'not met'}); median time ratio {_f(s['median_time_ratio'])}; "
             f"median work ratio {_f(s['median_work_ratio'])}"),
            (f"- the islands reached the 1-core result in {s['reached']}/{s['trials']} trials; their final champion "
             f"was better in {s['islands_better_final']}, worse in {s['islands_worse_final']}"),
            (f"- evaluations by the islands per evaluation of the 1-core run in the same budget: "
             f"{s['evaluation_ratio']} (2 means both cores were fully the islands')"),
            "",
        ]
    lines += [f"The fork server that island processes come from was started once, before the trials, in "
              f"{fork_server_s:.2f} s (a command-line run pays this once).", ""]
    return "\n".join(lines)


def run(opts, console) -> dict:
    """`jeet bench --suite islands`: writes islands.md and islands.json under opts.out.

    `--kernels` picks the kernels, `--runs N` the seeds per kernel (at most 3), `--budget` each run's."""
    kernels = list(opts.kernels) if opts.kernels else list(DEFAULT_KERNELS)
    seeds = [opts.seed + i for i in range(max(1, min(opts.runs, MAX_SEEDS)))]
    cores = default_workers()
    fork_server_s = warm_start()
    console.print(f"fork server for island processes started in {fork_server_s:.2f} s (once per process)")
    trials = []
    for k in kernels:
        for seed in seeds:
            for t in run_trial(k, seed, opts.budget):
                trials.append(t)
                console.print(f"{k:>12} seed {seed} {t.layout:>5}: 1-core fuel {t.one_core_fuel} at "
                              f"{t.one_core_time_s:.2f} s (wall {t.one_core_wall_s:.1f} s); islands there at "
                              f"{_f(t.islands_time_s)} s, wall ratio {_f(t.wall_ratio)}, time ratio "
                              f"{_f(t.time_ratio)}; islands' final {t.islands_fuel}")
    by_layout = {layout: json_safe(summary([t for t in trials if t.layout == layout])) for layout in LAYOUTS}
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "jeet bench " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    (out / "islands.md").write_text(markdown(trials, by_layout, command.strip(), cores, fork_server_s))
    report = {"summary": by_layout[LAYOUTS[0]], "by_layout": by_layout, "fork_server_start_s": round(fork_server_s, 3),
              "trials": [json_safe(asdict(t)) for t in trials]}
    (out / "islands.json").write_text(json.dumps(report, indent=1))
    return report


