"""`jeet bench`: the kernel suite measured end to end.

For each kernel: the fuel of clang -O0 output (the input), of `wasm-opt -O3` applied to it, of
clang -O2, of clang -O2 followed by `wasm-opt -O3`, and of jeet's evolved -O0 result within the
budget; the evolved result's held-out check; wall-clock medians of input vs evolved on wasmtime.
All fuel figures are summed over the same held-out cases, so they compare like with like.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Callable

import psutil
import wasmtime

from ..errors import JeetError
from ..evolve import EvolveConfig, Evolution, load_problem
from ..evolve.pool import default_workers
from ..evolve.result import summarize
from ..evolve.seeding import wasm_opt_variant
from ..genetics import Genome, operator_set
from ..kernels import KERNELS, Kernel, get_kernel
from ..oracle import Oracle
from ..sandbox import Limits, Sandbox
from ..timing import TimingError, measure
from .report import markdown, plot, wasm_opt_available
from .results import BenchReport, KernelResult, OperatorValidity


class RssProbe:
    """Largest resident set of this process plus its worker processes seen so far."""

    def __init__(self) -> None:
        self.peak = 0

    def sample(self) -> None:
        me = psutil.Process()
        total = me.memory_info().rss
        for child in me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        self.peak = max(self.peak, total)


def pipeline_throughput(problem, parents: list[bytes], baseline, seconds: float, seed: int,
                        operators: str = "structural") -> float:
    """Fully evaluated candidates per second on one core: mutate or cross over, encode, compile
    (which validates), run the training cases, score. Parents are the run's final population, so
    the offspring are as varied as in a real search; repeats (cache hits) are not counted."""
    from dataclasses import replace as dc_replace

    from ..evolve.worker import Context, Task, WorkerSetup, WorkerState

    rng = random.Random(seed)
    state = WorkerState(WorkerSetup(problem.function, problem.limits, operators))
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


def held_out_fuel(sandbox: Sandbox, oracle: Oracle, wasm: bytes, function: str) -> int | None:
    """Fuel over all held-out cases, or None when the variant fails one (it is then not comparable)."""
    v = oracle.verify(sandbox, wasm, function, oracle.held_out, stop_at_first_failure=True)
    return v.fuel if v.ok else None


def operator_validity(kernels: list[Kernel], spec: str, samples: int, seed: int) -> OperatorValidity:
    """Apply the operator set to each kernel's -O0 module `samples` times; count valid offspring."""
    rng = random.Random(seed)
    engine = wasmtime.Engine()
    ops = operator_set(spec)
    made = valid = 0
    for k in kernels:
        g = Genome.from_bytes(k.wasm("O0"), k.function)
        pool = [g]
        for _ in range(samples):
            op = rng.choice(ops)
            parents = [rng.choice(pool) for _ in range(op.arity)]
            child = op.apply(rng, parents)
            if child is None:
                continue
            made += 1
            try:
                wasmtime.Module.validate(engine, child.wasm)
                valid += 1
                if len(pool) < 32:
                    pool.append(child)
            except Exception:
                pass
    return OperatorValidity(spec, made, valid)


