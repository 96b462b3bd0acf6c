"""The tuner's objective: how good is one setting of EvolveConfig?

A setting is run on every (kernel, seed) unit at the same budget, counted in offspring (variation
draws, the initial population's included) rather than seconds, so scores are reproducible on a busy
machine and every setting gets the same amount of search whatever its population size: the
budget becomes a generation count (`at_budget`; a generation dropped in flight when a counterexample
retrains the population is extra). A unit's ratio is the champion's fuel over the original's, both
summed over the unit's held-out cases; a setting's score is the geometric mean over units of the
ratios, each floored at `ratio_floor` (lower is better). The floor is there because a few kernels
have one discrete jackpot (a counting loop becoming `i32.popcnt` takes the ratio from 0.45 to 0.003):
unfloored, one lucky run would outweigh steady gains on every other kernel and the tuner would chase
luck. The running score is reported after each unit, in a fixed order, so Optuna's pruner can stop
a weak setting early.
"""

from __future__ import annotations

import math
import os
import signal
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from functools import lru_cache
from multiprocessing import get_context
from typing import Any, Callable

import optuna

from ..errors import JeetError
from ..lifeline import exit_with
from ..evolve import EvolveConfig, Evolution, Problem, load_problem
from ..sandbox import Limits, Sandbox
from ..errors import TuneError
from .space import suggest


@dataclass(frozen=True, slots=True)
class TuneSetup:
    """What every trial is scored on: kernels x seeds, each run for `offspring` offspring."""

    kernels: tuple[str, ...]
    seeds: tuple[int, ...] = (0, 1)
    offspring: int = 3000
    workers: int = 1      # evaluation processes inside one run (1: in the unit's own process)
    jobs: int = 1         # units run side by side
    use_wasm_opt: bool = True
    ratio_floor: float = 0.2  # a run counts as at most 1/ratio_floor times better than the original

    def __post_init__(self) -> None:
        if not self.kernels or not self.seeds:
            raise TuneError("tuning needs at least one kernel and one seed")
        if not 0 <= self.ratio_floor < 1:
            raise TuneError("ratio_floor must be in [0, 1)")
        if self.offspring < 1 or self.workers < 0 or self.jobs < 1:
            raise TuneError("offspring and jobs must be at least 1, workers at least 0")

    def units(self) -> list[tuple[str, int]]:
        """(kernel, seed) in the order trials run and report them: seed by seed, every kernel each time."""
        return [(k, s) for s in self.seeds for k in self.kernels]


@dataclass(frozen=True, slots=True)
class UnitResult:
    kernel: str
    seed: int
    ratio: float          # champion held-out fuel / original held-out fuel
    fuel: int
    baseline_fuel: int
    evaluations: int
    generations: int
    seconds: float


def at_budget(config: EvolveConfig, offspring: int) -> EvolveConfig:
    """`config` bounded by generations so that it makes about `offspring` offspring in all (per island:
    the initial population's 2*(P-1) mutants, then P - keep per generation), with no clock in play."""
    p = config.population
    n_keep = max(1, round(p * config.keep_fraction))
    n_mut = round(p * config.mutate_fraction)
    per_generation = max(1, n_mut + max(0, p - n_keep - n_mut))
    per_island = offspring / config.islands - 2 * (p - 1)
    generations = max(1, math.ceil(per_island / per_generation))
    return replace(config, generations=generations, budget_s=None, max_evaluations=None, stagnation=None)


def geometric_mean(values: list[float], floor: float = 0.0) -> float:
    """exp(mean(log(max(v, floor)))), NaN for no values."""
    if not values:
        return float("nan")
    return math.exp(sum(math.log(max(v, floor, 1e-12)) for v in values) / len(values))


@lru_cache(maxsize=64)
def _problem(kernel: str, seed: int, train_size: int, held_out_factor: int) -> tuple[Problem, int]:
    """The unit's problem (its oracle is seeded) and the original's held-out fuel; built once per process."""
    # held-out cases pinned to the seed: settings are compared on the very same cases
    problem = load_problem(None, kernel=kernel, seed=seed, limits=Limits(), train_size=train_size,
                           held_out_factor=held_out_factor, held_out_seed=seed)
    with Sandbox(problem.limits) as sb:
        v = problem.oracle.verify(sb, problem.wasm, problem.function, problem.oracle.held_out)
    return problem, v.fuel


