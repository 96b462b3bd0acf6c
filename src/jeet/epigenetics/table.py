"""Per-environment fitness of variants: sandbox fuel per environment, updated by observations.

Two kinds of figures live here. Measurements come from the sandbox: the mean fuel per call of a
variant on an environment's workload (exact and reproducible; they only depend on the size bucket,
so they are recorded for size-only environments). Observations come from the running host: wall
seconds per call in the full observed environment (memory level and node tags included), kept as an
exponentially weighted mean together with a call count. A lookup for an environment uses the most
specific recorded environment it belongs to (`Environment.generalisations`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

from .environment import Environment
from ..errors import EpigeneticsError

METRICS = ("fuel", "seconds")


@dataclass(slots=True)
class Entry:
    """What is known about one variant in one environment."""

    fuel: float | None = None      # mean fuel per call on the environment's workload (sandbox)
    cases: int = 0                 # calls that mean is over
    fitness: float | None = None   # jeet's weighted fitness there, against the reference
    peak_pages: int = 0
    calls: int = 0                 # observed calls (host)
    seconds: float | None = None   # weighted mean wall seconds per observed call

    def to_dict(self) -> dict:
        return {"fuel": self.fuel, "cases": self.cases, "fitness": self.fitness, "peak_pages": self.peak_pages,
                "calls": self.calls, "seconds": self.seconds}

    @classmethod
    def from_dict(cls, d: dict) -> "Entry":
        return cls(d.get("fuel"), int(d.get("cases", 0)), d.get("fitness"), int(d.get("peak_pages", 0)),
                   int(d.get("calls", 0)), d.get("seconds"))


class FitnessTable:
    """Entries keyed by (environment, variant sha256)."""

    def __init__(self, alpha: float = 0.1) -> None:
        if not 0 < alpha <= 1:
            raise EpigeneticsError("alpha must be in (0, 1]")
        self.alpha = alpha
        self._rows: dict[Environment, dict[str, Entry]] = {}

    # --- writing -------------------------------------------------------------------------

    def measure(self, env: Environment, sha: str, fuel: float, cases: int, *, fitness: float | None = None,
                peak_pages: int = 0) -> None:
        """Record a sandbox measurement: mean fuel per call over `cases` calls of env's workload."""
        if cases < 1 or not (fuel >= 0 and math.isfinite(fuel)):
            raise EpigeneticsError(f"a measurement needs cases >= 1 and a finite fuel >= 0 (got {fuel}, {cases})")
        e = self._entry(env, sha)
        e.fuel, e.cases, e.fitness, e.peak_pages = float(fuel), int(cases), fitness, int(peak_pages)

    def observe(self, env: Environment, sha: str, seconds: float) -> None:
        """Record one observed call of `sha` in `env` that took `seconds` of wall time."""
        if not (seconds >= 0 and math.isfinite(seconds)):
            return
        e = self._entry(env, sha)
        e.calls += 1
        e.seconds = seconds if e.seconds is None else e.seconds + self.alpha * (seconds - e.seconds)

    def forget(self, sha: str) -> None:
        for row in self._rows.values():
            row.pop(sha, None)

    def _entry(self, env: Environment, sha: str) -> Entry:
        row = self._rows.setdefault(env, {})
        e = row.get(sha)
        if e is None:
            e = row[sha] = Entry()
        return e

    # --- reading -------------------------------------------------------------------------

    def environments(self) -> list[Environment]:
        return list(self._rows)

    def variants(self) -> list[str]:
        out: dict[str, None] = {}
        for row in self._rows.values():
            out.update(dict.fromkeys(row))
        return list(out)

    def entry(self, env: Environment, sha: str) -> Entry | None:
        """The entry recorded for exactly `env`."""
        return self._rows.get(env, {}).get(sha)

    def fuel(self, env: Environment, sha: str) -> float | None:
        """Mean fuel of `sha` for `env`, from the most specific environment that has a measurement."""
        for g in env.generalisations():
            e = self._rows.get(g, {}).get(sha)
            if e is not None and e.fuel is not None:
                return e.fuel
        return None

    def ranking(self, env: Environment, metric: str = "fuel", *, min_calls: int = 8,
                among: Iterable[str] | None = None) -> list[tuple[str, float]]:
        """Variants measured for `env` (or a coarser environment), cheapest first, as (sha, cost).

        metric "fuel": mean fuel. metric "seconds": observed wall seconds for the variants with at
        least `min_calls` observations in exactly `env`, when there are two or more such; the
        others follow in fuel order. With fewer than two observed variants it is the fuel order."""
        if metric not in METRICS:
            raise EpigeneticsError(f"unknown metric {metric!r}: use {' or '.join(METRICS)}")
        allowed = None if among is None else set(among)
        by_fuel = {}
        for g in env.generalisations():
            for sha, e in self._rows.get(g, {}).items():
                if e.fuel is not None and sha not in by_fuel and (allowed is None or sha in allowed):
                    by_fuel[sha] = e.fuel
        order = sorted(by_fuel.items(), key=lambda kv: (kv[1], kv[0]))
        if metric == "fuel":
            return order
        row = self._rows.get(env, {})
        timed = {sha: row[sha].seconds for sha, _ in order
                 if sha in row and row[sha].calls >= min_calls and row[sha].seconds is not None}
        if len(timed) < 2:
            return order
        first = sorted(timed.items(), key=lambda kv: (kv[1], kv[0]))
        return first + [(sha, f) for sha, f in order if sha not in timed]

    def winner(self, env: Environment, metric: str = "fuel", **kw) -> str | None:
        ranked = self.ranking(env, metric, **kw)
        return ranked[0][0] if ranked else None

    # --- persistence ---------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {"alpha": self.alpha,
                "rows": {env.key: {sha: e.to_dict() for sha, e in row.items()} for env, row in self._rows.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> "FitnessTable":
        try:
            table = cls(float(data.get("alpha", 0.1)))
            for key, row in data["rows"].items():
                env = Environment.from_key(key)
                table._rows[env] = {str(sha): Entry.from_dict(e) for sha, e in row.items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EpigeneticsError(f"bad fitness table: {exc}") from None
        return table