def bench_kernel(k: Kernel, budget_s: float, seed: int, workers: int, runs: int,
                 store=None, save_dir: Path | None = None) -> KernelResult:
    limits = Limits()
    cfg = EvolveConfig(budget_s=budget_s, generations=None, stagnation=None, seed=seed, workers=workers)
    problem = load_problem(None, kernel=k.name, seed=seed, limits=limits, train_size=cfg.train_size,
                           held_out_factor=cfg.held_out_factor)
    t0 = time.monotonic()
    rss = RssProbe()
    with Evolution(problem, cfg, store=store) as evo:
        evo.start()
        reason = evo.run(lambda e, row: rss.sample() if row.generation % 10 == 0 else None)
        rss.sample()
        res = summarize(evo, reason, time.monotonic() - t0, None)
        logbook = evo.logbook.as_dicts()
        evolved = evo.champion.wasm
        parents = [m.wasm for m in evo.population]
        throughput = pipeline_throughput(problem, parents, evo.baseline, min(5.0, budget_s), seed)
    o0, o2 = k.wasm("O0"), k.wasm("O2")
    o0_opt, o2_opt = wasm_opt_variant(o0), wasm_opt_variant(o2)
    with Sandbox(limits) as sb:
        fuel = {name: (held_out_fuel(sb, problem.oracle, w, k.function) if w is not None else None)
                for name, w in (("O0", o0), ("O0opt", o0_opt), ("O2", o2), ("O2opt", o2_opt), ("evolved", evolved))}
    cases = list(problem.oracle.held_out[:200])
    try:
        timing = measure([o0, evolved, o2], k.function, cases, seed=seed, min_rounds=runs, min_time_s=0.0,
                         sample_s=0.02, max_cases=len(cases))
        timing.variant(0), timing.variant(1), timing.variant(2)  # raise if one could not be timed
    except TimingError as exc:  # trapped or passed the deadline: report it rather than hang or die
        raise JeetError(f"{k.name}: a variant could not be timed ({exc})") from None
    # per pass over the cases, in µs: gross medians, and net of the empty function's median
    wall = [timing.variants[i].median_ns * timing.cases / 1000 for i in range(3)]
    net = [timing.ns_per_call(i) * timing.cases / 1000 for i in range(3)]
    best_native = min(f for f in (fuel["O2"], fuel["O2opt"]) if f is not None)
    if save_dir is not None:
        save_dir.mkdir(parents=True, exist_ok=True)
        (save_dir / f"{k.name}.evolved.wasm").write_bytes(evolved)
    return KernelResult(
        kernel=k.name, category=k.category,
        fuel_O0=fuel["O0"], fuel_O0_wasm_opt=fuel["O0opt"], fuel_O2=fuel["O2"], fuel_O2_wasm_opt=fuel["O2opt"],
        fuel_evolved=fuel["evolved"] if fuel["evolved"] is not None else -1,
        ratio_evolved=round(fuel["evolved"] / fuel["O0"], 4) if fuel["evolved"] else float("nan"),
        beats_O2_wasm_opt=(fuel["evolved"] < best_native) if fuel["evolved"] is not None else False,
        held_out_cases=res.held_out_cases, held_out_failures=res.held_out_failures,
        evaluations=res.evaluations, seconds=res.seconds,
        evals_per_s_per_core=round(res.evaluations / max(res.seconds, 1e-9) / workers, 1),
        pipeline_evals_per_s=round(throughput, 1),
        valid_offspring_rate=res.valid_offspring_rate,
        wall_O0_us=round(wall[0], 1), wall_evolved_us=round(wall[1], 1),
        wall_ratio=round(wall[1] / wall[0], 4) if wall[0] else float("nan"),
        net_O0_us=round(net[0], 2), net_evolved_us=round(net[1], 2), net_O2_us=round(net[2], 2),
        net_ratio=round(net[1] / net[0], 4),
        size_O0=len(o0), size_evolved=len(evolved), peak_rss_mb=round(rss.peak / 2**20, 1), logbook=logbook,
    )


def run_bench(kernel_names: list[str] | None, budget_s: float, seed: int = 0, workers: int = 0, runs: int = 30,
              validity_samples: int = 300, on_kernel: Callable[[KernelResult], None] | None = None,
              save_dir: Path | None = None) -> BenchReport:
    workers = workers or default_workers()
    kernels = [get_kernel(n) for n in kernel_names] if kernel_names else list(KERNELS)
    t0 = time.monotonic()
    validity = [operator_validity(kernels, spec, validity_samples, seed) for spec in ("raw", "structural")]
    results = []
    for k in kernels:
        r = bench_kernel(k, budget_s, seed, workers, runs, save_dir=save_dir)
        results.append(r)
        if on_kernel:
            on_kernel(r)
    return BenchReport(budget_s=budget_s, workers=workers, kernels=results, validity=validity,
                       wasm_opt=wasm_opt_available(), seconds=round(time.monotonic() - t0, 1))


def run_kernels(opts, console) -> dict:
    """`jeet bench --suite kernels`: the suite above, written as bench.md, bench.json and fitness.png."""
    import json
    import shlex
    import sys


    def on_kernel(r: KernelResult) -> None:
        console.print(f"{r.kernel:>16}: fuel {r.fuel_O0} -> {r.fuel_evolved} ({r.ratio_evolved:.3f}x), "
                      f"-O2 {r.fuel_O2}, held-out {r.held_out_cases - r.held_out_failures}/{r.held_out_cases}, "
                      f"{r.evals_per_s_per_core:.0f} evals/s/core (pipeline {r.pipeline_evals_per_s:.0f}), "
                      f"wall x{r.net_ratio:.2f}")

    names = list(opts.kernels) if opts.kernels else None
    report = run_bench(names, opts.budget, seed=opts.seed, workers=opts.workers, runs=opts.runs,
                       on_kernel=on_kernel, save_dir=opts.out / "evolved")
    opts.out.mkdir(parents=True, exist_ok=True)
    command = "jeet bench " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    (opts.out / "bench.md").write_text(markdown(report, command.strip()))
    (opts.out / "bench.json").write_text(json.dumps(report.to_dict(), indent=1))
    plot(report, opts.out / "fitness.png")
    return report.to_dict()
