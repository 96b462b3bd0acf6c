"""`jeet monitor --network`: poll nodes' /status and show the network as one picture."""

from .snapshot import NodeView, Snapshot, collect, fetch_status, normalize_url
from .render import render_lines, render_live

__all__ = ["NodeView", "Snapshot", "collect", "fetch_status", "normalize_url", "render_lines", "render_live"]
