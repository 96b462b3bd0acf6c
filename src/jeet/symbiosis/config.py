"""Every knob of a co-evolution run, in one frozen value."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar

from ..settings import Settings
from ..errors import SymbiosisError


@dataclass(frozen=True, slots=True)
class CoevolveConfig(Settings):
    """Every knob of a co-evolution run. `population` and `partners` are per side.

    A `Coevolution` runs under its problem's limits and oracle; `fuel`, `memory_bytes`,
    `deadline_s`, `train_size` and `held_out_factor` are what `jeet coevolve` builds them from.
    """

    population: int = 12
    partners: int = 3
    keep_fraction: float = 0.5  # parents that survive unconditionally (by standing) into the breeding pool
    crossover_fraction: float = 0.2  # share of offspring made by crossover; the rest are mutants
    tournament: int = 3
    operators: str = "structural"
    generations: int | None = None
    budget_s: float | None = 30.0
    stagnation: int | None = None
    seed: int = 0
    train_size: int = 16
    held_out_factor: int = 100
    fuel: int = 1_000_000
    memory_bytes: int = 1 << 20
    deadline_s: float = 1.0
    symbiosis_threshold: float = 0.1
    min_observations: int = 2
    keep_min_fitness: float = 0.5  # a kept pair must beat this fitness (the original pair scores 0.5)
    keep_pairs: int = 5
    keep_every: int = 10  # generations between rounds that verify and keep strong pairs (and one at the end)
    verify_per_round: int = 2  # held-out checks of not yet verified strong pairs per round
    error: ClassVar[type[SymbiosisError]] = SymbiosisError
    what: ClassVar[str] = "co-evolution setting"

    def __post_init__(self) -> None:
        if self.population < 2:
            raise SymbiosisError("population must be at least 2 per side")
        if self.partners < 1:
            raise SymbiosisError("partners must be at least 1")
        if not 0 < self.keep_fraction < 1 or not 0 <= self.crossover_fraction <= 1:
            raise SymbiosisError("keep_fraction must be in (0, 1) and crossover_fraction in [0, 1]")
        if self.tournament < 1 or self.train_size < 1 or self.held_out_factor < 1:
            raise SymbiosisError("tournament, train_size and held_out_factor must be positive")
        if self.budget_s is not None and self.budget_s <= 0:
            raise SymbiosisError("budget must be positive")
        if self.generations is not None and self.generations < 0:
            raise SymbiosisError("generations must not be negative")
        if self.min_observations < 1 or self.keep_every < 1 or self.keep_pairs < 0 or self.verify_per_round < 0:
            raise SymbiosisError("min_observations and keep_every must be at least 1; keep_pairs and "
                                 "verify_per_round at least 0")

    def to_dict(self) -> dict:
        return asdict(self)
