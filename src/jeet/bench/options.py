"""What every `jeet bench --suite NAME` gets from the command line, and the table of suites."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rich.console import Console


@dataclass(frozen=True, slots=True)
class BenchOptions:
    budget: float = 60.0          # seconds of evolution per unit of work (per kernel, per trial, ...)
    runs: int = 30                # repetitions for wall-clock medians
    seed: int = 0
    kernels: tuple[str, ...] | None = None
    workers: int = 0
    out: Path = Path("bench-out")  # the suite writes its files here
    wasm_opt: bool = True         # seed evolution with wasm-opt -O3 output where the suite evolves
    starts: tuple[str, ...] = ("O0", "O2")  # kernels suite: starting points (O2: clang -O2 + wasm-opt -O3)


def parse_starts(text: str) -> tuple[str, ...]:
    """`--from O0,O2`: the kernel suite's starting points. "O2" is the production build, clang -O2 +
    `wasm-opt -O3` (the suite's O2opt build, also accepted by that name). ValueError naming the choices."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    starts = tuple(dict.fromkeys("O2" if n == "O2opt" else n for n in names))
    bad = [n for n in starts if n not in ("O0", "O2")]
    if bad or not starts:
        raise ValueError(f"--from {text!r}: choose from O0 and O2 (O2 = clang -O2 + wasm-opt -O3), comma-separated")
    return starts


# name -> "module:function"; the function is `run(options, console) -> dict` (the JSON report),
# and writes a Markdown report and any plots under options.out.
SUITES: dict[str, str] = {
    "kernels": "jeet.bench.suite:run_kernels",
    "runtime": "jeet.bench.runtime:run",
    "epigenetics": "jeet.bench.epigenetics:run",
    "forgetting": "jeet.bench.forgetting:run",
    "compression": "jeet.bench.compression:run",
    "latency": "jeet.bench.latency:run",
    "islands": "jeet.bench.islands:run",
    "tuner": "jeet.bench.tuner:run",
    "timing": "jeet.bench.timing:run",
    "prove": "jeet.bench.prove:run",
    "bits": "jeet.bench.bits:run",
}

DEFAULT_BUDGET = 60.0
# suites whose unit of work is small enough for a shorter default --budget (per program, in seconds)
SUITE_BUDGETS: dict[str, float] = {"bits": 15.0}


def default_budget(suite: str) -> float:
    """`--budget` when none is given: the suite's own default, else DEFAULT_BUDGET."""
    return SUITE_BUDGETS.get(suite, DEFAULT_BUDGET)


def load_suite(name: str) -> Callable[[BenchOptions, Console], dict]:
    try:
        target = SUITES[name]
    except KeyError:
        raise ValueError(f"unknown suite {name!r}: choose from {', '.join(sorted(SUITES))}") from None
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)
