"""The node's HTTP face: /status (JSON), /specimens/<sha256> (wasm bytes), /metrics (Prometheus text),
and POST /specimens (a module to verify locally and, if it passes, offer to the swarm).

It is the operator's interface, not the peers', and it assumes a browser may be pointed at it by a hostile
page. So, in this order and before any of a body is read: a request carrying an `Origin` (browsers send one
on every cross-site request and every POST; the node serves no page of its own) or a cross-site
`Sec-Fetch-Site` is refused (403); on a loopback bind so is a `Host` that is not a loopback name (DNS
rebinding); every mutating request needs the node's token (403 without it, whatever else it says); a module
is `Content-Type: application/wasm` (415 otherwise), which no web page can send cross-origin without a CORS
preflight the node never grants. The body is read whole, up to the specimen limit: a larger
`Content-Length` is refused before any of it is read, a chunked body once it passes the limit, and the
connection is then closed rather than drained (413). Headers must arrive within `header_s` (they are
awaited outside the server: `jeet.node.http_heads`) and a body within `body_s` of its headers, so
half-sent requests cannot pile up.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from ..address import content_address
from ..net import GossipNode
from ..store import Store
from .token import is_loopback, token_matches
from .http_heads import HeadGate
from .listener import Listener, listening_socket
from .workload import Check


class Node(Protocol):
    """What the HTTP face needs of the running node (`jeet.node.daemon.Node`)."""

    gossip: GossipNode
    store: Store

    def status(self) -> dict: ...

    def submit(self, wasm: bytes, origin: str = ...) -> "asyncio.Future[Check]": ...


_SHA = re.compile(r"^[0-9a-f]{64}$")
WASM = "application/wasm"
SAFE_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class HttpSettings:
    """Who may do what over HTTP, and how long a client may take."""

    token: str
    loopback: bool = True      # bound to a loopback address: refuse other Host names (DNS rebinding)
    header_s: float = 10.0     # a request's headers (and an idle keep-alive connection) must come this fast
    body_s: float = 10.0       # a request's body must follow its headers this fast


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _given_token(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("X-Jeet-Token")


def _guard(settings: HttpSettings):
    """The checks every request passes before its handler runs (see the module docstring)."""

    @web.middleware
    async def guard(request: web.Request, handler):
        if request.headers.get("Origin") is not None or \
                request.headers.get("Sec-Fetch-Site", "none") not in ("none", "same-origin"):
            return _error(403, "cross-origin requests are refused")
        if settings.loopback and not is_loopback(_host_name(request.host)):
            return _error(403, f"Host {request.host!r} is not this node's loopback address")
        if request.method not in SAFE_METHODS and not token_matches(settings.token, _given_token(request)):
            return _error(403, "this needs the node's token (Authorization: Bearer <token>; see DATA/http.token)")
        return await handler(request)

    return guard


def _host_name(host: str | None) -> str:
    """The name part of a Host header ("[::1]:80" -> "::1", "localhost:80" -> "localhost")."""
    host = host or ""
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class _NodeCollector:
    """Prometheus figures read from the node's status at scrape time."""

    def __init__(self, node: "Node") -> None:
        self.node = node

    def collect(self):
        st = self.node.status()
        labels = ["function"]
        fn = [st["function"]]

        def gauge(name: str, doc: str, value) -> GaugeMetricFamily:
            g = GaugeMetricFamily(f"jeet_node_{name}", doc, labels=labels)
            g.add_metric(fn, float(value))
            return g

        yield gauge("peers", "Members in this node's view.", len(st["peers"]))
        yield gauge("mesh_peers", "Peers in this node's mesh.", st["mesh_size"])
        yield gauge("ignored_peers", "Peers ignored for misbehaviour.", len(st["ignored_peers"]))
        if st["network_fitness"] is not None:
            yield gauge("network_fitness", "Estimated average fitness of the function in the network.",
                        st["network_fitness"])
        yield gauge("memory_pressure", "Share of the host's memory in use.", st["memory_pressure"])
        yield gauge("rss_bytes", "Resident memory of the node process.", st["memory"]["rss_bytes"])
        yield gauge("blacklist_size", "Hashes this node never fetches again.", st["blacklist_size"])
        if st["top"]:
            yield gauge("best_fitness", "Fitness of the best verified specimen held.", st["top"][0]["fitness"])
            yield gauge("best_fuel", "Fuel of the best verified specimen held.", st["top"][0]["fuel"])
        for key, value in st["counters"].items():
            c = CounterMetricFamily(f"jeet_node_{key}", f"Count of {key.replace('_', ' ')} since start.",
                                    labels=labels)
            c.add_metric(fn, float(value))
            yield c


