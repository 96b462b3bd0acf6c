"""The island of a pair node: co-evolution (`jeet.symbiosis.Coevolution`) in a thread of its own.

Pairs adopted from peers join through `Coevolution.immigrate`; the island publishes its champion and
its kept strong pairs (both held-out verified) as bundles, so strong pairs travel together.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Callable

from .island import IslandThread
from ..symbiosis import CoevolveConfig, Coevolution, PairBundle
from ..symbiosis.problem import PairProblem
from ..symbiosis.result import bundle_of

log = logging.getLogger("jeet.node")


class PairIsland(IslandThread):
    def __init__(self, problem: PairProblem, seed: int, on_champion: Callable[[bytes], None],
                 population: int | None = None) -> None:
        super().__init__("jeet-pair-island", on_champion)
        cfg = CoevolveConfig(budget_s=None, seed=seed)
        self.config = replace(cfg, population=population) if population else cfg
        self.problem = problem
        self._published: set[tuple[str, str]] = set()

    def run(self) -> None:
        try:
            with Coevolution(self.problem, self.config) as co:
                co.start()
                self.resumed_from = 0
                self.baseline_fuel = co.original.evaluation.fuel
                self._published.add(co.original.key)
                while not self._halt.is_set():
                    self._let_in(co)
                    co.step()
                    self.generation = co.state.generation
                    self._publish(co)
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("pair island stopped: %s", self.error)

    def _let_in(self, co: Coevolution) -> None:
        pairs = []
        for data in self.arrivals():
            try:
                pairs.append(PairBundle.from_bytes(data).pair)
            except Exception:  # the node verified it, so this cannot happen; never let it stop the island
                continue
        if pairs:
            self.immigrants_joined += len(co.immigrate(pairs, source="gossip"))

    def _publish(self, co: Coevolution) -> None:
        verified = [co.champion] + list(co.kept_pairs())
        for sp in verified:
            if sp is None or sp.key in self._published:
                continue
            if sp.verification is None or sp.verification.failures:
                continue
            self._published.add(sp.key)
            if sp is co.champion:
                self.champion_sha256, self.champion_fuel = sp.caller.sha256 + "+" + sp.callee.sha256, sp.evaluation.fuel
            self.on_champion(bundle_of(co, sp).to_bytes())