def run_unit(kernel: str, seed: int, overrides: dict[str, Any], offspring: int, *, workers: int = 1,
             use_wasm_opt: bool = True) -> UnitResult:
    """Evolve `kernel` under EvolveConfig(**overrides) with `seed` for `offspring` offspring; score the champion."""
    # the tuner scores fuel, reproducibly: no native-time races inside its units
    cfg = EvolveConfig(**{"objective": "fuel", **overrides, "seed": seed, "workers": workers,
                          "use_wasm_opt": use_wasm_opt})
    cfg = at_budget(cfg, offspring)
    problem, base_fuel = _problem(kernel, seed, cfg.train_size, cfg.held_out_factor)
    t0 = time.monotonic()
    if cfg.islands > 1:
        from ..evolve.islands import Archipelago

        with Archipelago(problem, replace(cfg, workers=1)) as arch:
            arch.run()
            champion, evaluations, generations = arch.champion, arch.evaluations, arch.generations
    else:
        with Evolution(problem, cfg) as evo:
            evo.run()
            champion, evaluations, generations = evo.champion, evo.state.evaluations, evo.state.generation
    seconds = time.monotonic() - t0
    with Sandbox(problem.limits) as sb:
        v = problem.oracle.verify(sb, champion.wasm, problem.function, problem.oracle.held_out)
    fuel = v.fuel if v.ok else base_fuel  # a champion is always verified; if not, it earns nothing
    return UnitResult(kernel, seed, fuel / base_fuel if base_fuel else 1.0, fuel, base_fuel, evaluations,
                      generations, round(seconds, 3))


def _pool_worker(parent_pid: int) -> None:
    """Pool workers leave Ctrl-C to the main process, which stops them (see UnitRunner.close), and go
    when it goes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exit_with(parent_pid)


def _run_unit_job(args: tuple) -> UnitResult:
    kernel, seed, overrides, offspring, workers, use_wasm_opt = args
    return run_unit(kernel, seed, overrides, offspring, workers=workers, use_wasm_opt=use_wasm_opt)


@dataclass
class UnitRunner:
    """Runs units in this process (jobs=1) or on a pool of processes, handing results back in order."""

    setup: TuneSetup
    _pool: ProcessPoolExecutor | None = field(default=None, init=False)

    def map(self, overrides: dict[str, Any]):
        """Yield one UnitResult per unit, in `setup.units()` order; closing the generator early cancels the rest."""
        s = self.setup
        jobs = [(k, seed, overrides, s.offspring, s.workers, s.use_wasm_opt) for k, seed in s.units()]
        if s.jobs == 1:
            for job in jobs:
                yield _run_unit_job(job)
            return
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=s.jobs, mp_context=get_context("forkserver"),
                                             initializer=_pool_worker, initargs=(os.getpid(),))
        futures: list[Future] = [self._pool.submit(_run_unit_job, job) for job in jobs]
        try:
            for fut in futures:
                yield fut.result()
        except BrokenProcessPool:
            self.close()  # the next trial starts a fresh pool
            raise TuneError("a run's process died (out of memory?)") from None
        finally:
            for fut in futures:
                fut.cancel()

    def close(self, *, kill: bool = False) -> None:
        """Shut the pool down; `kill` stops runs in progress too (after Ctrl-C) instead of waiting for them."""
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        if kill:
            # ProcessPoolExecutor has no public terminate before Python 3.14
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)


class Objective:
    """Optuna objective: suggest a setting, run it unit by unit, report the running geometric mean."""

    def __init__(self, setup: TuneSetup, *, islands: bool,
                 on_unit: Callable[[optuna.trial.Trial, UnitResult], None] | None = None) -> None:
        self.setup = setup
        self.islands = islands
        self.on_unit = on_unit
        self.runner = UnitRunner(setup)

    def __call__(self, trial: optuna.trial.Trial) -> float:
        overrides = suggest(trial, islands=self.islands)
        try:
            EvolveConfig(**overrides)
        except JeetError as exc:
            trial.set_user_attr("error", str(exc))
            raise TuneError(f"trial {trial.number}: {exc}") from None
        ratios: dict[str, float] = {}
        seconds = 0.0
        results = self.runner.map(overrides)
        try:
            for step, r in enumerate(results):
                ratios[f"{r.kernel}/{r.seed}"] = round(r.ratio, 6)
                seconds += r.seconds
                value = geometric_mean(list(ratios.values()), self.setup.ratio_floor)
                trial.report(value, step)
                trial.set_user_attr("ratios", ratios)
                trial.set_user_attr("run_seconds", round(seconds, 3))
                if self.on_unit is not None:
                    self.on_unit(trial, r)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after {step + 1} of {len(self.setup.units())} units")
        except optuna.TrialPruned:
            raise
        except KeyboardInterrupt:
            self.runner.close(kill=True)
            trial.set_user_attr("interrupted", True)
            raise
        except JeetError as exc:
            trial.set_user_attr("error", str(exc))
            raise
        except Exception as exc:  # a bug in one setting's run must not end a long study: record it, go on
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
            raise TuneError(f"trial {trial.number}: {type(exc).__name__}: {exc}") from exc
        finally:
            results.close()
        return value

    def close(self) -> None:
        self.runner.close()
