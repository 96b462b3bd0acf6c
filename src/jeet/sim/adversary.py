"""A malicious node for the simulator: it runs the real protocol for membership and mesh upkeep (so it stays
in meshes), but from `start` on it announces a fresh lie every heartbeat with fitness 1.0 (wrong code, or
correct code with an inflated claim), serves its lies on IWANT, drops what it should forward, and answers
every honest announcement with a false blacklist notice to its mesh."""

from __future__ import annotations

import random
from typing import Callable

from ..net.actions import Action, Send
from ..net.config import NodeConfig
from ..net.messages import Announce, BlacklistNotice, IWant, Message, SpecimenData, Verdict
from ..specimen import Specimen
from ..net.protocol import GossipNode

LIE_FITNESS = 1.0


class Liar(GossipNode):
    DROPS = frozenset({SpecimenData, Verdict, BlacklistNotice})  # what a liar drops unread
    MAY_IGNORE = DROPS | {Announce}                               # `ignores` is False for any other type

    def __init__(self, node_id: str, address: str, *, rng: random.Random, config: NodeConfig,
                 forge: Callable[[int], Specimen], start: float, now: float = 0.0) -> None:
        super().__init__(node_id, address, rng=rng, config=config, now=now)
        self._forge = forge
        self._lie_at = start + rng.random() * config.heartbeat  # the next lie; only ever moves forward
        self._lies = 0
        self._mine: dict[str, SpecimenData] = {}
        self._noticed: dict[str, None] = {}

    def ignores(self, message: Message, now: float) -> bool:
        """True if receiving `message` at `now` (or later: `_lie_at` only grows) will change nothing and send
        nothing, so the simulator need not deliver it."""
        cls = type(message)
        return cls in self.DROPS or (cls is Announce and now < self._lie_at)

    def receive(self, sender: str, message: Message, now: float) -> list[Action]:
        cls = type(message)
        if cls is Announce:
            if now >= self._lie_at:
                sha = message.sha256
                if sha not in self._mine and sha not in self._noticed:
                    self._noticed[sha] = None
                    notice = BlacklistNotice(sha, "traps")
                    return [Send(peer, notice) for peer in self._mesh]
            return []
        if cls is IWant:
            mine = self._mine
            return [Send(sender, mine[h]) for h in message.hashes if h in mine]
        if cls in self.DROPS:
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
            mesh = self._mesh
            others = [m for m in self._swim.members if m not in mesh]
            k = min(len(others), self.config.lazy_degree)
            out += [Send(t, ann) for t in mesh]
            out += [Send(t, ann) for t in self._rng.sample(others, k)]
        return out

    def next_timer(self) -> float:
        wake, lie = self._wake, self._lie_at
        return lie if lie < wake else wake
