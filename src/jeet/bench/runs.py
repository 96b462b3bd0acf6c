"""One evolve run of a kernel from one starting point, and the figures the bench reads from it.

The run is the Evolution API as `jeet evolve` uses it, in a fresh process of its own as `jeet evolve`
has (so its memory is the run's, not what the bench itself holds after timing and earlier runs). The
bench reads what the result offers (evaluations, held-out evidence, and, once the loop carries them,
`improved`, `time_ratio`, `distinct_candidates` and the time spent timing) and measures the rest
itself: distinct evaluated candidates by content hash at the evaluator, and the peak resident memory
of jeet and its workers.
"""

from __future__ import annotations

import multiprocessing
import random
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psutil

from ..evolve import EvolveConfig, Evolution, Problem, load_problem
from ..evolve.result import summarize
from ..kernels import Kernel
from ..sandbox import Limits
from .results import STARTS


class RssProbe:
    """Largest memory of this process plus its worker processes seen so far: the sum of their proportional
    set sizes (a page shared by n processes counts 1/n in each, so forked workers' shared pages count once),
    or of their resident sets where the system gives no PSS."""

    def __init__(self, every_s: float = 0.5) -> None:
        self.peak = 0
        self.every_s = every_s  # `maybe_sample` reads at most this often: a reading costs milliseconds a process
        self._last = float("-inf")

    def maybe_sample(self) -> None:
        if time.monotonic() - self._last >= self.every_s:
            self.sample()

    def sample(self) -> None:
        self._last = time.monotonic()
        me = psutil.Process()
        total = 0
        for p in (me, *me.children(recursive=True)):
            try:
                total += _resident(p)
            except psutil.Error:
                pass
        self.peak = max(self.peak, total)


def _resident(p: psutil.Process) -> int:
    try:
        return p.memory_full_info().pss
    except (AttributeError, psutil.AccessDenied):
        return p.memory_info().rss


class DistinctCounter:
    """Stands in for the run's evaluator and remembers the content hash of every candidate a worker
    actually evaluated (cache hits and blacklisted repeats are not evaluations). Everything else is
    the wrapped evaluator's."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.hashes: set[str] = set()

    def _note(self, offspring: list) -> list:
        self.hashes.update(o.sha256 for o in offspring if o.evaluated and o.sha256 is not None)
        return offspring

    def run(self, tasks, ctx):
        return self._note(self._inner.run(tasks, ctx))

    def collect(self, pending):
        return self._note(self._inner.collect(pending))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@dataclass
class StartRun:
    """What one run left: the problem, the output jeet would write, and the run's figures."""

    kernel: Kernel
    start: str
    problem: Problem
    output: bytes                  # the champion, or the input when the run says it found nothing faster
    result: dict                   # the EvolveResult as a dict (whatever fields this version carries)
    distinct: int
    distinct_source: str
    seconds: float
    workers: int
    peak_rss: int
    pipeline_evals_per_s: float
    logbook: list[dict] = field(default_factory=list)

    @property
    def evolve_improved(self) -> bool | None:
        v = self.result.get("improved")
        return None if v is None else bool(v)

    @property
    def evolve_timing_share(self) -> float | None:
        """Share of the run spent timing natively, from the result; 0 for a loop that times nothing
        (no native-time fields at all), None for one that times but does not say how long."""
        r = self.result
        if r.get("timing_share") is not None:
            return float(r["timing_share"])
        if r.get("timing_seconds") is not None:
            return float(r["timing_seconds"]) / max(self.seconds, 1e-9)
        return None if any(k in r for k in ("improved", "time_ratio", "best_ns")) else 0.0


def load_start(k: Kernel, start: str, seed: int, limits: Limits, cfg: EvolveConfig) -> Problem:
    """The kernel's build for `start` with its tests, as `jeet evolve --kernel K --level L` loads it."""
    build = STARTS[start]
    path = None if build == "O0" else k.wasm_path(build)
    return load_problem(path, k.function, None if path is None else k.tests_path(), kernel=k.name, seed=seed,
                        limits=limits, train_size=cfg.train_size, held_out_factor=cfg.held_out_factor)


def evolve_from(k: Kernel, start: str, budget_s: float, seed: int, workers: int) -> StartRun:
    """Evolve kernel `k` from `start` for `budget_s` seconds on `workers` processes, in a fresh process."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as fresh:
        return fresh.submit(evolve_here, k, start, budget_s, seed, workers).result()


def evolve_here(k: Kernel, start: str, budget_s: float, seed: int, workers: int) -> StartRun:
    """`evolve_from` in this process (its memory figure then includes whatever this process holds)."""
    cfg = EvolveConfig(budget_s=budget_s, generations=None, stagnation=None, seed=seed, workers=workers)
    problem = load_start(k, start, seed, Limits(), cfg)
    rss = RssProbe()
    t0 = time.monotonic()
    with Evolution(problem, cfg) as evo:
        counter = DistinctCounter(evo.evaluator)
        evo.evaluator = counter
        evo.start()
        reason = evo.run(lambda e, row: rss.maybe_sample())
        rss.sample()
        seconds = time.monotonic() - t0
        result = summarize(evo, reason, seconds, None).to_dict()
        logbook = evo.logbook.as_dicts()
        champion = evo.champion.wasm
        parents = [m.wasm for m in evo.population]
        throughput = pipeline_throughput(problem, parents, evo.baseline, min(5.0, budget_s / 4), seed)
    improved = result.get("improved")
    output = problem.wasm if improved is not None and not improved else champion
    distinct, source = distinct_evaluations(result, counter)
    return StartRun(k, start, problem, output, result, distinct, source, seconds, workers, rss.peak, throughput,
                    logbook)


def distinct_evaluations(result: dict, counter: DistinctCounter) -> tuple[int, str]:
    """Distinct evaluated candidates and where the figure comes from: the run's own count when its
    result carries one ("run"), else the bench's count at the evaluator ("bench"); if the evaluator
    was not reached through `evo.evaluator`, the run's evaluations, named as not deduplicated."""
    if result.get("distinct_candidates") is not None:
        return int(result["distinct_candidates"]), "run"
    if counter.hashes or not result.get("evaluations"):
        return len(counter.hashes), "bench"
    return int(result["evaluations"]), "run evaluations, repeats not removed"


def pipeline_throughput(problem: Problem, parents: list[bytes], baseline, seconds: float, seed: int,
                        operators: str = "structural") -> float:
    """Fully evaluated candidates per second on one core: mutate or cross over, encode, compile
    (which validates), run the training cases, score. Parents are the run's final population, so
    the offspring are as varied as in a real search; repeats (cache hits) are not counted."""
    from dataclasses import replace as dc_replace

    from ..evolve.worker import Context, Task, WorkerSetup, WorkerState, growth_cap
    from ..genetics import operator_set

    rng = random.Random(seed)
    state = WorkerState(WorkerSetup(problem.function, problem.limits, operators,
                                    max_child_bytes=growth_cap(len(problem.wasm))))
    try:
        ctx = Context(dc_replace(problem.oracle, held_out=()), baseline)
        ops = [o.name for o in operator_set(operators)]
        arity = {o.name: o.arity for o in operator_set(operators)}
        evaluated, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            tasks = []
            for _ in range(64):
                op = rng.choice(ops)
                tasks.append(Task(op, tuple(rng.choice(parents) for _ in range(arity[op])), rng.getrandbits(63)))
            evaluated += sum(o.evaluated for o in state.run_chunk(tasks, ctx))
        return evaluated / (time.perf_counter() - t0)
    finally:
        state.close()
