"""Retry timing for what a lost message must not end: a Join until a member list arrives, a dial to an
address that failed. Sans-I/O: the host passes `now` and an RNG; the jitter keeps nodes started together
from retrying in lockstep.
"""

from __future__ import annotations

import random

from ..errors import NetError


class Backoff:
    """Exponential backoff with full jitter in [delay/2, delay], from `first` up to `cap` seconds."""

    __slots__ = ("first", "cap", "factor", "_rng", "_delay", "_due", "attempts")

    def __init__(self, rng: random.Random, first: float = 0.25, cap: float = 2.0, factor: float = 2.0) -> None:
        if not 0 < first <= cap or factor < 1:
            raise NetError("Backoff: need 0 < first <= cap and factor >= 1")
        self.first, self.cap, self.factor = first, cap, factor
        self._rng = rng
        self._delay = first
        self._due = 0.0  # the first attempt is due at once
        self.attempts = 0

    def due(self, now: float) -> bool:
        return now >= self._due

    def next_at(self) -> float:
        return self._due

    def attempted(self, now: float) -> None:
        """An attempt was made at `now`: the next is due after the current delay (jittered), which grows."""
        self.attempts += 1
        self._due = now + self._delay * (0.5 + 0.5 * self._rng.random())
        self._delay = min(self.cap, self._delay * self.factor)

    def reset(self) -> None:
        """It worked: the next failure starts from the first delay again."""
        self._delay = self.first
        self._due = 0.0
        self.attempts = 0
