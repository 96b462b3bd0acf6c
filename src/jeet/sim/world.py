"""The scenario shared by the protocol under test and the baselines: who lies, who knows whom, who goes down
when, the injected specimen and the oracle that stands in for every node's sandbox."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ..specimen import Specimen
from .config import SimConfig

FUNCTION = "sim"
WASM_MAGIC = b"\x00asm\x01\x00\x00\x00"
MISCLAIMED_FITNESS = 0.3   # what a liar's "correct but slow" code really scores
LIE_SIZE = 256             # lies are small: nothing in the protocol judges code by its size


@dataclass
class World:
    """Everything random about a run except the transport, drawn once from the seed."""

    cfg: SimConfig
    ids: list[str]
    liar: list[bool]
    source: int                          # the honest node where the better specimen appears
    views: list[list[int]]               # initial partial views
    churn: list[tuple[list[int], list[int]]]  # per reported round: nodes going down, nodes coming back
    background: list[float]              # each honest node's own champion fitness
    good: Specimen
    oracle: dict[str, tuple[bool, float | None]] = field(default_factory=dict)
    _forged: dict[tuple[int, int], Specimen] = field(default_factory=dict, init=False, repr=False, compare=False)

    def verdict(self, sha: str) -> tuple[bool, float | None]:
        """What a node's own sandbox would say: (passes the oracle, local fitness)."""
        return self.oracle.get(sha, (False, None))

    def forge(self, liar: int, k: int) -> Specimen:
        """The k-th lie of a malicious node, announced with fitness 1.0: even k is wrong code, odd k is
        correct but slow code (its true fitness is MISCLAIMED_FITNESS). Made once: the protocol run and both
        baselines tell the same lies."""
        spec = self._forged.get((liar, k))
        if spec is None:
            tag = f"liar {liar} lie {k}".encode()
            wasm = WASM_MAGIC + tag + bytes(max(0, LIE_SIZE - len(WASM_MAGIC) - len(tag)))
            spec = self._forged[liar, k] = Specimen.of(FUNCTION, wasm, 1.0, 1000)
            self.oracle[spec.sha256] = (False, None) if k % 2 == 0 else (True, MISCLAIMED_FITNESS)
        return spec


def build_world(cfg: SimConfig) -> World:
    rng = random.Random(f"jeet-sim:{cfg.seed}:world")
    n = cfg.nodes
    ids = [f"n{i}" for i in range(n)]
    liar = [False] * n
    for i in rng.sample(range(n), cfg.liars):
        liar[i] = True
    honest = [i for i in range(n) if not liar[i]]
    source = honest[rng.randrange(len(honest))]
    k = min(cfg.view, n - 1)
    views = []
    for i in range(n):
        picks = rng.sample(range(n), min(k + 1, n))
        views.append([j for j in picks if j != i][:k])
    churn: list[tuple[list[int], list[int]]] = []
    if cfg.churn > 0:
        online = [True] * n
        for _ in range(cfg.rounds):
            down = [i for i in range(n) if online[i] and i != source and rng.random() < cfg.churn]
            back = [i for i in range(n) if not online[i] and rng.random() < 0.5]
            for i in down:
                online[i] = False
            for i in back:
                online[i] = True
            churn.append((down, back))
    else:
        churn = [([], [])] * cfg.rounds
    spread = 0.05
    background = [cfg.background + spread * (2 * rng.random() - 1) for _ in range(n)]
    payload = WASM_MAGIC + b"good" + rng.randbytes(cfg.specimen_size - len(WASM_MAGIC) - 4)
    good = Specimen.of(FUNCTION, payload, cfg.good_fitness, 800)
    world = World(cfg, ids, liar, source, views, churn, background, good)
    world.oracle[good.sha256] = (True, cfg.good_fitness)
    return world
