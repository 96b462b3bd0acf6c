"""Self-adaptive operator rates: operators whose offspring improve on their parents are drawn more often.

Each generation an operator's credit is the fraction of its offspring that beat their best parent;
a running quality estimate follows that credit, and the selection probabilities follow the quality:
"pursuit" moves every probability a step towards a target that favours the current best operator
(Thierens' adaptive pursuit), "matching" sets probabilities proportional to quality (probability
matching). Both keep every operator at or above a floor so none starves, and both are plain
arithmetic on the run's own outcomes, so a seeded run adapts the same way every time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

MODES = ("off", "pursuit", "matching")


@dataclass(slots=True)
class OperatorRates:
    """Selection probabilities over one pool of operators (mutations or crossovers)."""

    names: tuple[str, ...]
    probabilities: list[float]
    quality: list[float]
    mode: str = "matching"
    rate: float = 0.2
    floor: float = 0.05

    @classmethod
    def initial(cls, names: list[str], weights: dict[str, float], *, mode: str = "matching", rate: float = 0.2,
                floor: float = 0.05) -> "OperatorRates":
        """Start from the configured static weights (missing names weigh 1); a zero weight removes an
        operator for good, unless every weight is zero (then all are used, equally)."""
        if mode not in MODES:
            raise ValueError(f"unknown adaptation mode {mode!r}: use {', '.join(MODES)}")
        w = {n: max(0.0, float(weights.get(n, 1.0))) for n in names}
        kept = tuple(n for n in names if w[n] > 0) or tuple(names)
        total = sum(w[n] for n in kept)
        probs = [w[n] / total if total > 0 else 1.0 / len(kept) for n in kept]
        rates = cls(kept, probs, [0.0] * len(kept), mode, rate, floor)
        if mode != "off":
            rates.probabilities = rates._clamped(probs)
        return rates

    @property
    def p_min(self) -> float:
        """The floor actually applied: the configured one, or half the uniform share if that is smaller, so that
        with many operators (twenty mutators at a floor of 0.05 would pin every one) half of the probability
        still follows their success."""
        return min(self.floor, 0.5 / len(self.names))

    def choose(self, rng: random.Random) -> str:
        return rng.choices(self.names, weights=self.probabilities)[0]

    def update(self, credit: dict[str, tuple[int, int] | list[int]]) -> None:
        """Fold in one generation's outcomes: name -> (offspring made, offspring that improved)."""
        if self.mode == "off" or len(self.names) < 2:
            return
        seen = False
        for i, name in enumerate(self.names):
            made, improved = credit.get(name, (0, 0))
            if made > 0:
                self.quality[i] += self.rate * (improved / made - self.quality[i])
                seen = True
        if not seen:
            return
        if self.mode == "matching":
            self._match()
        else:
            self._pursue()

    def _pursue(self) -> None:
        best = max(self.quality)
        winners = [i for i, q in enumerate(self.quality) if q >= best - 1e-12]
        if len(winners) == len(self.names):
            return  # no operator stands out: nothing to pursue
        k, lo = len(self.names), self.p_min
        hi = (1.0 - (k - len(winners)) * lo) / len(winners)
        self.probabilities = [p + self.rate * ((hi if i in winners else lo) - p)
                              for i, p in enumerate(self.probabilities)]

    def _match(self) -> None:
        total = sum(self.quality)
        if total <= 0:
            return
        k, lo = len(self.names), self.p_min
        self.probabilities = [lo + (1.0 - k * lo) * q / total for q in self.quality]

    def _clamped(self, probs: list[float]) -> list[float]:
        """Raise every probability to the floor, taking the difference from the others in proportion."""
        lo = self.p_min
        low = [p < lo for p in probs]
        spare = sum(p - lo for p, is_low in zip(probs, low) if not is_low)
        need = sum(lo - p for p, is_low in zip(probs, low) if is_low)
        if need <= 0 or spare <= 0:
            return list(probs)
        return [lo if is_low else lo + (p - lo) * (1 - need / spare) for p, is_low in zip(probs, low)]

    def as_dict(self) -> dict[str, float]:
        """name -> current selection probability, rounded for reports."""
        return {n: round(p, 4) for n, p in zip(self.names, self.probabilities)}

    def to_state(self) -> dict:
        """Everything needed to continue adapting after a resume (exact floats)."""
        return {"names": list(self.names), "probabilities": list(self.probabilities), "quality": list(self.quality)}

    def restore(self, state: dict) -> None:
        """Adopt a checkpointed state if it is for the same operators; otherwise keep the fresh start."""
        if tuple(state.get("names", ())) == self.names:
            self.probabilities = [float(p) for p in state["probabilities"]]
            self.quality = [float(q) for q in state["quality"]]
