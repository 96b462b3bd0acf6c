"""Which specimens matter least: relevance scores and the choice of victims, as pure functions.

No SQL here: `forgetting.collect` loads the rows, asks `choose_victims`, and deletes what it returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

from .caps import ForgettingPolicy

# specimens.usage counts uses (reads, and writes of bytes already stored) decayed with this half-life.
USAGE_HALF_LIFE_S = 3 * 86400.0


@dataclass(frozen=True, slots=True)
class Row:
    sha: str
    function: str
    fitness: float | None
    last_used: float
    usage: float
    created: float
    payload: int       # blob + metrics bytes
    parents: int       # lineage edges this specimen is the child of (they go with it)
    children: int      # stored specimens bred from it
    blacklisted: bool


def relevance(rank_score: float, age_s: float, usage: float, children: int, blacklisted: bool,
              policy: ForgettingPolicy) -> float:
    """The relevance of an unprotected specimen: weighted fitness rank, recency, decayed usage and lineage role."""
    if blacklisted:
        return -1.0
    recency = 0.5 ** (max(0.0, age_s) / policy.recency_half_life_s)
    use = usage / (1.0 + usage) if usage > 0 else 0.0
    lineage = min(1.0, children / 2.0)
    return (policy.weight_fitness * rank_score + policy.weight_recency * recency
            + policy.weight_usage * use + policy.weight_lineage * lineage)


def rank_scores(rows: Iterable[tuple[str, str, float | None]]) -> dict[str, float]:
    """Fitness rank within each function as a score: the best 1.0, the worst scored 0.0, unscored 0.0; ties share."""
    by_function: dict[str, list[tuple[str, float]]] = {}
    out: dict[str, float] = {}
    for sha, function, fitness in rows:
        if fitness is None:
            out[sha] = 0.0
        else:
            by_function.setdefault(function, []).append((sha, fitness))
    for members in by_function.values():
        members.sort(key=lambda m: -m[1])
        n = len(members)
        first_at: dict[float, int] = {}
        for i, (sha, fit) in enumerate(members):
            i = first_at.setdefault(fit, i)
            out[sha] = 1.0 if n == 1 else 1.0 - i / (n - 1)
    return out


def choose_victims(rows: list[Row], candidates: list[Row], now: float, policy: ForgettingPolicy,
                   need_count: int, need_bytes: float, row_cost: float, edge_cost: float) -> list[Row]:
    """The least relevant `candidates` whose removal frees `need_count` specimens and `need_bytes` bytes.

    Pure: relevance is ranked over all `rows` (the candidates' competition includes protected specimens),
    ties broken by age and hash so the choice is deterministic.
    """
    if need_count <= 0 and need_bytes <= 0:
        return []
    ranks = rank_scores((r.sha, r.function, r.fitness) for r in rows)
    scored = sorted(candidates, key=lambda r: (relevance(ranks[r.sha], now - r.last_used, _decayed(r, now),
                                                        r.children, r.blacklisted, policy), r.created, r.sha))
    victims: list[Row] = []
    freed = 0.0
    for r in scored:
        if len(victims) >= need_count and freed >= need_bytes:
            break
        victims.append(r)
        freed += r.payload + row_cost + r.parents * edge_cost
    return victims


def _decayed(r: Row, now: float) -> float:
    return decay(r.usage, r.last_used, now)


def decay(usage: float | None, last_used: float | None, now: float | None) -> float:
    """A usage count recorded at `last_used`, decayed to `now` (the SQL function jeet_decay)."""
    if not usage or last_used is None or now is None:
        return 0.0
    return float(usage) * math.pow(0.5, max(0.0, now - last_used) / USAGE_HALF_LIFE_S)
