"""`jeet monitor --network`: a live dashboard of the swarm, read from the nodes' /status."""

from __future__ import annotations

import json
import sys
from typing import Optional

import typer
from rich.console import Console

from ..errors import JeetError
from . import checks
from .errors import user_errors


@user_errors
def monitor(
    network: bool = typer.Option(False, "--network", help="Watch the network of nodes given by --peers."),
    peers: Optional[str] = typer.Option(None, "--peers", help="Comma-separated node HTTP addresses (URL or HOST:PORT)."),
    once: bool = typer.Option(False, "--once", help="Print one snapshot and exit."),
    json_out: bool = typer.Option(False, "--json", help="Print one snapshot as JSON and exit."),
    interval: float = typer.Option(2.0, "--interval", help="Seconds between refreshes."),
    duration: Optional[float] = typer.Option(None, "--duration", help="Stop after this many seconds."),
    timeout: float = typer.Option(2.0, "--timeout", help="Seconds to wait for each node."),
) -> None:
    """Show network fitness, memory pressure, top specimens, peers and propagation counters."""
    from ..monitor import collect, normalize_url, render_lines, render_live

    if not network:
        raise JeetError("jeet monitor watches a network: give --network --peers URL[,URL...]")
    if not peers:
        raise JeetError("--peers is required: the HTTP address of one or more nodes (jeet node --http)")
    checks.seconds("--interval", interval, 3600.0)
    checks.seconds("--timeout", timeout, 600.0)
    checks.seconds("--duration", duration)
    urls = [normalize_url(p) for p in peers.split(",") if p.strip()]
    if not urls:
        raise JeetError("--peers is empty")
    if json_out or once:
        snap = collect(urls, timeout)
        if json_out:
            sys.stdout.write(json.dumps(snap.to_dict()) + "\n")
        else:
            sys.stdout.write("\n".join(render_lines(snap)) + "\n")
        if snap.reachable == 0:
            raise JeetError("no node answered: " + "; ".join(f"{n.url}: {n.error}" for n in snap.nodes))
        return
    render_live(lambda: collect(urls, timeout), interval, Console(), duration)
