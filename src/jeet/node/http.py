"""The node's HTTP face: /status (JSON), /specimens/<sha256> (wasm bytes), /metrics (Prometheus text),
and POST /specimens (a module to verify locally and, if it passes, offer to the swarm).

Bind it to a loopback or management address: it is the operator's interface, not the peers'.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

if TYPE_CHECKING:
    from .daemon import Node

_SHA = re.compile(r"^[0-9a-f]{64}$")


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


def build_app(node: "Node") -> web.Application:
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
        if request.content_length is not None and request.content_length > limit:
            return web.json_response({"error": f"a specimen is at most {limit} bytes"}, status=413)
        data = await request.content.read(limit + 1)
        if len(data) > limit or not data:
            return web.json_response({"error": f"send 1 to {limit} bytes of wasm"}, status=413)
        check = await node.submit(data, "submitted")
        body = {"sha256": hashlib.sha256(data).hexdigest(), "ok": check.ok,
                "fitness": check.fitness, "fuel": check.fuel, "reason": check.reason}
        return web.json_response(body, status=200 if check.ok else 422)

    app = web.Application(client_max_size=limit + 1024)
    app.router.add_get("/status", status)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/specimens/{sha}", specimen)
    app.router.add_post("/specimens", submit)
    return app


async def serve_http(node: "Node", host: str, port: int) -> tuple[web.AppRunner, tuple[str, int]]:
    runner = web.AppRunner(build_app(node), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sock = site._server.sockets[0].getsockname()  # the bound port when 0 was asked for
    return runner, (sock[0], sock[1])
