"""Per-operator outcome counters: how many offspring each operator made, and how many were valid,
correct and improving. The loop records one outcome per evaluated child; ledgers from several
workers or islands merge by addition."""

from __future__ import annotations

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

    def record(self, *, valid: bool, correct: bool, improving: bool) -> None:
        if (correct and not valid) or (improving and not correct):
            raise ValueError("an outcome is improving => correct => valid; got "
                             f"valid={valid} correct={correct} improving={improving}")
        self.made += 1
        self.valid += bool(valid)
        self.correct += bool(correct)
        self.improving += bool(improving)

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
                             self.correct + other.correct, self.improving + other.improving)


@dataclass(slots=True)
class OperatorLedger:
    """OperatorStats keyed by operator name."""

    stats: dict[str, OperatorStats] = field(default_factory=dict)

    def record(self, name: str, *, valid: bool, correct: bool, improving: bool) -> None:
        entry = self.stats.get(name)
        if entry is None:
            entry = self.stats[name] = OperatorStats()
        entry.record(valid=valid, correct=correct, improving=improving)

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
             "improving_rate": s.improving_rate}
            for name, s in sorted(self.stats.items())
        ]

    def to_dict(self) -> dict[str, list[int]]:
        """Plain counts, for checkpoints: name -> [made, valid, correct, improving]."""
        return {name: [s.made, s.valid, s.correct, s.improving] for name, s in self.stats.items()}

    @classmethod
    def from_dict(cls, data: dict[str, list[int]]) -> "OperatorLedger":
        return cls({name: OperatorStats(*map(int, counts)) for name, counts in data.items()})
