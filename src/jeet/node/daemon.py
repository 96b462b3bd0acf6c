"""`Node`: one jeet node on real sockets — the I/O host of a `GossipNode`.

The event loop owns the protocol state machine, the sockets and the node's store connection. Blocking
work runs elsewhere: verification in one worker thread (the node's own sandbox and oracle), evolution in
the island thread. Received bytes are decoded and authenticated at the edge (`jeet.net.Codec`); whatever
fails there is dropped with a log line and, when the connection already spoke for a peer, a penalty for it.
A peer is answered on a connection it proved itself on, or at the address it claims only once the listener
there said Hello as that peer (`jeet.node.transport`), so a claimed address never receives data unasked.

Lifecycle: `start()` (restore from the data folder, listen, rejoin), `serve_forever()` until
`request_stop()` (SIGTERM/SIGINT in `jeet node`), then `shutdown()`: leave the mesh (Dead about ourselves,
Prune to the mesh), save the member list, stop the island (its run is checkpointed every generation), flush
the sockets and close the store. A restart with the same data folder has the same identity, the same held
specimens, blacklist and members, and resumes the island's run.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import heapq
import itertools
import json
import logging
import os
import random
import time

import psutil

from ..errors import JeetError
from ..net import (
    Adopted, Announce, Backoff, Blacklisted, Codec, GossipNode, Hello, Join, MemberDead, NetError, NodeConfig,
    Penalized, PeerIgnored, PeerRestored, Rejected, Send, Specimen, VerifyRequest, load_or_create,
)
from ..store import Store
from .island import Island
from .pair_island import PairIsland
from .pair_workload import PairWorkload
from .token import TOKEN_FILE, is_loopback, load_or_create_token
from .transport import Link, Transport, TransportLimits
from .settings import NodeSettings, load_workload, split_address
from .verifier import Verifier
from .workload import Check

log = logging.getLogger("jeet.node")

PEERS_FILE = "peers.json"
HOUSEKEEPING_S = 2.0
RECORDS = 1024  # adoption records kept for /status
SHUTDOWN_S = 90   # the island may need to finish a generation; past this, exit anyway
PINNED = 256    # verified specimens kept pinned (the fittest); the rest are left to forgetting
DEFAULT_MAX_SPECIMENS = 4096  # a node's store caps unless the operator (or `jeet gc`) set others
DEFAULT_MAX_STORE_MB = 256.0


def protocol_config(heartbeat: float) -> NodeConfig:
    """The protocol's timeouts scale with the heartbeat (a faster heartbeat suits a LAN or one machine)."""
    if not 0.01 <= heartbeat <= 60:
        raise JeetError("--heartbeat must be between 0.01 and 60 seconds")
    return NodeConfig(heartbeat=heartbeat, ack_timeout=min(0.5, heartbeat / 2),
                      iwant_timeout=max(0.25, heartbeat))


def open_store(s: NodeSettings) -> Store:
    """The node's store, capped: given caps are remembered in the folder; a folder without caps gets the
    defaults, so no node grows without bound whatever its peers or clients send it."""
    store = Store(s.data, max_specimens=s.max_specimens, max_store_mb=s.max_store_mb)
    caps = store.caps
    if caps.max_specimens is None or caps.max_store_mb is None:
        store.set_caps(caps.max_specimens if caps.max_specimens is not None else DEFAULT_MAX_SPECIMENS,
                       caps.max_store_mb if caps.max_store_mb is not None else DEFAULT_MAX_STORE_MB)
    return store


def settle_heap() -> None:
    """Put everything alive now (libraries, the engine, the workload's cases: all of it lives as long as the
    node) out of the cyclic collector's sight. A full collection walks every tracked object; with these in
    it, the one a connection flood triggers held the event loop for 250-350 ms, and /status with it."""
    gc.collect()
    gc.freeze()


async def loop_close(verifier: Verifier) -> None:
    await asyncio.get_running_loop().run_in_executor(None, verifier.close)


