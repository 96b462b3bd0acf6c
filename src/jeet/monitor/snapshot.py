"""One snapshot of the network, merged from the /status of every node the monitor can reach.

Network fitness is the mean of the reachable nodes' own estimates (each an EWMA over verified figures, see
`jeet.net.protocol`); memory pressure is the mean over nodes (the maximum is shown too); top specimens are
merged by hash, each with the best fitness any node measured and the number of nodes holding it.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from ..errors import JeetError

MAX_STATUS_BYTES = 8 << 20


@dataclass(frozen=True, slots=True)
class NodeView:
    url: str
    status: dict | None  # None when unreachable
    error: str = ""


@dataclass
class Snapshot:
    time: float
    nodes: list[NodeView]
    network_fitness: float | None
    memory_pressure: float | None
    memory_pressure_max: float | None
    top: list[dict]
    counters: dict[str, int]
    peers: list[dict] = field(default_factory=list)

    @property
    def reachable(self) -> int:
        return sum(1 for n in self.nodes if n.status is not None)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["nodes"] = [{"url": n.url, "reachable": n.status is not None, "error": n.error,
                       "node_id": (n.status or {}).get("node_id"), "address": (n.status or {}).get("address")}
                      for n in self.nodes]
        d["reachable"] = self.reachable
        return d


def normalize_url(text: str) -> str:
    """"host:port" or "http://host:port[/status]" -> "http://host:port/status"."""
    url = text.strip().rstrip("/")
    if not url:
        raise JeetError("empty peer URL")
    if "://" not in url:
        url = "http://" + url
    if not url.startswith(("http://", "https://")):
        raise JeetError(f"peer URL {text!r}: only http:// and https:// are supported")
    if not url.endswith("/status"):
        url += "/status"
    return url


def fetch_status(url: str, timeout: float = 2.0) -> NodeView:
    """GET one node's /status; never raises (an unreachable or garbled node is a view with an error)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = resp.read(MAX_STATUS_BYTES + 1)
        if len(body) > MAX_STATUS_BYTES:
            return NodeView(url, None, "status too large")
        data = json.loads(body)
    except urllib.error.HTTPError as exc:
        return NodeView(url, None, f"HTTP {exc.code}")
    except RecursionError:
        return NodeView(url, None, "status nested too deeply")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return NodeView(url, None, str(reason))
    if not isinstance(data, dict) or "node_id" not in data:
        return NodeView(url, None, "not a jeet node status")
    problem = malformed(data)
    if problem is not None:
        return NodeView(url, None, f"malformed status: {problem}")
    return NodeView(url, data)


_NUMBER = (int, float)
_SHAPE: dict[str, tuple[type, ...]] = {
    "node_id": (str,), "address": (str, type(None)), "network_fitness": (*_NUMBER, type(None)),
    "memory_pressure": (*_NUMBER, type(None)), "top": (list, type(None)), "counters": (dict, type(None)),
    "peers": (list, type(None)), "ignored_peers": (list, type(None)), "mesh_size": (int, type(None)),
    "island": (dict, type(None)),
}
_TOP_ITEM: dict[str, tuple[type, ...]] = {"sha256": (str,), "fitness": _NUMBER, "function": (str, type(None)),
                                         "fuel": (int, type(None))}


def _wrong(value: object, kinds: tuple[type, ...]) -> bool:
    return isinstance(value, bool) or not isinstance(value, kinds)


def malformed(status: dict) -> str | None:
    """The first field of a /status the monitor reads that has the wrong type, or None: one node that
    answers garbage is shown as unreachable, and the others are still merged."""
    for key, kinds in _SHAPE.items():
        if key in status and _wrong(status[key], kinds):
            return f"{key} is {type(status[key]).__name__}"
    for i, item in enumerate(status.get("top") or []):
        if not isinstance(item, dict):
            return f"top[{i}] is {type(item).__name__}"
        for key, kinds in _TOP_ITEM.items():
            if key in item and _wrong(item[key], kinds):
                return f"top[{i}].{key} is {type(item[key]).__name__}"
        if "sha256" not in item or "fitness" not in item:
            return f"top[{i}] lacks sha256 or fitness"
    for key, value in (status.get("counters") or {}).items():
        if _wrong(value, _NUMBER) or not math.isfinite(value):
            return f"counters.{key} is not a finite number"
    generation = (status.get("island") or {}).get("generation")
    if generation is not None and _wrong(generation, (int,)):
        return f"island.generation is {type(generation).__name__}"
    return None


def collect(urls: list[str], timeout: float = 2.0) -> Snapshot:
    with ThreadPoolExecutor(max(1, min(16, len(urls)))) as pool:
        views = list(pool.map(lambda u: fetch_status(u, timeout), urls))
    return merge(views)


def merge(views: list[NodeView], now: float | None = None) -> Snapshot:
    live = [v.status for v in views if v.status is not None]
    fits = [s["network_fitness"] for s in live if isinstance(s.get("network_fitness"), (int, float))]
    pressures = [s["memory_pressure"] for s in live if isinstance(s.get("memory_pressure"), (int, float))]
    top: dict[str, dict] = {}
    counters: dict[str, int] = {}
    peers = []
    for s in live:
        for item in s.get("top") or []:
            try:
                sha, fit = str(item["sha256"]), float(item["fitness"])
            except (KeyError, TypeError, ValueError):
                continue
            cur = top.get(sha)
            if cur is None:
                top[sha] = {"sha256": sha, "function": item.get("function"), "fitness": fit,
                            "fuel": item.get("fuel"), "nodes": 1}
            else:
                cur["fitness"] = max(cur["fitness"], fit)
                cur["nodes"] += 1
        for k, v in (s.get("counters") or {}).items():
            if isinstance(v, (int, float)):
                counters[k] = counters.get(k, 0) + int(v)
        peers.append({"node_id": s.get("node_id"), "address": s.get("address"),
                      "peers": len(s.get("peers") or []), "mesh": s.get("mesh_size"),
                      "ignored": len(s.get("ignored_peers") or []),
                      "adopted": (s.get("counters") or {}).get("adopted"),
                      "best": (s.get("top") or [{}])[0].get("fitness") if s.get("top") else None,
                      "generation": (s.get("island") or {}).get("generation")})
    ranked = sorted(top.values(), key=lambda t: (-t["fitness"], t["sha256"]))[:10]
    return Snapshot(
        time=time.time() if now is None else now,
        nodes=views,
        network_fitness=sum(fits) / len(fits) if fits else None,
        memory_pressure=sum(pressures) / len(pressures) if pressures else None,
        memory_pressure_max=max(pressures) if pressures else None,
        top=ranked,
        counters=counters,
        peers=peers,
    )
