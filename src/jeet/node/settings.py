"""What a node is told at start (`NodeSettings`), and the workload those settings name.

Apart from the daemon so that its helpers (the verifier's worker processes, the CLI) can read settings and
load the workload without importing the daemon.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..errors import JeetError
from ..evolve import EvolveConfig
from .pair_workload import PairWorkload
from .workload import Check, Workload


class NodeWorkload(Protocol):
    """What a node evolves and judges: one module's function (`Workload`) or a linked pair (`PairWorkload`).

    `check` runs the node's own correctness gate on received bytes; `original` is the input every
    specimen must be equivalent to.
    """

    @property
    def original(self) -> bytes: ...

    def check(self, data: bytes) -> Check: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class NodeSettings:
    data: Path
    listen: str = "127.0.0.1:0"
    peers: tuple[str, ...] = ()
    http: str | None = None
    http_token: str | None = None  # None: the one generated into the data folder (http.token)
    http_timeout: float = 10.0     # seconds a client has for a request's headers, and then for its body
    # store caps (forgotten under them as `jeet gc` does); None: the folder's remembered cap, else the default
    max_specimens: int | None = None
    max_store_mb: float | None = None
    kernel: str | None = "popcount"  # "pair": the built-in symbiotic pair
    module: Path | None = None
    partner: Path | None = None  # with `module`: a caller + callee pair workload
    function: str | None = None
    tests: Path | None = None
    evolve: bool = True
    evolve_config: EvolveConfig = field(default_factory=lambda: EvolveConfig(budget_s=None, workers=1))
    heartbeat: float = 1.0
    seed: int | None = None  # the protocol's random choices; None: from the OS


def split_address(text: str) -> tuple[str, int]:
    """"host:port" -> (host, port); JeetError with one line otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise JeetError(f"bad address {text!r}: expected HOST:PORT")
    return host, int(port)



def load_workload(s: NodeSettings) -> NodeWorkload:
    if s.partner is not None or (s.module is None and s.kernel == "pair"):
        return PairWorkload.load(s.module, s.partner, s.function, s.tests)
    return Workload.load(s.kernel, s.module, s.function, s.tests)


