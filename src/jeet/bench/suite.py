"""`jeet bench`: the kernel suite measured end to end, from each starting point.

For each kernel and each start (`--from O0,O2`; O2 is the production build, clang -O2 + `wasm-opt
-O3`): an evolve run within the budget (`runs`), then one native measurement of the kernel's builds
and jeet's outputs together (`native`), then the predictor judged on every variant measured
(`native.predictor_figures`). Results are `results.StartRow`s; `report` and `plots` present them.
"""

from __future__ import annotations

import json
import random
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import wasmtime

from ..evolve.pool import default_workers
from ..genetics import Genome, operator_set
from ..kernels import KERNELS, Kernel, get_kernel
from ..sandbox import Sandbox
from .native import Sample, predictor_figures, time_kernel
from .plots import fitness_plot, native_time_plot
from .report import machine, markdown, wasm_opt_available
from .results import STARTS, BenchReport, OperatorValidity, StartRow, json_safe
from .runs import evolve_from


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


def run_bench(kernel_names: list[str] | None, budget_s: float, seed: int = 0, workers: int = 0, runs: int = 30,
              starts: tuple[str, ...] = tuple(STARTS), validity_samples: int = 300,
              on_row: Callable[[StartRow], None] | None = None, save_dir: Path | None = None,
              command: str = "") -> BenchReport:
    """Evolve every kernel from every start, time each kernel's variants together, judge the predictor."""
    workers = workers or default_workers()
    kernels = [get_kernel(n) for n in kernel_names] if kernel_names else list(KERNELS)
    t0 = time.monotonic()
    validity = [operator_validity(kernels, spec, validity_samples, seed) for spec in ("raw", "structural")]
    rows: list[StartRow] = []
    samples: list[Sample] = []
    with Sandbox() as sandbox:
        for k in kernels:
            done = [evolve_from(k, start, budget_s, seed, workers) for start in starts]
            if save_dir is not None:
                save_dir.mkdir(parents=True, exist_ok=True)
                for run in done:
                    (save_dir / f"{k.name}.from-{run.start}.wasm").write_bytes(run.output)
            kernel_rows, kernel_samples = time_kernel(k, done, sandbox, seed, runs)
            rows += kernel_rows
            samples += kernel_samples
            for r in kernel_rows:
                if on_row:
                    on_row(r)
    predictor = predictor_figures(rows, samples)
    return BenchReport(budget_s=budget_s, workers=workers, starts=list(starts), rows=rows, validity=validity,
                       wasm_opt=wasm_opt_available(), seconds=round(time.monotonic() - t0, 1), predictor=predictor,
                       command=command, machine=machine())


def run_kernels(opts, console) -> dict:
    """`jeet bench --suite kernels`: the suite above, written as bench.md, bench.json, native_time.png and
    fitness.png under opts.out (and rows.jsonl, a row per kernel and start as each is measured)."""

    opts.out.mkdir(parents=True, exist_ok=True)
    partial = opts.out / "rows.jsonl"
    partial.write_text("")

    def on_row(r: StartRow) -> None:
        with partial.open("a") as fh:  # each row as it is measured: a bench cut short keeps what it finished
            fh.write(json.dumps(json_safe(asdict(r))) + "\n")
        ratio = "not timed" if r.ratio is None else f"x{r.ratio:.3f} [{r.ratio_ci[0]:.3f}, {r.ratio_ci[1]:.3f}]"
        console.print(f"{r.kernel:>16} from {r.start}: native {ratio}"
                      f"{' (faster)' if r.improved else ''}{' SLOWER' if r.slower else ''}, "
                      f"fuel {r.fuel_input:g} -> {r.fuel_jeet:g} (O2opt {r.fuel_O2opt:g}), "
                      f"held-out {r.held_out_cases - r.held_out_failures}/{r.held_out_cases}, "
                      f"{r.distinct_per_s_per_core:.0f} distinct evals/s/core")

    command = ("jeet bench " + " ".join(shlex.quote(a) for a in sys.argv[2:])).strip()
    report = run_bench(list(opts.kernels) if opts.kernels else None, opts.budget, seed=opts.seed,
                       workers=opts.workers, runs=opts.runs, starts=opts.starts, on_row=on_row,
                       save_dir=opts.out / "evolved", command=command)
    doc = report.to_dict()
    (opts.out / "bench.md").write_text(markdown(report))
    (opts.out / "bench.json").write_text(json.dumps(doc, indent=1))
    native_time_plot(report, opts.out / "native_time.png")
    fitness_plot(report, opts.out / "fitness.png")
    return doc
