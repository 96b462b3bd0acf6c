"""What the command line accepts, checked before any work: every number finite and in range,
worker and island counts the machine can hold, inputs under the size cap, outputs writable.

Each check raises `JeetError`, which the CLI edge turns into one line and exit status 2.
"""

from __future__ import annotations

import math
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

from ..errors import JeetError
from ..inputs import check_size, require_regular

MAX_SECONDS = 30 * 24 * 3600.0  # a month: longer is a typo, not a plan
MAX_CALLS = 10**9
MAX_GENERATIONS = 10**9
MAX_EVALUATIONS = 10**12
MAX_SEED = 2**63 - 1
MAX_FUEL = 10**12               # about ten minutes of wasm per case; wasmtime takes u64
MAX_MEMORY_BYTES = 4 << 30      # wasm32's whole address space
MAX_TRAIN = 100_000
MAX_POPULATION = 100_000        # and never more than memory holds (see `population`)
MEMBER_OVERHEAD = 64 << 10      # bytes one population member costs beyond its module (IR, evaluation, lineage)
ISLAND_BYTES = 160 << 20        # resident size of one island process (interpreter, wasmtime, sandbox pool)


def cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def available_memory() -> int:
    """Bytes the machine can still give (MemAvailable), or a conservative 1 GiB when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 1 << 30


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise JeetError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise JeetError(f"{name} must be a finite number, got {value}")
    return value


def positive(name: str, value: float | None, hi: float, unit: str = "", *, zero: bool = False) -> float | None:
    """A finite amount, positive (or zero when `zero`), at most `hi`; None passes."""
    if value is None:
        return None
    value = _number(name, value)
    if value < 0:
        raise JeetError(f"{name} cannot be negative, got {value:g}")
    if value == 0 and not zero:
        raise JeetError(f"{name} must be more than 0")
    if value > hi:
        raise JeetError(f"{name} must be at most {hi:g}{unit}, got {value:g}")
    return float(value)


def seconds(name: str, value: float | None, hi: float = MAX_SECONDS, *, zero: bool = False) -> float | None:
    """A duration in seconds (see `positive`)."""
    return positive(name, value, hi, " seconds", zero=zero)


def count(name: str, value: int | None, lo: int, hi: int) -> int | None:
    """An integer in [lo, hi]; None passes."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise JeetError(f"{name} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise JeetError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def fraction(name: str, value: float) -> float:
    value = _number(name, value)
    if not 0.0 <= value <= 1.0:
        raise JeetError(f"{name} must be between 0 and 1, got {value:g}")
    return float(value)


def workers(name: str, value: int | None, force: bool = False) -> int | None:
    """Processes to start: 0 is one per core; more than the cores only with --force (and at most 256)."""
    if value is None:
        return None
    n = cores()
    count(name, value, 0, 10**6)
    if value > n and not force:
        raise JeetError(f"{name} {value} is more than the {n} core(s) here; pass --force to oversubscribe")
    return count(name, value, 0, 256)


def islands(value: int | None, force: bool = False) -> int | None:
    """Island processes the memory can hold (about 160 MiB each)."""
    if value is None:
        return None
    count("--islands", value, 1, 256)
    fit = max(1, available_memory() // ISLAND_BYTES)
    if value > fit:
        raise JeetError(f"--islands {value}: the {available_memory() >> 20} MiB of free memory hold about {fit} "
                        f"island processes")
    if value > 4 * cores() and not force:
        raise JeetError(f"--islands {value} is more than 4 per core ({cores()} core(s)); pass --force to oversubscribe")
    return value


def population(name: str, value: int | None, module_bytes: int, copies: int = 1) -> int | None:
    """A population the memory holds: members (module + overhead) x `copies` populations, in half of it."""
    if value is None:
        return None
    count(name, value, 4, MAX_POPULATION)
    per = (module_bytes + MEMBER_OVERHEAD) * 4 * max(1, copies)
    fit = max(4, available_memory() // 2 // per)
    if value > fit:
        raise JeetError(f"{name} {value}: a population of {module_bytes}-byte modules that large does not fit in "
                        f"the {available_memory() >> 20} MiB of free memory (at most about {fit})")
    return value


def evolve_config(cfg: Any, source: str = "config") -> None:
    """Types and ranges of an EvolveConfig's numbers (from flags or a --config file), before any work."""
    ints = {"population": (4, MAX_POPULATION), "generations": (1, MAX_GENERATIONS),
            "max_evaluations": (1, MAX_EVALUATIONS), "stagnation": (1, MAX_GENERATIONS), "seed": (0, MAX_SEED),
            "train_size": (1, MAX_TRAIN), "held_out_factor": (1, 10_000), "fuel": (1, MAX_FUEL),
            "memory_bytes": (1 << 16, MAX_MEMORY_BYTES), "workers": (0, 256), "tournament": (1, MAX_POPULATION),
            "verify_every": (1, MAX_GENERATIONS), "islands": (1, 256), "migration_interval": (1, MAX_GENERATIONS),
            "migration_rate": (0, MAX_POPULATION)}
    floats = {"keep_fraction": (0.0, 1.0), "mutate_fraction": (0.0, 1.0), "crossover_fraction": (0.0, 1.0),
              "adaptation_rate": (0.0, 1.0), "min_operator_probability": (0.0, 1.0)}
    names = {f.name for f in fields(cfg)}
    for name, (lo, hi) in ints.items():
        if name in names:
            value = getattr(cfg, name)
            if value is not None or name not in ("generations", "max_evaluations", "stagnation"):
                count(f"{source}: {name}", value, lo, hi)
    for name, (lo, hi) in floats.items():
        if name in names:
            value = _number(f"{source}: {name}", getattr(cfg, name))
            if not lo <= value <= hi:
                raise JeetError(f"{source}: {name} must be between {lo:g} and {hi:g}, got {value:g}")
    if "budget_s" in names:
        seconds(f"{source}: budget_s", getattr(cfg, "budget_s"))
    if "deadline_s" in names:
        seconds(f"{source}: deadline_s", getattr(cfg, "deadline_s"), 3600.0)
    weights = getattr(cfg, "operator_weights", {}) or {}
    for op, w in weights.items():
        w = _number(f"{source}: operator_weights[{op!r}]", w)
        if w < 0:
            raise JeetError(f"{source}: operator_weights[{op!r}] cannot be negative")


def check_input(path: Path | None, what: str) -> None:
    """A module or similar input that jeet reads with a bounded reader: refuse a regular file over the cap."""
    if path is not None:
        check_size(path, what)


def check_tests(path: Path | None, what: str = "--tests") -> None:
    """A tests file is read whole by the oracle: it must be a regular file under the cap."""
    if path is not None:
        require_regular(path, what)


def writable(path: Path | None, what: str, *, make_parents: bool = False) -> None:
    """Make sure `path` can be written, before the work that produces it: not a folder, its folder
    exists (or, with `make_parents`, can be made, as the writer will), and a file can be created there
    (tried, then removed again if it was not there)."""
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise JeetError(f"{what} {path} is a folder; give a file name")
    parent = path.parent
    if make_parents and not parent.exists():
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JeetError(f"{what} {path}: cannot make the folder {parent}: {exc.strerror or exc}") from None
    if not parent.is_dir():
        raise JeetError(f"{what} {path}: the folder {parent} does not exist")
    existed = path.exists()
    try:
        with open(path, "ab"):
            pass
    except OSError as exc:
        raise JeetError(f"{what} {path} cannot be written: {exc.strerror or exc}") from None
    if not existed:
        try:
            path.unlink()
        except OSError:
            pass
