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
from ..store import default_data_dir
from . import checks
from .errors import user_errors

EXIT_FORCED = 3


@user_errors
def node(
    listen: str = typer.Option("127.0.0.1:7700", "--listen", help="HOST:PORT for peers (port 0: any free port)."),
    peer: Optional[List[str]] = typer.Option(None, "--peer", help="HOST:PORT of a node to join (repeatable)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Data folder: identity, store, member list (default ~/.jeet)."),
    http: Optional[str] = typer.Option(None, "--http", help="HOST:PORT for /status, /specimens, /metrics "
                                       "(loopback unless --http-token or --http-public; POST needs the token)."),
    http_token: Optional[str] = typer.Option(None, "--http-token", envvar="JEET_HTTP_TOKEN",
                                             help="Token that POST requests must send (default: generated into "
                                             "DATA/http.token). Needed to bind --http beyond loopback."),
    http_public: bool = typer.Option(False, "--http-public", help="Allow --http on a non-loopback address "
                                     "with the generated token."),
    http_timeout: float = typer.Option(10.0, "--http-timeout", help="Seconds an HTTP client has for a "
                                       "request's headers, and then for its body."),
    max_specimens: Optional[int] = typer.Option(None, "--max-specimens", help="Store cap: specimens kept in "
                                                "DATA, the least relevant forgotten as jeet gc does (default: the "
                                                "folder's cap, else 4096)."),
    max_store_mb: Optional[float] = typer.Option(None, "--max-store-mb", help="Store cap: MiB on disk "
                                                 "(default: the folder's cap, else 256)."),
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
    from ..node.settings import split_address

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
    split_address(listen)  # a malformed address is one line, before anything starts
    warning = None
    if http:
        from ..node.token import check_token, http_exposure

        warning = http_exposure(split_address(http)[0], http_token is not None, http_public)
        if http_token is not None:
            check_token(http_token)
    if not 0.1 <= http_timeout <= 600:
        raise JeetError(f"--http-timeout must be between 0.1 and 600 seconds, not {http_timeout:g}")
    if max_specimens is not None and max_specimens < 16:
        raise JeetError(f"--max-specimens must be at least 16, not {max_specimens}")
    if max_store_mb is not None and not 1 <= max_store_mb <= 1 << 20:
        raise JeetError(f"--max-store-mb must be between 1 and {1 << 20}, not {max_store_mb:g}")
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
                            http=http, http_token=http_token, http_timeout=http_timeout,
                            max_specimens=max_specimens, max_store_mb=max_store_mb, kernel=kernel, module=module, partner=partner, function=function, tests=tests,
                            evolve=not no_evolve, evolve_config=_unbounded(cfg), heartbeat=heartbeat, seed=seed)
    if warning:
        print(f"jeet: {warning}", file=sys.stderr)
    _raise_fd_limit()
    try:
        asyncio.run(_serve(settings))
    except OSError as exc:  # the peer port (the HTTP port's failure is named by the node itself)
        text = str(exc.strerror or exc)
        reason = text.rsplit(": ", 1)[-1] if "bind on address" in text else text
        raise JeetError(f"cannot listen on {listen} (--listen): {reason}") from None


def _raise_fd_limit() -> None:
    """Every connection is a descriptor: a node needs more than the common soft limit of 1024 to ride out a
    flood of idle connections while its limits and timeouts shed them."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 16384 if hard == resource.RLIM_INFINITY else min(hard, 16384)
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            pass


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
             "http": f"{node.http_address[0]}:{node.http_address[1]}" if node.http_address else None,
             "http_token": node.http_token}
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    await node.serve_forever()
