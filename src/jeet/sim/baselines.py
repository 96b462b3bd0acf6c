"""The two baselines, over the same transport model, churn schedule, oracle and verification queue:

- flooding: a static random graph of average degree `flood_degree` (each node links to half that many
  random others); a node verifies a specimen once and then pushes the full bytes to all its neighbours;
- push gossip: a node verifies a specimen once and then pushes the full bytes to `push_fanout` random
  nodes (infect and die, with uniform knowledge of all nodes).

Both check claims against the local fitness as the protocol does (so they adopt nothing wrong), but they
have no peer scores: liars are never ignored. Liars push a fresh lie each round, as in the protocol run,
and drop the good specimen. There are no control messages: every message is a full copy.
"""

from __future__ import annotations

import random
import time
from collections import deque
from heapq import heappop, heappush

from .engine import EventQueue, paused_gc
from .metrics import Recorder
from .world import World

DELIVER, VERIFIED = 0, 1
_TOL_ABS, _TOL_REL = 0.02, 0.05


def run_baseline(world: World, kind: str) -> dict:
    """Flooding or push gossip on `world`, in the shape of `run_gossip`'s summary. Deliveries to liars (who drop
    everything) are drawn but not queued, and the cycle collector is off during the run: same results."""
    if kind not in ("flooding", "push"):
        raise ValueError(kind)
    with paused_gc():
        return _run(world, kind)


def _run(world: World, kind: str) -> dict:
    t_start = time.perf_counter()
    cfg = world.cfg
    n = cfg.nodes
    rng = random.Random(f"jeet-sim:{cfg.seed}:{kind}")
    rand = rng.random
    sample = rng.sample
    loss = cfg.loss
    lat_lo = max(1.0, 0.5 * cfg.latency_ms)  # the delay of `Link`, drawn here without the call
    lat_span = cfg.latency_ms
    liar = world.liar
    honest = [not x for x in liar]
    online = [True] * n
    rec = Recorder(honest)
    got, holders = rec.got, rec.holders
    good = world.good
    good_sha = good.sha256
    accept = {good_sha: _accepts(world, good_sha, good.fitness)}  # the verification outcome of each hash
    events = EventQueue()
    buckets, times = events._buckets, events._times
    epoch = [0] * n
    vqueue = [deque() for _ in range(n)]
    vbusy = [False] * n
    seen: list[set | None] = [None] * n
    verify_ms = max(1, int(round(cfg.verify_ms)))
    round_ms = cfg.round_ms
    lies = [0] * n
    fanout = cfg.push_fanout
    pick = min(fanout + 1, n)
    nodes = range(n)
    flooding = kind == "flooding"

    neighbours: list[list[int]] = []
    if flooding:
        half = max(1, cfg.flood_degree // 2)
        sets = [set() for _ in range(n)]
        for i in range(n):
            for j in [j for j in rng.sample(range(n), min(half + 1, n)) if j != i][:half]:
                sets[i].add(j)
                sets[j].add(i)
        neighbours = [sorted(s) for s in sets]

    def send(i: int, sha: str, t: int, exclude: int = -1) -> None:
        """Draw loss and delay for each target in order; deliveries to liars (who drop everything) are drawn
        but not queued."""
        if flooding:
            targets = neighbours[i]
        else:  # push picks afresh and does not spare the node it got the specimen from
            targets = [j for j in sample(nodes, pick) if j != i][:fanout]
            exclude = -1
        for j in targets:
            if j == exclude or (loss and rand() < loss):
                continue
            when = t + int(lat_lo + rand() * lat_span)
            if liar[j]:
                continue
            bucket = buckets.get(when)
            if bucket is None:
                buckets[when] = bucket = []
                heappush(times, when)
            bucket.append((DELIVER, j, i, sha))

    def start_verify(i: int, t: int) -> None:
        sha, src = vqueue[i].popleft()
        vbusy[i] = True
        events.at(t + verify_ms, (VERIFIED, i, epoch[i], sha, src))

    for r in range(cfg.rounds):
        t0 = r * round_ms
        down, back = world.churn[r]
        for i in down:
            online[i] = False
            epoch[i] += 1
            vqueue[i].clear()
            vbusy[i] = False
        for i in back:
            online[i] = True
        if r == 0:
            s = world.source
            holders[s] = got[s] = True
            seen[s] = {good_sha}
            send(s, good_sha, t0)
        for i in nodes:
            if liar[i] and online[i]:
                sha = world.forge(i, lies[i]).sha256
                lies[i] += 1
                if sha not in accept:
                    accept[sha] = _accepts(world, sha, 1.0)
                send(i, sha, t0 + rng.randrange(round_ms))
        t_end = t0 + round_ms
        while times and times[0] < t_end:
            t = heappop(times)
            for ev in buckets.pop(t):
                i = ev[1]
                if ev[0] == DELIVER:
                    if not online[i]:
                        continue
                    sha = ev[3]
                    if sha == good_sha:
                        rec.payload_copies += 1
                        if got[i]:
                            rec.duplicates += 1
                        else:
                            got[i] = True
                    s = seen[i]
                    if s is None:
                        s = seen[i] = set()
                    if sha in s:
                        continue
                    s.add(sha)
                    vqueue[i].append((sha, ev[2]))
                    if not vbusy[i]:
                        start_verify(i, t)
                else:
                    if ev[2] != epoch[i]:
                        continue
                    vbusy[i] = False
                    sha = ev[3]
                    if accept[sha]:
                        if sha == good_sha:
                            holders[i] = True
                            send(i, sha, t, exclude=ev[4])
                        else:
                            rec.bad_adopted += 1
                    if vqueue[i]:
                        start_verify(i, t)
        rec.end_round(r + 1, online)
    return rec.summary(time.perf_counter() - t_start, None)


def _accepts(world: World, sha: str, claim: float) -> bool:
    """The check every baseline node makes: passes the oracle, and the claim is within tolerance of the local
    fitness (the protocol's default tolerances)."""
    ok, fitness = world.verdict(sha)
    return ok and abs(claim - fitness) <= max(_TOL_ABS, _TOL_REL * abs(fitness))
