"""Every knob of an evolution run, in one frozen value that travels to workers and into the store."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import ClassVar
from pathlib import Path

from ..errors import JeetError
from ..settings import Settings


@dataclass(frozen=True, slots=True)
class EvolveConfig(Settings):
    what: ClassVar[str] = "evolution setting"

    population: int = 48
    keep_fraction: float = 0.4
    mutate_fraction: float = 0.3
    crossover_fraction: float = 0.3
    generations: int | None = None
    max_evaluations: int | None = None
    budget_s: float | None = 30.0
    stagnation: int | None = None
    # stop when nothing improved for this many seconds (and at least driver.PATIENCE_MIN_GENERATIONS
    # generations); `jeet evolve` sets it by default
    patience_s: float | None = None
    seed: int = 0
    operators: str = "structural"
    objectives: str = "weighted"  # or "pareto"
    # what decides the champion and the output: "time" (native time under Cranelift: races among the
    # fuel-best contenders, and do no harm at the end) or "fuel" (fuel alone, no timing)
    objective: str = "time"
    timing_share: float = 0.1  # races are skipped while timing has taken more than this share of the run
    train_size: int = 8
    held_out_factor: int = 100
    fuel: int = 1_000_000
    memory_bytes: int = 1 << 20
    deadline_s: float = 1.0
    workers: int = 0  # 0: one per core
    tournament: int = 3
    verify_every: int = 4  # generations between held-out checks of a new best (the last is always checked)
    use_wasm_opt: bool = True
    operator_weights: dict[str, float] = field(default_factory=dict)
    # self-adaptive operator rates (see jeet.evolve.rates): "off" (static weights), "matching" or "pursuit";
    # operator_weights are the starting point, adaptation_rate the step, min_operator_probability the floor
    adaptive_operators: str = "off"
    adaptation_rate: float = 0.2
    min_operator_probability: float = 0.05
    # islands (pygmo's words): K populations evolving side by side, exchanging `migration_rate` emigrants
    # every `migration_interval` generations along `topology`; emigrants are chosen by `emigrant_policy`
    # and let in by `replacement_policy` (see Evolution.emigrants / Evolution.immigrate)
    islands: int = 1
    topology: str = "ring"  # "ring", "fully_connected" or "unconnected"
    migration_interval: int = 5
    migration_rate: int = 2
    emigrant_policy: str = "best"  # or "random"
    replacement_policy: str = "fair"  # or "worst"
    # a search that does not spin: a child that repeats a specimen the run has seen is bred again up to
    # `novelty_retries` times; after `diversify_after` generations without improvement mutations take
    # bigger steps, and after twice that a third of the parents come from the archive of past members
    novelty_retries: int = 3
    diversify_after: int | None = 10
    # the gate's proof (jeet.evolve.proof_check): a champion must be proved equivalent to the original,
    # or bounded(prove_bound) for code with loops; each solver query gets prove_timeout_s, each check at
    # most PROOF_LIMIT_FACTOR times that (see jeet.evolve.proof_check)
    prove: bool = True
    prove_bound: int = 16
    prove_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        if self.population < 4:
            raise JeetError("population must be at least 4")
        total = self.keep_fraction + self.mutate_fraction + self.crossover_fraction
        if abs(total - 1.0) > 1e-6 or min(self.keep_fraction, self.mutate_fraction, self.crossover_fraction) < 0:
            raise JeetError("keep, mutate and crossover fractions must be non-negative and sum to 1")
        if self.keep_fraction <= 0:
            raise JeetError("keep_fraction must be positive (elitism needs survivors)")
        if self.objectives not in ("weighted", "pareto"):
            raise JeetError(f"unknown objectives {self.objectives!r}: use 'weighted' or 'pareto'")
        if self.objective not in ("time", "fuel"):
            raise JeetError(f"unknown objective {self.objective!r}: use 'time' or 'fuel'")
        if not 0 < self.timing_share < 1:
            raise JeetError("timing_share must be in (0, 1)")
        if self.verify_every < 1:
            raise JeetError("verify_every must be at least 1")
        if self.train_size < 1 or self.held_out_factor < 1:
            raise JeetError("train_size and held_out_factor must be positive")
        if self.budget_s is not None and self.budget_s <= 0:
            raise JeetError("budget must be positive")
        if self.patience_s is not None and self.patience_s <= 0:
            raise JeetError("patience must be positive (leave it unset to turn it off)")
        if self.novelty_retries < 0 or (self.diversify_after is not None and self.diversify_after < 1):
            raise JeetError("novelty_retries must be at least 0 and diversify_after at least 1")
        if self.adaptive_operators not in ("off", "pursuit", "matching"):
            raise JeetError(f"unknown adaptive_operators {self.adaptive_operators!r}: use off, pursuit or matching")
        if not 0 < self.adaptation_rate <= 1 or not 0 <= self.min_operator_probability < 1:
            raise JeetError("adaptation_rate must be in (0, 1] and min_operator_probability in [0, 1)")
        if not isinstance(self.operator_weights, dict) or any(
                not isinstance(w, (int, float)) or w < 0 for w in self.operator_weights.values()):
            raise JeetError("operator_weights must be non-negative numbers")
        if self.islands < 1 or self.migration_interval < 1 or self.migration_rate < 0:
            raise JeetError("islands and migration_interval must be at least 1, migration_rate at least 0")
        if self.topology not in ("ring", "fully_connected", "unconnected"):
            raise JeetError(f"unknown topology {self.topology!r}: use ring, fully_connected or unconnected")
        if self.emigrant_policy not in ("best", "random") or self.replacement_policy not in ("fair", "worst"):
            raise JeetError("emigrant_policy is 'best' or 'random'; replacement_policy is 'fair' or 'worst'")
        if self.prove_bound < 1 or self.prove_bound > 4096:
            raise JeetError(f"prove_bound must be between 1 and 4096, got {self.prove_bound}")
        if not 0 < self.prove_timeout_s <= 3600:
            raise JeetError(f"prove_timeout_s must be in (0, 3600] seconds, got {self.prove_timeout_s}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_file(cls, path: Path) -> "EvolveConfig":
        """Read a JSON config file (as written by the tuner or by hand); unknown keys are an error."""
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise JeetError(f"config file not found: {path}") from None
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise JeetError(f"cannot read config {path}: {exc}") from None
        if not isinstance(data, dict):
            raise JeetError(f"config {path}: expected a JSON object")
        data = data.get("evolve", data)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise JeetError(f"config {path}: unknown keys {', '.join(unknown)}")
        _check_types(cls, data, f"config {path}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise JeetError(f"config {path}: {exc}") from None


_KINDS = {"int": (int,), "float": (int, float), "str": (str,), "bool": (bool,)}


def _check_types(cls: type, data: dict, source: str) -> None:
    """Each value of the JSON the type its field declares (ints are not bools; None only where allowed)."""
    for f in fields(cls):
        if f.name not in data:
            continue
        value, declared = data[f.name], str(f.type)
        parts = [p.strip() for p in declared.split("|")]
        if value is None and "None" in parts:
            continue
        base = parts[0].split("[")[0]
        kinds = (dict,) if base == "dict" else _KINDS.get(base)
        if kinds is None:
            continue
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise JeetError(f"{source}: {f.name} must be {'a' if base != 'int' else 'an'} {base}"
                            f"{' or null' if 'None' in parts else ''}, got {json.dumps(value)}")
