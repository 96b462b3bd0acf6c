"""A malicious node for the simulator: it runs the real protocol for membership and mesh upkeep (so it stays
in meshes), but from `start` on it announces a fresh lie every heartbeat with fitness 1.0 (wrong code, or
correct code with an inflated claim), serves its lies on IWANT, drops what it should forward, and answers
every honest announcement with a false blacklist notice to its mesh."""

from __future__ import annotations

import random
from typing import Callable

from ..net.actions import Action, Send
from ..net.config import NodeConfig
from ..net.messages import Announce, BlacklistNotice, IWant, Message, Specimen, SpecimenData, Verdict
from ..net.protocol import GossipNode

LIE_FITNESS = 1.0


class Liar(GossipNode):
    def __init__(self, node_id: str, address: str, *, rng: random.Random, config: NodeConfig,
                 forge: Callable[[int], Specimen], start: float, now: float = 0.0) -> None:
        super().__init__(node_id, address, rng=rng, config=config, now=now)
        self._forge = forge
        self._lie_at = start + rng.random() * config.heartbeat
        self._lies = 0
        self._mine: dict[str, SpecimenData] = {}
        self._noticed: dict[str, None] = {}

    def receive(self, sender: str, message: Message, now: float) -> list[Action]:
        cls = type(message)
        if cls is IWant:
            return [Send(sender, self._mine[h]) for h in message.hashes if h in self._mine]
        if cls is Announce:
            sha = message.sha256
            if now >= self._lie_at and sha not in self._mine and sha not in self._noticed:
                self._noticed[sha] = None
                notice = BlacklistNotice(sha, "traps")
                return [Send(peer, notice) for peer in self.mesh_peers()]
            return []
        if cls is SpecimenData or cls is Verdict or cls is BlacklistNotice:
            return []
        return super().receive(sender, message, now)

    def tick(self, now: float) -> list[Action]:
        out = super().tick(now)
        if now >= self._lie_at:
            self._lie_at += self.config.heartbeat
            spec = self._forge(self._lies)
            self._lies += 1
            self._mine[spec.sha256] = SpecimenData(spec.sha256, spec.function, spec.wasm, LIE_FITNESS, spec.fuel)
            ann = Announce(spec.sha256, spec.function, LIE_FITNESS, spec.fuel, len(spec.wasm))
            mesh = self.mesh_peers()
            others = [m for m in self.members() if m not in self._mesh]
            k = min(len(others), self.config.lazy_degree)
            targets = mesh + self._rng.sample(others, k)
            out.extend(Send(t, ann) for t in targets)
        return out

    def next_timer(self) -> float:
        return min(self._wake, self._lie_at)
