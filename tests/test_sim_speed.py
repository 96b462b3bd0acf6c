"""The simulator's shortcuts change nothing: the same seed gives the same report with or without them.

The fast paths are: liars are not handed messages they would drop, the baselines do not queue deliveries to
liars, the baselines run in a worker process (and seeds spread over processes), nodes are freed without the
cycle collector. Each test compares against the plain way of doing the same thing.
"""

from __future__ import annotations

import gc
import random
import weakref
from collections import deque

from jeet.net import Ack, Announce, BlacklistNotice, GossipNode, Graft, IWant, NodeConfig, Ping, sha256_hex
from jeet.sim import SimConfig, build_world, simulate, simulate_many
from jeet.sim.adversary import Liar
from jeet.sim.baselines import run_baseline
from jeet.sim.engine import EventQueue, Link
from jeet.sim.gossip import run_gossip
from jeet.sim.metrics import Recorder


def strip_seconds(doc):
    if isinstance(doc, dict):
        return {k: strip_seconds(v) for k, v in doc.items() if k != "seconds"}
    if isinstance(doc, list):
        return [strip_seconds(v) for v in doc]
    return doc


def test_messages_a_liar_ignores_need_not_be_delivered(monkeypatch):
    cfg = SimConfig(nodes=200, rounds=8, malicious=0.4, latency_ms=250, loss=0.05, churn=0.03, seed=2)
    skipped = []
    ignores, receive = Liar.ignores, Liar.receive

    def counting(self, message, now):
        verdict = ignores(self, message, now)
        skipped.append(verdict)
        return verdict

    def run(notices: list) -> dict:
        def recording(self, sender, message, now):  # what liars answer: false notices, served lies
            out = receive(self, sender, message, now)
            notices.extend((self.id, now, a.to, a.message) for a in out if type(message) in (Announce, IWant))
            return out

        monkeypatch.setattr(Liar, "receive", recording)
        return run_gossip(build_world(cfg))

    monkeypatch.setattr(Liar, "ignores", counting)
    fast_out: list = []
    fast = run(fast_out)
    assert sum(skipped) > 1000 and not all(skipped)  # the shortcut is taken, and not always
    monkeypatch.setattr(Liar, "ignores", lambda self, message, now: False)
    every_out: list = []
    every = run(every_out)
    assert any(type(m) is BlacklistNotice for *_, m in every_out)
    assert fast_out == every_out
    assert strip_seconds(fast) == strip_seconds(every)


