"""The dashboard: the roadmap's timestamped lines, then the nodes and the propagation counters."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Callable

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from .snapshot import Snapshot

COUNTERS = ("announced", "fetched", "adopted", "rejected", "peers_ignored", "served", "malformed")


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t).strftime("[%Y-%m-%d %H:%M:%S]")


def render_lines(snap: Snapshot, top: int = 5) -> list[str]:
    """The plain-text snapshot (what `--once` prints)."""
    st = _stamp(snap.time)
    fit = "n/a" if snap.network_fitness is None else f"{snap.network_fitness:.2f}"
    mem = "n/a" if snap.memory_pressure is None else f"{snap.memory_pressure * 100:.0f}%"
    lines = [f"{st} Network Fitness: {fit}", f"{st} Memory Pressure: {mem}", f"{st} Top Specimens:"]
    if not snap.top:
        lines.append("  (none yet)")
    for i, t in enumerate(snap.top[:top], 1):
        lines.append(f"  {i}. SHA256:{t['sha256'][:8]}... (Fitness: {t['fitness']:.2f})"
                     f"  fuel {t['fuel']}  on {t['nodes']} node{'s' if t['nodes'] != 1 else ''}")
    lines.append(f"{st} Nodes: {snap.reachable}/{len(snap.nodes)} reachable")
    for p in snap.peers:
        best = "-" if p["best"] is None else f"{p['best']:.2f}"
        gen = "-" if p["generation"] is None else str(p["generation"])
        lines.append(f"  {str(p['node_id'])[:12]} {p['address']}  peers {p['peers']}  mesh {p['mesh']}  "
                     f"ignored {p['ignored']}  adopted {p['adopted']}  best {best}  generation {gen}")
    for n in snap.nodes:
        if n.status is None:
            lines.append(f"  unreachable {n.url}: {n.error}")
    c = snap.counters
    lines.append(f"{st} Propagation: " + "  ".join(f"{k} {c.get(k, 0)}" for k in COUNTERS))
    return lines


def _table(snap: Snapshot) -> Group:
    head = Text("\n".join(render_lines(snap)[:3 + max(1, min(5, len(snap.top)))]))
    nodes = Table(title=f"nodes ({snap.reachable}/{len(snap.nodes)} reachable)", expand=False)
    for col in ("node", "address", "peers", "mesh", "ignored", "adopted", "best", "generation"):
        nodes.add_column(col, justify="right" if col not in ("node", "address") else "left")
    for p in snap.peers:
        nodes.add_row(str(p["node_id"])[:12], str(p["address"]), str(p["peers"]), str(p["mesh"]),
                      str(p["ignored"]), str(p["adopted"]), "-" if p["best"] is None else f"{p['best']:.2f}",
                      "-" if p["generation"] is None else str(p["generation"]))
    for n in snap.nodes:
        if n.status is None:
            nodes.add_row("unreachable", n.url, "", "", "", "", "", n.error[:30])
    counters = Table(title="propagation (sum over nodes)")
    for k in COUNTERS:
        counters.add_column(k, justify="right")
    counters.add_row(*(str(snap.counters.get(k, 0)) for k in COUNTERS))
    return Group(head, nodes, counters)


def render_live(poll: Callable[[], Snapshot], interval: float, console: Console,
                duration: float | None = None) -> None:
    """Refresh every `interval` seconds until Ctrl-C (or `duration` seconds, for scripted use)."""
    end = None if duration is None else time.monotonic() + duration
    with Live(_table(poll()), console=console, refresh_per_second=4, screen=False) as live:
        while end is None or time.monotonic() < end:
            time.sleep(interval if end is None else max(0.0, min(interval, end - time.monotonic())))
            live.update(_table(poll()))
