"""`jeet node`: run one node of the swarm until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import JeetError
from ..evolve import EvolveConfig
from ..net import NetError
from ..store import default_data_dir
from . import checks
from .errors import user_errors

EXIT_FORCED = 3


@user_errors
def node(
    listen: str = typer.Option("127.0.0.1:7700", "--listen", help="HOST:PORT for peers (port 0: any free port)."),
    peer: Optional[List[str]] = typer.Option(None, "--peer", help="HOST:PORT of a node to join (repeatable)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Data folder: identity, store, member list (default ~/.jeet)."),
    http: Optional[str] = typer.Option(None, "--http", help="HOST:PORT for /status, /specimens, /metrics."),
    workload: str = typer.Option("popcount", "--workload", help="A built-in kernel name, 'pair' (the built-in "
                                 "symbiotic pair), or a module file (.wasm/.wat)."),
    partner: Optional[Path] = typer.Option(None, "--partner", help="With a module workload: the callee module it "
                                           "imports from; the node then evolves and shares the pair."),
    function: Optional[str] = typer.Option(None, "--function", "-f", help="Exported function of a module workload."),
    tests: Optional[Path] = typer.Option(None, "--tests", help="JSON Lines test cases for a module workload."),
    no_evolve: bool = typer.Option(False, "--no-evolve", help="Only verify, adopt and forward; do not evolve."),
    workers: int = typer.Option(1, "--workers", help="Evaluation processes of the island."),
    population: Optional[int] = typer.Option(None, "--population", help="Island population size."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Island seed (and the protocol's, for reproducible tests)."),
    config: Optional[Path] = typer.Option(None, "--config", help="JSON evolve config for the island."),
    heartbeat: float = typer.Option(1.0, "--heartbeat", help="Seconds between protocol heartbeats."),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
    force: bool = typer.Option(False, "--force", help="Allow more --workers than cores."),
) -> None:
    """Run a node: evolve the workload as an island, verify and share specimens with peers."""
    from ..node import NodeSettings
    from ..node.daemon import split_address

    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int):
        raise JeetError(f"unknown --log-level {log_level!r}")
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    checks.workers("--workers", workers, force)
    checks.count("--population", population, 4, checks.MAX_POPULATION)
    checks.count("--seed", seed, 0, checks.MAX_SEED)
    checks.seconds("--heartbeat", heartbeat, 3600.0)
    checks.check_tests(tests)
    checks.check_input(partner, "--partner")
    if config is not None:
        checks.check_tests(config, "--config")
    listen_at = split_address(listen)
    http_at = split_address(http) if http else None
    for p in peer or []:
        split_address(p)
    kernel, module = _workload(workload)
    if module is None and (function or tests or partner):
        raise JeetError("--function, --tests and --partner go with a module workload (a file), not a built-in one")
    if partner is not None and not partner.is_file():
        raise JeetError(f"--partner: no such file: {partner}")
    if module is not None:
        checks.check_input(module, "--workload")
    base = EvolveConfig.from_file(config) if config else EvolveConfig()
    checks.evolve_config(base, f"config {config}")
    cfg = base.with_overrides(workers=workers, population=population, seed=seed)
    checks.workers("config workers", cfg.workers, force)
    settings = NodeSettings(data=(data or default_data_dir()).expanduser(), listen=listen, peers=tuple(peer or ()),
                            http=http, kernel=kernel, module=module, partner=partner, function=function, tests=tests,
                            evolve=not no_evolve, evolve_config=_unbounded(cfg), heartbeat=heartbeat, seed=seed)
    try:
        asyncio.run(_serve(settings))
    except NetError as exc:
        raise JeetError(str(exc)) from None
    except OSError as exc:
        raise JeetError(_bind_failure(exc, listen, listen_at, http, http_at)) from None


def _bind_failure(exc: OSError, listen: str, listen_at, http: str | None, http_at) -> str:
    """Which of the two addresses could not be bound, in the words the operator typed."""
    text = str(exc.strerror or exc)
    reason = text.rsplit(": ", 1)[-1] if "bind on address" in text else text
    if http_at is not None and http_at[1] != listen_at[1] and f", {http_at[1]})" in text:
        return f"cannot listen on {http} (--http): {reason}"
    return f"cannot listen on {listen} (--listen): {reason}"


def _workload(text: str) -> tuple[str | None, Path | None]:
    from ..kernels import KERNELS

    path = Path(text)
    if path.exists():
        return None, path
    if text == "pair" or text in {k.name for k in KERNELS}:
        return text, None
    raise JeetError(f"--workload {text!r} is neither a file nor a built-in kernel")


def _unbounded(cfg: EvolveConfig) -> EvolveConfig:
    """A node's island runs until the node stops."""
    from dataclasses import replace

    return replace(cfg, budget_s=None, generations=None, max_evaluations=None, stagnation=None)


async def _serve(settings) -> None:
    from ..node import Node

    node = Node(settings)
    await node.start()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if node.stop_requested:  # a second signal: the operator does not want to wait for a clean exit
            os._exit(EXIT_FORCED)
        node.request_stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    ready = {"node_id": node.identity.node_id, "address": node.address, "function": node.function_id,
             "http": f"{node.http_address[0]}:{node.http_address[1]}" if node.http_address else None}
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    await node.serve_forever()
