"""Run the real `GossipNode` code for every node of a `World` over the simulated transport.

The event loop is the simulator's hot path (a few million deliveries and wake-ups for 10,000 nodes and 50
rounds), so it binds what it uses to locals and keeps per-event work to a few list lookups; the protocol code
itself is exactly what the daemon runs. Two shortcuts leave the trace unchanged: a message a liar would
ignore (`Liar.ignores`) is drawn (loss, delay) but not queued, and the cycle collector is off during a run.
"""

from __future__ import annotations

import random
import time
from heapq import heappop, heappush
from math import ceil, inf

from ..net.actions import Adopted, PeerIgnored, Send, VerifyRequest
from ..net.config import NodeConfig
from ..net.messages import SpecimenData
from ..net.protocol import GossipNode
from .adversary import Liar
from .engine import paused_gc
from .metrics import Recorder
from .world import FUNCTION, World

DELIVER, WAKE, VERIFIED = 0, 1, 2
INF = inf


def node_config(world: World) -> NodeConfig:
    """The protocol's defaults, with the degree asked for and timeouts that fit the simulated latency."""
    cfg = world.cfg
    hb = cfg.round_ms / 1000.0
    rtt_max = 3.0 * cfg.latency_ms / 1000.0   # two one-way trips of at most 1.5 x latency each
    d = cfg.degree
    return NodeConfig(
        heartbeat=hb, degree=d, degree_low=max(1, round(2 * d / 3)), degree_high=2 * d,
        max_members=max(64, 4 * d), ack_timeout=min(0.9 * hb, rtt_max + 0.05),
        iwant_timeout=rtt_max + 0.05, prune_backoff=10 * hb, fetch_ttl=30 * hb)


def run_gossip(world: World) -> dict:
    """The protocol under test on `world`: the summary of `Recorder` (coverage per round, copies, ...)."""
    with paused_gc():
        return _run(world)


