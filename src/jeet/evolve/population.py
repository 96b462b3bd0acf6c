"""Population members and the survival ranking (weighted fitness or NSGA-II)."""

from __future__ import annotations

from dataclasses import dataclass

from ..fitness import crowding_distance, nondominated_sort
from .evaluation import Evaluation


@dataclass(frozen=True, slots=True)
class Member:
    sha256: str
    wasm: bytes
    evaluation: Evaluation
    parents: tuple[str, ...] = ()
    operator: str | None = None
    generation: int = 0
    home: int | None = None  # the evaluation worker that holds this specimen decoded

    @property
    def fitness(self) -> float:
        return self.evaluation.fitness


def weighted_key(m: Member) -> tuple:
    """Higher fitness first; among equals fewer fuel, then smaller code, then hash (determinism)."""
    e = m.evaluation
    return (-e.fitness, e.fuel, e.size, m.sha256)


def rank_weighted(members: list[Member]) -> list[Member]:
    return sorted(members, key=weighted_key)


def rank_pareto(members: list[Member]) -> list[Member]:
    """NSGA-II order: non-dominated fronts first, each by crowding distance (boundaries first)."""
    if not members:
        return []
    points = [m.evaluation.objectives() for m in members]
    ordered: list[Member] = []
    for front in nondominated_sort(points):
        dist = crowding_distance(points, front)
        front_sorted = sorted(front, key=lambda i: (-dist[i], weighted_key(members[i])))
        ordered.extend(members[i] for i in front_sorted)
    return ordered


def first_front(members: list[Member]) -> list[Member]:
    if not members:
        return []
    points = [m.evaluation.objectives() for m in members]
    return [members[i] for i in nondominated_sort(points)[0]]
