"""What one simulation run is: network size, rounds, transport, churn, adversaries, seed."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ..errors import SimError


@dataclass(frozen=True, slots=True)
class SimConfig:
    """One run. A round is one heartbeat of the protocol (`round_ms`); messages take `latency_ms` x U[0.5, 1.5]
    to arrive and are lost with probability `loss`; each round every node but the source goes down with
    probability `churn` and a down node comes back with probability 1/2 (a restart keeping its state);
    a verification takes `verify_ms` and a node runs one at a time."""

    nodes: int = 1000
    rounds: int = 10
    degree: int = 6
    loss: float = 0.0
    latency_ms: float = 100.0
    churn: float = 0.0
    malicious: float = 0.0
    seed: int = 0
    verify_ms: float = 100.0
    warmup: int = 3                 # rounds before the injection: the mesh forms, not reported
    view: int = 24                  # members each node knows at the start (partial view)
    specimen_size: int = 4096
    good_fitness: float = 0.70      # the injected better specimen; honest populations sit around 0.5
    background: float = 0.5
    flood_degree: int = 20
    push_fanout: int = 3

    def __post_init__(self) -> None:
        def need(ok: bool, what: str) -> None:
            if not ok:
                raise SimError(what)

        need(2 <= self.nodes <= 200_000, f"--nodes must be between 2 and 200000, got {self.nodes}")
        need(1 <= self.rounds <= 10_000, f"--rounds must be between 1 and 10000, got {self.rounds}")
        need(1 <= self.degree <= 64, f"--degree must be between 1 and 64, got {self.degree}")
        need(0.0 <= self.loss < 1.0 and math.isfinite(self.loss), f"--loss must be in [0, 1), got {self.loss}")
        need(1.0 <= self.latency_ms <= 10_000 and math.isfinite(self.latency_ms),
             f"--latency must be between 1 and 10000 ms, got {self.latency_ms}")
        need(0.0 <= self.churn < 1.0, f"--churn must be in [0, 1), got {self.churn}")
        need(0.0 <= self.malicious < 1.0, f"--malicious must be in [0, 1), got {self.malicious}")
        need(self.honest >= 1, "at least one honest node is needed")
        need(0 <= self.seed < 2**63, f"--seed must be a non-negative integer, got {self.seed}")
        need(0.0 <= self.verify_ms <= 60_000, f"--verify-ms must be between 0 and 60000, got {self.verify_ms}")
        need(0 <= self.warmup <= 100 and self.view >= 1 and self.specimen_size >= 16, "bad internal parameter")
        need(0.0 < self.good_fitness <= 1.0 and 0.0 < self.background <= 1.0, "fitness values must be in (0, 1]")

    @property
    def liars(self) -> int:
        return int(round(self.nodes * self.malicious))

    @property
    def honest(self) -> int:
        return self.nodes - self.liars

    @property
    def round_ms(self) -> int:
        """One heartbeat: 1 s, longer when the latency would not fit a probe and its indirect round."""
        return max(1000, int(math.ceil(4 * self.latency_ms)))

    def as_dict(self) -> dict:
        return asdict(self)
