"""The simulated transport: an event queue in integer milliseconds, latency with jitter, loss."""

from __future__ import annotations

import gc
import heapq
import random
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def paused_gc() -> Iterator[None]:
    """Run a simulation with the cyclic garbage collector off (restored afterwards). A run allocates millions of
    short-lived acyclic objects (messages, events) next to a large long-lived node graph, so every collection
    walks that graph for nothing: about a sixth of the run time. The graph's own cycles are freed afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class EventQueue:
    """Events bucketed by their millisecond; buckets come out in time order, events in insertion order."""

    __slots__ = ("_buckets", "_times")

    def __init__(self) -> None:
        self._buckets: dict[int, list] = {}
        self._times: list[int] = []

    def at(self, t: int, event: tuple) -> None:
        bucket = self._buckets.get(t)
        if bucket is None:
            self._buckets[t] = bucket = []
            heapq.heappush(self._times, t)
        bucket.append(event)

    def next_time(self) -> float:
        return self._times[0] if self._times else float("inf")

    def pop(self) -> tuple[int, list]:
        t = heapq.heappop(self._times)
        return t, self._buckets.pop(t)


class Link:
    """Delay (latency x U[0.5, 1.5], at least 1 ms) and loss of one message."""

    __slots__ = ("rng", "loss", "lo", "span")

    def __init__(self, latency_ms: float, loss: float, rng: random.Random) -> None:
        self.rng = rng
        self.loss = loss
        self.lo = max(1.0, 0.5 * latency_ms)
        self.span = latency_ms

    def delay(self) -> int:
        return int(self.lo + self.rng.random() * self.span)

    def lost(self) -> bool:
        return self.loss > 0.0 and self.rng.random() < self.loss
