"""Per-operator outcome counters: how many offspring each operator made, and how many were valid,
correct and improving, and what its offspring won in native time. The loop records one outcome per
evaluated child, and one native win each time a child it made beats the champion in a native-time race
(`jeet.evolve.race`; the measured ratio, so fuel gains that Cranelift erases earn nothing); ledgers
from several workers or islands merge by addition."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["OperatorLedger", "OperatorStats"]


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


@dataclass(slots=True)
class OperatorStats:
    """Counts for one operator. Each level implies the one before: improving => correct => valid."""

    made: int = 0
    valid: int = 0
    correct: int = 0
    improving: int = 0
    native_wins: int = 0          # races its offspring won against the champion
    native_log_gain: float = 0.0  # sum of -ln(measured time ratio) over those wins

    def record(self, *, valid: bool, correct: bool, improving: bool) -> None:
        if (correct and not valid) or (improving and not correct):
            raise ValueError("an outcome is improving => correct => valid; got "
                             f"valid={valid} correct={correct} improving={improving}")
        self.made += 1
        self.valid += bool(valid)
        self.correct += bool(correct)
        self.improving += bool(improving)

    def record_native(self, time_ratio: float) -> None:
        """An offspring of this operator became champion by a native-time race at `time_ratio` (< 1)."""
        if not (0.0 < time_ratio and math.isfinite(time_ratio)):
            raise ValueError(f"a measured time ratio is finite and positive, got {time_ratio!r}")
        self.native_wins += 1
        self.native_log_gain += -math.log(time_ratio)

    @property
    def native_speedup(self) -> float:
        """The product of the speedups its race wins brought within one run (1.0 without a win): what it did
        to that run's champion. Across runs, `jeet.bench.results` averages per run instead."""
        return math.exp(self.native_log_gain)

    @property
    def valid_rate(self) -> float:
        return _rate(self.valid, self.made)

    @property
    def correct_rate(self) -> float:
        return _rate(self.correct, self.made)

    @property
    def improving_rate(self) -> float:
        return _rate(self.improving, self.made)

    def merge(self, other: "OperatorStats") -> "OperatorStats":
        """The sum of two counters (neither is changed)."""
        return OperatorStats(self.made + other.made, self.valid + other.valid,
                             self.correct + other.correct, self.improving + other.improving,
                             self.native_wins + other.native_wins, self.native_log_gain + other.native_log_gain)


@dataclass(slots=True)
class OperatorLedger:
    """OperatorStats keyed by operator name."""

    stats: dict[str, OperatorStats] = field(default_factory=dict)

    def record(self, name: str, *, valid: bool, correct: bool, improving: bool) -> None:
        entry = self.stats.get(name)
        if entry is None:
            entry = self.stats[name] = OperatorStats()
        entry.record(valid=valid, correct=correct, improving=improving)

    def record_native(self, name: str, time_ratio: float) -> None:
        self.stats.setdefault(name, OperatorStats()).record_native(time_ratio)

    def get(self, name: str) -> OperatorStats:
        return self.stats.get(name, OperatorStats())

    def merge(self, other: "OperatorLedger") -> "OperatorLedger":
        """A new ledger holding the per-name sums of both."""
        out = {name: OperatorStats().merge(s) for name, s in self.stats.items()}
        for name, s in other.stats.items():
            out[name] = out[name].merge(s) if name in out else OperatorStats().merge(s)
        return OperatorLedger(out)

    def as_rows(self) -> list[dict[str, int | float | str]]:
        """One dict per operator, sorted by name: counts and rates, ready for a table or JSON."""
        return [
            {"operator": name, "made": s.made, "valid": s.valid, "correct": s.correct,
             "improving": s.improving, "valid_rate": s.valid_rate, "correct_rate": s.correct_rate,
             "improving_rate": s.improving_rate, "native_wins": s.native_wins,
             "native_speedup": round(s.native_speedup, 4)}
            for name, s in sorted(self.stats.items())
        ]

    def to_dict(self) -> dict[str, list[float]]:
        """Plain figures, for checkpoints: name -> [made, valid, correct, improving, native_wins, native_log_gain]."""
        return {name: [s.made, s.valid, s.correct, s.improving, s.native_wins, s.native_log_gain]
                for name, s in self.stats.items()}

    @classmethod
    def from_dict(cls, data: dict[str, list[float]]) -> "OperatorLedger":
        """Reads checkpoints of either shape (the first four counts alone come from older ones)."""
        return cls({name: OperatorStats(*map(int, v[:5]), *map(float, v[5:6])) for name, v in data.items()})
