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

from .engine import EventQueue, Link
from .metrics import Recorder
from .world import World

DELIVER, VERIFIED = 0, 1


def run_baseline(world: World, kind: str) -> dict:
    if kind not in ("flooding", "push"):
        raise ValueError(kind)
    t_start = time.perf_counter()
    cfg = world.cfg
    n = cfg.nodes
    rng = random.Random(f"jeet-sim:{cfg.seed}:{kind}")
    link = Link(cfg.latency_ms, cfg.loss, rng)
    liar = world.liar
    honest = [not x for x in liar]
    online = [True] * n
    rec = Recorder(honest)
    good = world.good
    claims = {good.sha256: good.fitness}
    events = EventQueue()
    epoch = [0] * n
    vqueue = [deque() for _ in range(n)]
    vbusy = [False] * n
    seen: list[set | None] = [None] * n
    verify_ms = max(1, int(round(cfg.verify_ms)))
    round_ms = cfg.round_ms
    lies = [0] * n

    neighbours: list[list[int]] = []
    if kind == "flooding":
        half = max(1, cfg.flood_degree // 2)
        sets = [set() for _ in range(n)]
        for i in range(n):
            for j in [j for j in rng.sample(range(n), min(half + 1, n)) if j != i][:half]:
                sets[i].add(j)
                sets[j].add(i)
        neighbours = [sorted(s) for s in sets]

    def targets(i: int, exclude: int) -> list[int]:
        if kind == "flooding":
            return [j for j in neighbours[i] if j != exclude]
        picks = rng.sample(range(n), min(cfg.push_fanout + 1, n))
        return [j for j in picks if j != i][: cfg.push_fanout]

    def send(i: int, sha: str, t: int, exclude: int = -1) -> None:
        for j in targets(i, exclude):
            if link.loss and link.lost():
                continue
            events.at(t + link.delay(), (DELIVER, j, i, sha))

    def start_verify(i: int, t: int) -> None:
        sha, src = vqueue[i].popleft()
        vbusy[i] = True
        events.at(t + verify_ms, (VERIFIED, i, epoch[i], sha, src))

    tol_abs, tol_rel = 0.02, 0.05
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
            rec.holders[s] = rec.got[s] = True
            seen[s] = {good.sha256}
            send(s, good.sha256, t0)
        for i in range(n):
            if liar[i] and online[i]:
                spec = world.forge(i, lies[i])
                lies[i] += 1
                claims[spec.sha256] = 1.0
                send(i, spec.sha256, t0 + rng.randrange(round_ms))
        t_end = t0 + round_ms
        while events.next_time() < t_end:
            t, batch = events.pop()
            for ev in batch:
                i = ev[1]
                if ev[0] == DELIVER:
                    if not online[i] or liar[i]:
                        continue
                    sha = ev[3]
                    if sha == good.sha256:
                        rec.payload_copies += 1
                        if rec.got[i]:
                            rec.duplicates += 1
                        else:
                            rec.got[i] = True
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
                    ok, fitness = world.verdict(sha)
                    if ok and abs(claims[sha] - fitness) <= max(tol_abs, tol_rel * abs(fitness)):
                        if sha == good.sha256:
                            rec.holders[i] = True
                            send(i, sha, t, exclude=ev[4])
                        else:
                            rec.bad_adopted += 1
                    if vqueue[i]:
                        start_verify(i, t)
        rec.end_round(r + 1, online)
    return rec.summary(time.perf_counter() - t_start, None)