class Node:
    def __init__(self, settings: NodeSettings) -> None:
        self.settings = settings
        self.started_wall = time.time()
        self.counters: collections.Counter[str] = collections.Counter()
        self.adoptions: collections.deque[dict] = collections.deque(maxlen=RECORDS)
        self.offers: collections.deque[dict] = collections.deque(maxlen=RECORDS)
        self._first_announce: dict[str, float] = {}
        self._verify_s: dict[str, float] = {}
        self._native: dict[str, float | None] = {}  # sha -> native time over the original's, measured here
        self._reply: dict[str, Link] = {}
        self._seeds: list[str] = []  # addresses the operator gave (--peer): trusted, joined until members come
        self._queue: list[tuple[float, int, object]] = []
        self._seq = itertools.count()
        self._work = asyncio.Event()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.island: Island | None = None
        self.http_address: tuple[str, int] | None = None
        self.http_token: str | None = None
        self._http = None
        self._closed = False

    # --- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        s = self.settings
        host, port = split_address(s.listen)
        peers = [split_address(p) for p in s.peers]
        cfg = protocol_config(s.heartbeat)
        s.data.mkdir(parents=True, exist_ok=True)
        self.identity = load_or_create(s.data)
        self.workload = load_workload(s)
        self.verifier = Verifier(s)
        self.function_id = self.workload.function_id
        # what this node verified itself: pinned, so forgetting keeps it and a restart holds it again
        self._pin_reason = f"node: verified for {self.function_id}"
        self.store = open_store(s)
        self.codec = Codec(self.identity, cfg.limits, start_seq=time.time_ns() // 1000)
        self.transport = Transport(cfg.limits.max_message, self._on_frame, self._on_bad_frame, self._on_accept,
                                   TransportLimits.for_heartbeat(s.heartbeat))
        bound = await self.transport.listen(host, port)
        self.address = f"{host}:{bound[1]}"
        rng = random.Random(s.seed if s.seed is not None else int.from_bytes(os.urandom(8), "big"))
        self._join_backoff = Backoff(random.Random(rng.random()), first=0.25, cap=1.0)
        saved = self._load_peers()
        # a higher incarnation than any we announced before, so peers that saw us leave believe we are back
        self.gossip = GossipNode(self.identity.node_id, self.address, rng=rng, config=cfg,
                                 available_memory=lambda: psutil.virtual_memory().available,
                                 functions=[self.function_id], now=time.monotonic(),
                                 incarnation=saved["incarnation"] + 1 if saved["members"] else 0)
        self._restore(saved["members"])
        if s.http:
            from .http import HttpSettings, serve_http
            http_host, http_port = split_address(s.http)
            self.http_token = s.http_token or load_or_create_token(s.data)
            web = HttpSettings(self.http_token, loopback=is_loopback(http_host), header_s=s.http_timeout,
                               body_s=s.http_timeout)
            try:
                self._http, self.http_address = await serve_http(self, http_host, http_port, web)
            except OSError as exc:  # named here: the CLI cannot tell which of the two binds failed
                raise JeetError(f"cannot listen on {s.http} (--http): {exc.strerror or exc}") from None
            log.info("HTTP on %s:%d (POST needs the token%s)", *self.http_address,
                     "" if s.http_token else f" in {s.data / TOKEN_FILE}")
        settle_heap()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._timer()), loop.create_task(self._verify_loop()),
                       loop.create_task(self._housekeeping())]
        self._bootstrap(peers)
        if s.evolve:
            publish = lambda wasm: loop.call_soon_threadsafe(self.submit, wasm, "island")  # noqa: E731
            if isinstance(self.workload, PairWorkload):
                self.island = PairIsland(self.workload.problem, s.evolve_config.seed, publish)
            else:
                self.island = Island(self.workload.problem, s.evolve_config, s.data, publish,
                                     keep_priority=self.verifier.pids)
            self.island.start()
        log.info("node %s listening on %s (function %s)", self.identity.node_id[:16], self.address, self.function_id)

    def request_stop(self) -> None:
        self._stopping.set()

    @property
    def stop_requested(self) -> bool:
        return self._stopping.is_set()

    async def serve_forever(self) -> None:
        await self._stopping.wait()
        try:
            await asyncio.wait_for(self.shutdown(), SHUTDOWN_S)
        except asyncio.TimeoutError:
            log.error("shutdown took over %d s; exiting without finishing it", SHUTDOWN_S)

    async def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._act(self.gossip.leave(time.monotonic()))
        self._save_peers()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.island is not None:
            self.island.stop()
            await asyncio.get_running_loop().run_in_executor(None, self.island.join, 60.0)
        await self.transport.close()
        if self._http is not None:
            await self._http.cleanup()
        await loop_close(self.verifier)
        self.workload.close()
        self.store.close()
        log.info("node %s stopped", self.identity.node_id[:16])

    # --- what the node knows after a restart ---------------------------------------------------------

    def _restore(self, members: list[dict]) -> None:
        now = time.monotonic()
        for sha in self.store.blacklisted_hashes():
            self.gossip.blacklist(sha, "blacklisted in the store", now, notify=False)
        reason = self._pin_reason
        held = [sha for sha, reasons in self.store.pinned().items() if reason in reasons]
        for sha in held[-self.gossip.config.held_capacity:]:
            info, wasm = self.store.specimen_info(sha), self.store.get_specimen(sha)
            if info is None or wasm is None or info["fitness"] is None:
                continue
            self.gossip.hold(Specimen(sha, self.function_id, wasm, info["fitness"], info["fuel"] or 0), now)
            self.gossip.note_fitness(self.function_id, info["fitness"])
        for entry in members:
            if entry["id"] != self.identity.node_id:
                self.gossip.remember_member(entry["id"], entry["address"])

    def _load_peers(self) -> dict:
        """The saved member list and our last incarnation ({"incarnation": 0, "members": []} if none)."""
        path = self.settings.data / PEERS_FILE
        empty = {"incarnation": 0, "members": []}
        try:
            data = json.loads(path.read_text())
            members = [e for e in data["members"] if isinstance(e, dict) and isinstance(e.get("id"), str)
                       and isinstance(e.get("address"), str)]
            return {"incarnation": max(0, int(data["incarnation"])), "members": members}
        except FileNotFoundError:
            return empty
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.warning("ignoring %s: %s", path, exc)
            return empty

    def _save_peers(self) -> None:
        members = [{"id": m, "address": a} for m in self.gossip.members() if (a := self.gossip.address_of(m))]
        if not members:
            return  # never overwrite a useful list with an empty one (e.g. during an outage)
        path = self.settings.data / PEERS_FILE
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"incarnation": self.gossip.incarnation, "members": members}))
        os.replace(tmp, path)

    def _bootstrap(self, peers: list[tuple[str, int]]) -> None:
        now = time.monotonic()
        self._seeds = [a for a in (f"{h}:{p}" for h, p in peers) if a != self.address]
        if self.gossip.members():
            self._act(self.gossip.rejoin(now))
        self._join_seeds(now)

    def _join_seeds(self, now: float) -> None:
        """Send a Join to every address the operator gave while no member is known, again and again with
        backoff: a Join lost to a flood, a restart or a peer not up yet must not leave the node alone."""
        if not self._seeds or self.gossip.members():
            self._join_backoff.reset()
            return
        if self._join_backoff.due(now):
            self._join_backoff.attempted(now)
            self.counters["joins_sent"] += 1
            for address in self._seeds:
                self.transport.send(address, self.codec.encode("", self.gossip.join_message()))

    # --- the wire --------------------------------------------------------------------------------------

    def _on_accept(self, link: Link) -> None:
        """The listener speaks first: who listens here, signed, so a dialer can check the address it was told."""
        link.send(self.codec.encode("", Hello(self.address, self.gossip.incarnation)))

    def _on_hello(self, sender: str, link: Link) -> None:
        if not link.outbound or link.peer is not None:
            return  # only a dialled listener says Hello, once
        if link.expect is not None and link.expect != sender:
            self.counters["address_mismatches"] += 1
            log.info("%s is not where it was said to be (%s answers there); not sending to it",
                     link.expect[:16], sender[:16])
            link.close()
            return
        self.transport.verified(link, sender)

    def _on_frame(self, data: bytes, link: Link) -> None:
        self.counters["frames_in"] += 1
        now = time.monotonic()
        try:
            env = self.codec.decode(data)
        except NetError as exc:
            self.counters["bad_frames"] += 1
            log.warning("dropped a frame from %s: %s", link.peer[:16] if link.peer else link.label, exc)
            if link.peer is not None:
                self._act(self.gossip.malformed(link.peer, now))
            return
        if isinstance(env.message, Hello):
            self._on_hello(env.sender, link)
            return
        if link.outbound and link.peer is None:
            self.counters["bad_frames"] += 1  # a dialled listener must say Hello first
            return
        if env.to == "" and not isinstance(env.message, Join):
            self.counters["bad_frames"] += 1
            return
        link.peer = env.sender
        self._reply[env.sender] = link
        if len(self._reply) > 4 * RECORDS:  # bounded whatever number of identities a flood invents
            self._reply.pop(next(iter(self._reply)))
        msg = env.message
        if isinstance(msg, Announce) and msg.sha256 not in self._first_announce:
            if len(self._first_announce) >= 4 * RECORDS:
                self._first_announce.pop(next(iter(self._first_announce)))
            self._first_announce[msg.sha256] = time.time()
        self._act(self.gossip.receive(env.sender, msg, now))
        self._wake.set()

    def _on_bad_frame(self, link: Link, error: Exception) -> None:
        self.counters["bad_frames"] += 1
        log.warning("closed the connection from %s: %s", link.peer[:16] if link.peer else link.label, error)
        if link.peer is not None:
            self._act(self.gossip.malformed(link.peer, time.monotonic()))

    def _send(self, to: str, message) -> None:
        """To a peer on a connection it proved itself on (one it opened to us, or one we opened to it whose
        listener said Hello as it), else to the address it claims, written once its Hello came from there."""
        payload = self.codec.encode(to, message)
        link = self._reply.get(to)
        if link is not None and not link.closed:
            sent = link.send(payload)
        else:
            address = self.gossip.address_of(to)
            sent = address is not None and self.transport.send(address, payload, expect=to)
        self.counters["frames_out" if sent else "frames_unsent"] += 1

    def _act(self, actions) -> None:
        now_wall = time.time()
        # frames first: the store write of an adoption (and any WAL checkpoint it triggers) must not
        # delay the announcements that carry the specimen on
        for a in actions:
            if isinstance(a, Send):
                self._send(a.to, a.message)
        for a in actions:
            if isinstance(a, Send):
                continue
            elif isinstance(a, VerifyRequest):
                self._enqueue(-a.priority, a)
            elif isinstance(a, Adopted):
                self._adopted(a, now_wall)
            elif isinstance(a, Rejected):
                log.warning("rejected %s from %s: %s", a.sha256[:16], a.sender[:16], a.reason)
            elif isinstance(a, Blacklisted):
                self.store.blacklist(a.sha256, a.reason)
                log.info("blacklisted %s: %s", a.sha256[:16], a.reason)
            elif isinstance(a, Penalized):
                log.info("peer %s penalized (%s), score %.1f", a.peer[:16], a.reason, a.score)
            elif isinstance(a, PeerIgnored):
                log.warning("ignoring peer %s (score %.1f)", a.peer[:16], a.score)
            elif isinstance(a, PeerRestored):
                log.info("peer %s heard again (score %.1f)", a.peer[:16], a.score)
            elif isinstance(a, MemberDead):
                self._reply.pop(a.peer, None)
                log.info("member %s is dead", a.peer[:16])

    def _adopted(self, a: Adopted, now_wall: float) -> None:
        spec = self.gossip.specimen(a.sha256)
        if spec is None:
            return
        self.store.put_specimen(spec.wasm, function=self.function_id, fuel=spec.fuel, fitness=a.fitness,
                                metrics={"verified": True, "source": a.sender}, operator="gossip")
        self._pin(a.sha256)
        self.adoptions.append({"sha256": a.sha256, "source": a.sender, "fitness": a.fitness,
                               "announce_wall": self._first_announce.get(a.sha256),
                               "adopted_wall": now_wall, "verify_s": self._verify_s.get(a.sha256)})
        if self.island is not None:
            self.island.immigrate(spec.wasm)
        log.info("adopted %s from %s (fitness %.3f)", a.sha256[:16], a.sender[:16], a.fitness)

    def _pin(self, sha: str) -> None:
        self.store.pin(sha, self._pin_reason)
        mine = [h for h, reasons in self.store.pinned().items() if self._pin_reason in reasons]
        cap = self.store.caps.max_specimens
        keep = PINNED if cap is None else min(PINNED, cap // 4)  # pins are never forgotten: leave room under the cap
        if len(mine) > keep:
            fitness = {h: (self.store.specimen_info(h) or {}).get("fitness") or 0.0 for h in mine}
            for h in sorted(mine, key=lambda h: (fitness[h], h))[: len(mine) - keep]:
                self.store.unpin(h, self._pin_reason)

    # --- timers and background work ---------------------------------------------------------------------

    async def _timer(self) -> None:
        while True:
            delay = min(max(0.0, self.gossip.next_timer() - time.monotonic()), 0.5)
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            now = time.monotonic()
            self._act(self.gossip.tick(now))
            self._join_seeds(now)

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            try:
                self._save_peers()
            except OSError as exc:
                log.warning("cannot save the member list: %s", exc)

    def _enqueue(self, priority: float, item: object) -> None:
        heapq.heappush(self._queue, (priority, next(self._seq), item))
        self._work.set()

    def submit(self, wasm: bytes, origin: str = "submitted") -> asyncio.Future:
        """Verify a module found here (the island's champion, or one posted over HTTP) and, if it passes,
        store it and offer it to the swarm. The future gets the `Check`."""
        fut = asyncio.get_running_loop().create_future()
        self._enqueue(-1e9, (bytes(wasm), origin, fut))  # own work first
        return fut

    async def _verify_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._queue:
                self._work.clear()
                await self._work.wait()
            _, _, item = heapq.heappop(self._queue)
            if isinstance(item, VerifyRequest):
                if item.function != self.function_id:
                    self._act(self.gossip.verified(item.sha256, False, None, time.monotonic()))
                    continue
                t0 = time.perf_counter()
                check = await self.verifier.check(loop, item.wasm)
                self.counters["verifications"] += 1
                # the whole local verification step as this loop saw it: the check plus its hand-over
                self._verify_s[item.sha256] = time.perf_counter() - t0
                self._note_native(item.sha256, check)
                if len(self._verify_s) > 4 * RECORDS:
                    self._verify_s.pop(next(iter(self._verify_s)))
                if not check.ok:
                    log.warning("specimen %s from %s failed verification: %s",
                                item.sha256[:16], item.sender[:16], check.reason)
                self._act(self.gossip.verified(item.sha256, check.ok, check.fitness if check.ok else None,
                                               time.monotonic()))
            else:
                wasm, origin, fut = item
                check = await self.verifier.check(loop, wasm)
                if check.ok:
                    self._offer(wasm, check, origin)
                if not fut.done():
                    fut.set_result(check)

    def _note_native(self, sha: str, check: Check) -> None:
        if getattr(check, "native_ratio", None) is not None:
            self._native[sha] = check.native_ratio
            if len(self._native) > 4 * RECORDS:
                self._native.pop(next(iter(self._native)))

    def _offer(self, wasm: bytes, check: Check, origin: str) -> None:
        spec = Specimen.of(self.function_id, wasm, check.fitness, check.fuel, self.workload.tags)
        self._note_native(spec.sha256, check)
        self.store.put_specimen(wasm, function=self.function_id, fuel=check.fuel, fitness=check.fitness,
                                metrics={"verified": True, "source": origin}, operator=origin)
        self._pin(spec.sha256)
        self.offers.append({"sha256": spec.sha256, "origin": origin, "fitness": check.fitness,
                            "offered_wall": time.time(), "verify_s": check.seconds})
        self._act(self.gossip.offer(spec, time.monotonic()))
        self.gossip.note_fitness(self.function_id, check.fitness)
        log.info("offered %s (%s, fitness %.3f, fuel %d)", spec.sha256[:16], origin, check.fitness, check.fuel)

    # --- what /status reports -----------------------------------------------------------------------------

    def status(self) -> dict:
        g = self.gossip
        mem = psutil.virtual_memory()
        stats = g.stats.as_dict()
        # fitness: the fuel fitness gossip ranks by; native_time_ratio: time / the original's, measured on this node
        top = [{"sha256": sp.sha256, "function": sp.function, "fitness": sp.fitness, "fuel": sp.fuel,
                "size": sp.size, "native_time_ratio": self._native.get(sp.sha256)} for sp in g.top(10, self.function_id)]
        mesh = set(g.mesh_peers())
        peers = [{"id": m, "address": g.address_of(m), "score": round(g.score(m), 3), "mesh": m in mesh}
                 for m in g.members()]
        island = None
        if self.island is not None:
            i = self.island
            island = {"generation": i.generation, "resumed_from": i.resumed_from, "champion_sha256": i.champion_sha256,
                      "champion_fuel": i.champion_fuel, "baseline_fuel": i.baseline_fuel,
                      "immigrants_received": i.immigrants_received, "immigrants_joined": i.immigrants_joined,
                      "error": i.error}
        return {
            "node_id": self.identity.node_id,
            "address": self.address,
            "function": self.function_id,
            "time": time.time(),
            "uptime_s": round(time.time() - self.started_wall, 3),
            "peers": peers,
            "mesh_size": len(mesh),
            "ignored_peers": g.ignored_peers(),
            "network_fitness": g.network_fitness(self.function_id),
            "native_time_ratio": min((r for r in (self._native.get(sp["sha256"]) for sp in top) if r is not None),
                                     default=None),
            "memory_pressure": round(mem.percent / 100.0, 4),
            "memory": {"available_bytes": mem.available, "rss_bytes": psutil.Process().memory_info().rss},
            "counters": {"announced": stats["announced"], "fetched": stats["fetched"],
                         "adopted": stats["adopted"], "rejected": stats["rejected"],
                         "peers_ignored": stats["peers_ignored"], "served": stats["served"],
                         "malformed": stats["malformed"] + self.counters["bad_frames"],
                         "verifications": self.counters["verifications"],
                         "verifier_crashes": self.verifier.crashes,
                         "frames_in": self.counters["frames_in"], "frames_out": self.counters["frames_out"],
                         "joins_sent": self.counters["joins_sent"],
                         "address_mismatches": self.counters["address_mismatches"]},
            "transport": self.transport.stats(),
            "http": self._http.heads.stats() if self._http is not None else None,
            "store": {"specimens": self.store.count_specimens(), **self.store.caps.to_dict()},
            "protocol": stats,
            "blacklist_size": g.blacklist_size,
            "top": top,
            "island": island,
            "offers": list(self.offers)[-32:],
            "adoptions": list(self.adoptions)[-64:],
        }