def build_app(node: "Node", settings: HttpSettings) -> web.Application:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_NodeCollector(node))
    limit = node.gossip.config.limits.max_specimen

    async def status(_request: web.Request) -> web.Response:
        return web.json_response(node.status())

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": "text/plain; version=0.0.4"})

    async def specimen(request: web.Request) -> web.Response:
        sha = request.match_info["sha"].lower()
        if not _SHA.match(sha):
            return web.json_response({"error": "expected a sha256 in hex"}, status=400)
        held = node.gossip.specimen(sha)
        data = held.wasm if held is not None else node.store.get_specimen(sha)
        if data is None:
            return web.json_response({"error": f"no specimen {sha}"}, status=404)
        return web.Response(body=data, content_type="application/wasm")

    async def submit(request: web.Request) -> web.Response:
        if request.content_type != WASM:
            return _error(415, f"send the module as Content-Type: {WASM}")
        if request.content_length is not None and request.content_length > limit:
            return _error(413, f"a specimen is at most {limit} bytes")
        try:  # the whole body, however many segments or chunks it came in, up to client_max_size
            data = await asyncio.wait_for(request.read(), settings.body_s)
        except web.HTTPRequestEntityTooLarge:
            return _error(413, f"a specimen is at most {limit} bytes")
        except asyncio.TimeoutError:
            return _error(408, f"the body did not arrive within {settings.body_s:g} s")
        if not data:
            return _error(400, f"send 1 to {limit} bytes of wasm")
        check = await node.submit(data, "submitted")
        body = {"sha256": content_address(data), "ok": check.ok,
                "fitness": check.fitness, "fuel": check.fuel, "reason": check.reason}
        return web.json_response(body, status=200 if check.ok else 422)

    # read() refuses a body once it reaches client_max_size: one byte past the limit
    app = web.Application(client_max_size=limit + 1, middlewares=[_guard(settings)])
    app.router.add_get("/status", status)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/specimens/{sha}", specimen)
    app.router.add_post("/specimens", submit)
    return app


class HttpServer:
    """The running HTTP face: its listener, the connections waiting for a request head, and the aiohttp
    runner that serves the rest."""

    def __init__(self, runner: web.AppRunner, listener: Listener, heads: HeadGate) -> None:
        self.runner = runner
        self.listener = listener
        self.heads = heads

    async def cleanup(self) -> None:
        self.listener.close()
        self.heads.close()
        await self.runner.cleanup()


async def serve_http(node: "Node", host: str, port: int,
                     settings: HttpSettings) -> tuple[HttpServer, tuple[str, int]]:
    # The node's own listener, not an aiohttp site: connections are accepted in large batches and held as
    # bare sockets until their request head came (within header_s), so a flood of half-sent requests costs
    # little and the operator's request behind it is not kept waiting. After the head, keepalive_timeout
    # bounds an idle keep-alive connection; lingering_time=0: a body left unread (refused) is never
    # drained, the connection is closed instead.
    runner = web.AppRunner(build_app(node, settings), access_log=None, keepalive_timeout=settings.header_s,
                           lingering_time=0)
    await runner.setup()
    heads = HeadGate(runner.server, settings.header_s)
    listener = Listener(listening_socket(host, port), heads.hold)
    listener.start()
    return HttpServer(runner, listener, heads), listener.address
