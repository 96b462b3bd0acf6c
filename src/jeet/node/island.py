"""The node's island: the core evolution loop in a thread of its own, fed with immigrants from the swarm.

Verified specimens adopted from peers join the population between generations (`Evolution.immigrate`,
re-scored on the island's training set, fair replacement), so the 40/30/30 round runs over residents and
immigrants together. Each new held-out-verified champion goes to `on_champion` (called in this thread).
The run is checkpointed every generation in the node's store, so a restarted node resumes it.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from dataclasses import replace
from pathlib import Path
from typing import Callable

import psutil

from ..evolve import EvolveConfig, Evolution, Problem
from ..store import Store
from .verifier import NICE, background_priority

log = logging.getLogger("jeet.node")


def lower_children(keep: set[int]) -> None:
    """The island's evaluation workers (children of this process, except `keep`) at the lowest priority.

    Threads of the node process itself keep theirs: a low-priority thread holding the GIL would stall
    the network loop waiting for it."""
    for child in psutil.Process().children(recursive=True):
        if child.pid in keep:
            continue
        try:
            if os.sched_getscheduler(child.pid) != os.SCHED_IDLE and child.nice() < NICE:
                background_priority(child.pid)
        except (psutil.Error, OSError, AttributeError):
            pass


class IslandThread(threading.Thread):
    """What the node sees of an island, whatever evolves in it: an immigrant queue, a stop flag, figures."""

    def __init__(self, name: str, on_champion: Callable[[bytes], None]) -> None:
        super().__init__(name=name, daemon=True)
        self.on_champion = on_champion
        self._immigrants: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._halt = threading.Event()
        self.generation = 0
        self.resumed_from: int | None = None
        self.immigrants_received = 0
        self.immigrants_joined = 0
        self.champion_sha256: str | None = None
        self.champion_fuel: int | None = None
        self.baseline_fuel: int | None = None
        self.error: str | None = None

    def immigrate(self, data: bytes) -> None:
        self._immigrants.put(data)

    def stop(self) -> None:
        self._halt.set()

    def arrivals(self) -> list[bytes]:
        """Everything that arrived since the last call (counted as received)."""
        out = []
        while True:
            try:
                out.append(self._immigrants.get_nowait())
            except queue.Empty:
                break
        self.immigrants_received += len(out)
        return out


class Island(IslandThread):
    def __init__(self, problem: Problem, config: EvolveConfig, store_root: Path,
                 on_champion: Callable[[bytes], None], keep_priority: Callable[[], set[int]] = set) -> None:
        super().__init__("jeet-island", on_champion)
        self.problem = problem
        # the island searches by fuel and offers every held-out-verified champion at once: the node's verifier
        # is the gate that proves it and measures its native time (what /status reports) before anything is
        # stored or offered, so a proof or a race inside the island would only do that work twice
        self.config = replace(config, objective="fuel", prove=False)
        self.store_root = store_root
        self.keep_priority = keep_priority

    def run(self) -> None:
        try:
            with Store(self.store_root) as store, \
                    Evolution(self.problem, self.config, store=store, resume=True) as evo:
                evo.start()  # resumes the node's unfinished run from its last checkpoint, if any
                lower_children(self.keep_priority())
                self.generation = self.resumed_from = evo.state.generation
                self.baseline_fuel = evo.baseline.fuel
                self._publish(evo)
                while not self._halt.is_set():
                    self._let_in(evo)
                    evo.step()
                    self.generation = evo.state.generation
                    if self.generation % 50 == 0:  # workers replaced after a crash start at normal priority
                        lower_children(self.keep_priority())
                    self._publish(evo)
        except Exception as exc:  # the node keeps serving the swarm without its island
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("island stopped: %s", self.error)

    def _let_in(self, evo: Evolution) -> None:
        arrivals = self.arrivals()
        if arrivals:
            self.immigrants_joined += len(evo.immigrate(arrivals, source="gossip"))

    def _publish(self, evo: Evolution) -> None:
        champ = evo.champion
        if champ is None or champ.sha256 == self.champion_sha256:
            return
        self.champion_sha256, self.champion_fuel = champ.sha256, champ.evaluation.fuel
        if champ.sha256 != self.problem.sha256:
            self.on_champion(champ.wasm)