def plain_baseline(world, kind: str) -> dict:
    """The baselines as first written: every delivery queued, liars included, no caches."""
    cfg = world.cfg
    n = cfg.nodes
    rng = random.Random(f"jeet-sim:{cfg.seed}:{kind}")
    link = Link(cfg.latency_ms, cfg.loss, rng)
    liar, online = world.liar, [True] * n
    rec = Recorder([not x for x in liar])
    good = world.good
    claims = {good.sha256: good.fitness}
    events = EventQueue()
    epoch, vbusy, lies = [0] * n, [False] * n, [0] * n
    vqueue, seen = [deque() for _ in range(n)], [set() for _ in range(n)]
    verify_ms, round_ms = max(1, round(cfg.verify_ms)), cfg.round_ms
    neighbours = []
    if kind == "flooding":
        half = max(1, cfg.flood_degree // 2)
        sets = [set() for _ in range(n)]
        for i in range(n):
            for j in [j for j in rng.sample(range(n), min(half + 1, n)) if j != i][:half]:
                sets[i].add(j)
                sets[j].add(i)
        neighbours = [sorted(s) for s in sets]

    def send(i, sha, t, exclude=-1):
        if kind == "flooding":
            targets = [j for j in neighbours[i] if j != exclude]
        else:
            targets = [j for j in rng.sample(range(n), min(cfg.push_fanout + 1, n)) if j != i][: cfg.push_fanout]
        for j in targets:
            if not (link.loss and link.lost()):
                events.at(t + link.delay(), (0, j, i, sha))

    def start_verify(i, t):
        sha, src = vqueue[i].popleft()
        vbusy[i] = True
        events.at(t + verify_ms, (1, i, epoch[i], sha, src))

    for r in range(cfg.rounds):
        t0 = r * round_ms
        down, back = world.churn[r]
        for i in down:
            online[i], vbusy[i] = False, False
            epoch[i] += 1
            vqueue[i].clear()
        for i in back:
            online[i] = True
        if r == 0:
            rec.holders[world.source] = rec.got[world.source] = True
            seen[world.source].add(good.sha256)
            send(world.source, good.sha256, t0)
        for i in range(n):
            if liar[i] and online[i]:
                spec = world.forge(i, lies[i])
                lies[i] += 1
                claims[spec.sha256] = 1.0
                send(i, spec.sha256, t0 + rng.randrange(round_ms))
        while events.next_time() < t0 + round_ms:
            t, batch = events.pop()
            for ev in batch:
                i = ev[1]
                if ev[0] == 0:
                    if not online[i] or liar[i]:
                        continue
                    if ev[3] == good.sha256:
                        rec.payload_copies += 1
                        rec.duplicates += rec.got[i]
                        rec.got[i] = True
                    if ev[3] not in seen[i]:
                        seen[i].add(ev[3])
                        vqueue[i].append((ev[3], ev[2]))
                        if not vbusy[i]:
                            start_verify(i, t)
                elif ev[2] == epoch[i]:
                    vbusy[i] = False
                    ok, fitness = world.verdict(ev[3])
                    if ok and abs(claims[ev[3]] - fitness) <= max(0.02, 0.05 * abs(fitness)):
                        if ev[3] == good.sha256:
                            rec.holders[i] = True
                            send(i, ev[3], t, exclude=ev[4])
                        else:
                            rec.bad_adopted += 1
                    if vqueue[i]:
                        start_verify(i, t)
        rec.end_round(r + 1, online)
    return rec.summary(0.0, None)


def test_the_baselines_match_the_plain_event_by_event_model():
    for cfg in (SimConfig(nodes=200, rounds=6, malicious=0.2, loss=0.1, churn=0.05, seed=8),
                SimConfig(nodes=120, rounds=5, malicious=0.3, latency_ms=300, verify_ms=700, seed=9)):
        for kind in ("flooding", "push"):
            fast = run_baseline(build_world(cfg), kind)
            plain = plain_baseline(build_world(cfg), kind)
            assert strip_seconds(fast) == strip_seconds(plain), (cfg, kind)


def test_baselines_in_a_worker_process_give_the_same_report():
    cfg = SimConfig(nodes=120, rounds=4, malicious=0.2, loss=0.05, seed=2)
    here, beside = simulate(cfg, jobs=1), simulate(cfg, jobs=2)
    assert set(beside["baselines"]) == {"flooding", "push"}
    assert strip_seconds(here) == strip_seconds(beside)


def test_seeds_spread_over_processes_come_back_in_order():
    configs = [SimConfig(nodes=60, rounds=3, malicious=0.1, seed=s) for s in (5, 6, 7)]
    spread = simulate_many(configs, jobs=2)
    assert [r["config"]["seed"] for r in spread] == [5, 6, 7]
    assert [strip_seconds(r) for r in spread] == [strip_seconds(simulate(c)) for c in configs]


def test_a_dropped_node_is_freed_at_once_without_the_cycle_collector():
    """Nodes hold no reference to themselves, so a host dropping thousands of them does not leave the
    cycle collector a node graph to walk."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        node = GossipNode("a", "addr:a", rng=random.Random(1), config=NodeConfig())
        for k in range(8):
            node.remember_member(f"p{k}", f"addr:p{k}")
        node.receive("p1", Graft("addr:p1", 0), 0.0)
        node.receive("p2", Ping(3), 0.1)
        node.receive("p3", Announce(sha256_hex(b"x"), "f", 0.5, 1, 1), 0.2)
        node.tick(node.next_timer())
        node.receive("p4", Ack(1), 1.5)
        ref = weakref.ref(node)
        del node
        assert ref() is None
    finally:
        if enabled:
            gc.enable()