def _run(world: World) -> dict:
    t_start = time.perf_counter()
    cfg = world.cfg
    n = cfg.nodes
    ids = world.ids
    index = {k: i for i, k in enumerate(ids)}
    liar = world.liar
    rng = random.Random(f"jeet-sim:{cfg.seed}:gossip")
    rand = rng.random
    loss = cfg.loss
    lat_lo = max(1.0, 0.5 * cfg.latency_ms)
    lat_span = cfg.latency_ms
    ncfg = node_config(world)
    round_ms = cfg.round_ms
    start = cfg.warmup * round_ms / 1000.0
    nodes: list[GossipNode] = []
    for i in range(n):
        if liar[i]:
            nodes.append(Liar(ids[i], "sim:" + ids[i], rng=rng, config=ncfg, start=start,
                              forge=lambda k, i=i: world.forge(i, k)))
        else:
            node = GossipNode(ids[i], "sim:" + ids[i], rng=rng, config=ncfg)
            node.note_fitness(FUNCTION, world.background[i])
            nodes.append(node)
    for i, view in enumerate(world.views):
        remember = nodes[i].remember_member
        for j in view:
            remember(ids[j], "sim:" + ids[j])

    honest = [not x for x in liar]
    may_ignore = Liar.MAY_IGNORE
    online = [True] * n
    rec = Recorder(honest)
    got, holders = rec.got, rec.holders
    good = world.good.sha256
    buckets: dict[int, list] = {}  # events by millisecond, in insertion order
    times: list[int] = []          # heap of the milliseconds with a bucket
    wake = [INF] * n               # the millisecond of each node's pending WAKE event
    epoch = [0] * n                # bumped when a node goes down: its pending events turn stale
    vqueue: list[list] = [[] for _ in range(n)]
    vbusy = [False] * n
    verify_ms = max(1, int(round(cfg.verify_ms)))
    order = 0
    oracle = world.oracle.get
    unknown = (False, None)
    control = 0  # control messages sent (every message but SpecimenData)

    def at(t: int, event: tuple) -> None:
        bucket = buckets.get(t)
        if bucket is None:
            buckets[t] = bucket = []
            heappush(times, t)
        bucket.append(event)

    # A node's timer `w` (ms) needs a new WAKE only if ceil(w) < wake[i], i.e. w <= wake[i] - 1 (wake[i] is a
    # whole millisecond): callers test that first, as most timers sit a fraction of a ms before their WAKE.
    def schedule(i: int, w: float, t: int) -> None:
        """Wake node i at ceil(w) ms, or just after `t`, if that is earlier than its pending WAKE."""
        if w == INF:
            return
        wm = ceil(w)
        if wm <= t:
            wm = t + 1
        if wm < wake[i]:
            wake[i] = wm
            at(wm, (WAKE, i, epoch[i]))

    def dispatch(i: int, node: GossipNode, acts: list, t: int) -> None:
        nonlocal control, order
        src = ids[i]
        for a in acts:
            cls = a.__class__
            if cls is Send:
                msg = a.message
                if msg.__class__ is not SpecimenData:
                    control += 1
                if loss and rand() < loss:
                    continue
                when = t + int(lat_lo + rand() * lat_span)
                dst = index[a.to]
                if liar[dst] and msg.__class__ in may_ignore and nodes[dst].ignores(msg, when / 1000.0):
                    continue
                bucket = buckets.get(when)
                if bucket is None:
                    buckets[when] = bucket = []
                    heappush(times, when)
                bucket.append((DELIVER, dst, src, msg))
            elif cls is VerifyRequest:
                order += 1
                heappush(vqueue[i], (-a.priority, order, a.sha256))
                if not vbusy[i]:
                    vbusy[i] = True
                    at(t + verify_ms, (VERIFIED, i, epoch[i], heappop(vqueue[i])[2]))
            elif cls is Adopted:
                if honest[i]:
                    if a.sha256 == good:
                        holders[i] = True
                    else:
                        rec.bad_adopted += 1
            elif cls is PeerIgnored:
                if honest[i]:
                    j = index[a.peer]
                    if honest[j]:
                        rec.honest_ignored.add(j)
                    else:
                        rec.liars_ignored.add(j)
                        rec.ignore_counts.append(node.bad_deliveries(a.peer))
        w = node.next_timer() * 1000.0
        if w <= wake[i] - 1:
            schedule(i, w, t)

    for i in range(n):
        w = nodes[i].next_timer() * 1000.0
        if w <= wake[i] - 1:
            schedule(i, w, 0)

    control_base = 0
    for r in range(cfg.warmup + cfg.rounds):
        t0 = r * round_ms
        if r >= cfg.warmup:
            k = r - cfg.warmup
            if k == 0:
                control_base = control
                s = world.source
                holders[s] = got[s] = True
                dispatch(s, nodes[s], nodes[s].offer(world.good, t0 / 1000.0), t0)
            down, back = world.churn[k]
            for i in down:
                online[i] = False
                epoch[i] += 1
                vqueue[i].clear()
                vbusy[i] = False
                wake[i] = INF
            for i in back:
                online[i] = True
                epoch[i] += 1
                dispatch(i, nodes[i], nodes[i].rejoin(t0 / 1000.0), t0)
        t_end = t0 + round_ms
        while times and times[0] < t_end:
            t = heappop(times)
            now = t / 1000.0
            for ev in buckets.pop(t):
                kind = ev[0]
                if kind == DELIVER:
                    dst = ev[1]
                    if not online[dst]:
                        continue
                    msg = ev[3]
                    if msg.__class__ is SpecimenData and msg.sha256 == good and honest[dst]:
                        rec.payload_copies += 1
                        if got[dst]:
                            rec.duplicates += 1
                        else:
                            got[dst] = True
                    node = nodes[dst]
                    acts = node.receive(ev[2], msg, now)
                    if acts:
                        dispatch(dst, node, acts, t)
                    else:
                        w = node.next_timer() * 1000.0
                        if w <= wake[dst] - 1:
                            schedule(dst, w, t)
                elif kind == WAKE:
                    i = ev[1]
                    if ev[2] != epoch[i] or wake[i] != t or not online[i]:
                        continue
                    wake[i] = INF
                    node = nodes[i]
                    w = node.next_timer()
                    if w > now:  # the node's timer moved (an ack came): nothing due yet
                        w *= 1000.0
                        if w < INF:
                            schedule(i, w, t)
                        continue
                    dispatch(i, node, node.tick(now), t)
                else:
                    i = ev[1]
                    if ev[2] != epoch[i]:
                        continue
                    vbusy[i] = False
                    sha = ev[3]
                    ok, fitness = oracle(sha, unknown)
                    dispatch(i, nodes[i], nodes[i].verified(sha, ok, fitness, now), t)
                    if vqueue[i] and not vbusy[i]:
                        vbusy[i] = True
                        at(t + verify_ms, (VERIFIED, i, epoch[i], heappop(vqueue[i])[2]))
        if r >= cfg.warmup:
            rec.control = control - control_base
            rec.end_round(r - cfg.warmup + 1, online)

    worst = max(rec.ignore_counts, default=0)
    for i in range(n):
        if honest[i]:
            for peer, count in nodes[i].bad_deliveries_by_peer().items():
                if liar[index[peer]] and not nodes[i].is_ignored(peer):
                    worst = max(worst, count)
    liars_met = cfg.liars > 0 and (worst > 0 or bool(rec.ignore_counts))
    return rec.summary(time.perf_counter() - t_start, worst if liars_met else None)
