"""The pair-fitness table and the symbiosis score.

The table holds one fitness per (caller, callee) pair that was evaluated — 0 for a pair that is
not correct, which is evidence too: those two modules do not work together. A module's other
partners are every module of the other side it was evaluated with.

Symbiosis score of a pair (a, b) with fitness F(a, b):

    A = [F(a, b') for every b' != b in the table]      a's fitness with its other partners
    B = [F(a', b) for every a' != a in the table]      b's fitness with its other partners
    expected = (mean(A) + mean(B)) / 2                 each partner's average, weighed equally
               mean(A) alone when B is empty, mean(B) alone when A is empty
    score(a, b) = F(a, b) - expected                   undefined (None) when A and B are both empty

A positive score means the two do better together than each does on average with others: the
pair is more than the sum of its parts. Averaging the two partners' means (rather than pooling
every observation) keeps a partner that met many others from drowning out one that met few.
A pair is *strong* when its fitness is positive, its score is at least a threshold and both
partners have at least `min_observations` other partners (so the score rests on evidence).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean
from typing import Iterator

Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Symbiosis:
    """The symbiosis score of one pair with the figures it was computed from."""

    caller: str
    callee: str
    fitness: float
    score: float | None
    caller_mean: float | None  # a's mean fitness with its other partners
    callee_mean: float | None  # b's mean fitness with its other partners
    caller_partners: int  # how many other partners a was evaluated with
    callee_partners: int

    @property
    def observations(self) -> int:
        """The smaller side's count of other partners: how much evidence the score rests on."""
        return min(self.caller_partners, self.callee_partners)

    def strong(self, threshold: float, min_observations: int) -> bool:
        return (self.fitness > 0 and self.score is not None and self.score >= threshold
                and self.observations >= min_observations)


class PairTable:
    """Fitness of every evaluated (caller, callee) pair, indexed both ways."""

    def __init__(self) -> None:
        self._fitness: dict[Key, float] = {}
        self._by_caller: dict[str, dict[str, float]] = {}
        self._by_callee: dict[str, dict[str, float]] = {}

    def record(self, caller: str, callee: str, fitness: float) -> None:
        """Set the fitness of a pair (a re-evaluation replaces the old figure)."""
        fitness = float(fitness)
        self._fitness[(caller, callee)] = fitness
        self._by_caller.setdefault(caller, {})[callee] = fitness
        self._by_callee.setdefault(callee, {})[caller] = fitness

    def discard(self, caller: str, callee: str) -> None:
        """Forget one pair (nothing happens if it was not recorded)."""
        if self._fitness.pop((caller, callee), None) is None:
            return
        row, col = self._by_caller[caller], self._by_callee[callee]
        del row[callee], col[caller]
        if not row:
            del self._by_caller[caller]
        if not col:
            del self._by_callee[callee]

    def clear(self) -> None:
        self._fitness.clear()
        self._by_caller.clear()
        self._by_callee.clear()

    def get(self, caller: str, callee: str) -> float | None:
        return self._fitness.get((caller, callee))

    def __contains__(self, key: object) -> bool:
        return key in self._fitness

    def __len__(self) -> int:
        return len(self._fitness)

    def __iter__(self) -> Iterator[Key]:
        return iter(self._fitness)

    def items(self) -> list[tuple[Key, float]]:
        return list(self._fitness.items())

    def partners_of_caller(self, caller: str) -> dict[str, float]:
        """callee -> fitness for every callee `caller` was evaluated with."""
        return dict(self._by_caller.get(caller, {}))

    def partners_of_callee(self, callee: str) -> dict[str, float]:
        """caller -> fitness for every caller `callee` was evaluated with."""
        return dict(self._by_callee.get(callee, {}))

    def best_of_caller(self, caller: str) -> tuple[str, float] | None:
        """The callee `caller` did best with, and that fitness (ties: the smaller hash)."""
        row = self._by_caller.get(caller)
        return min(row.items(), key=lambda kv: (-kv[1], kv[0])) if row else None

    def best_of_callee(self, callee: str) -> tuple[str, float] | None:
        row = self._by_callee.get(callee)
        return min(row.items(), key=lambda kv: (-kv[1], kv[0])) if row else None

    def symbiosis(self, caller: str, callee: str) -> Symbiosis:
        """The symbiosis score of a recorded pair (see the module docstring); KeyError if not recorded."""
        fit = self._fitness[(caller, callee)]
        others_a = [f for b, f in self._by_caller[caller].items() if b != callee]
        others_b = [f for a, f in self._by_callee[callee].items() if a != caller]
        mean_a = fmean(others_a) if others_a else None
        mean_b = fmean(others_b) if others_b else None
        means = [m for m in (mean_a, mean_b) if m is not None]
        score = fit - fmean(means) if means else None
        return Symbiosis(caller, callee, fit, score, mean_a, mean_b, len(others_a), len(others_b))

    def scores(self) -> list[Symbiosis]:
        """The symbiosis of every recorded pair."""
        return [self.symbiosis(a, b) for a, b in self._fitness]

    def strongest(self, threshold: float = 0.0, min_observations: int = 2, limit: int | None = None,
                  exclude: set[Key] | frozenset[Key] = frozenset()) -> list[Symbiosis]:
        """Strong pairs (see `Symbiosis.strong`), highest score first, then highest fitness."""
        strong = [s for s in self.scores()
                  if (s.caller, s.callee) not in exclude and s.strong(threshold, min_observations)]
        strong.sort(key=lambda s: (-(s.score or 0.0), -s.fitness, s.caller, s.callee))
        return strong if limit is None else strong[:limit]
