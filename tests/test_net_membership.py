"""SWIM membership inside a GossipNode: probes, indirect probes, suspicion, death, refutation, leave/rejoin."""

from __future__ import annotations

import random

from jeet.net import (
    Ack, Alive, Dead, GossipNode, Join, MemberDead, MemberList, NodeConfig, Ping, PingReq, Send, Suspect,
)


def make(node_id: str = "a", **cfg) -> GossipNode:
    config = NodeConfig(heartbeat=1.0, ack_timeout=0.4, suspicion_periods=3, **cfg)
    return GossipNode(node_id, f"addr:{node_id}", rng=random.Random(11), config=config)


def msgs(actions, cls):
    return [a for a in actions if isinstance(a, Send) and isinstance(a.message, cls)]


def drive(node: GossipNode, until: float, silent: set[str]) -> list:
    """Run the node's timers until `until`; every member but the silent ones answers pings and ping-reqs."""
    events = []
    now = 0.0
    while True:
        now = node.next_timer()
        if now > until:
            return events
        pending = node.tick(now)
        while pending:
            a = pending.pop(0)
            if not isinstance(a, Send):
                events.append((now, a))
                continue
            m = a.message
            if isinstance(m, Ping) and a.to not in silent:
                pending += node.receive(a.to, Ack(m.seq), now + 0.01)
            elif isinstance(m, PingReq) and a.to not in silent and m.target not in silent:
                pending += node.receive(a.to, Ack(m.seq), now + 0.02)
            elif isinstance(m, Suspect):
                events.append((now, m))


def test_a_silent_member_is_suspected_then_declared_dead():
    a = make()
    for p in ("b", "c", "d"):
        a.remember_member(p, f"addr:{p}")
    events = drive(a, 12.0, silent={"b"})
    suspected = [t for t, e in events if isinstance(e, Suspect) and e.member == "b"]
    dead = [t for t, e in events if isinstance(e, MemberDead) and e.peer == "b"]
    assert suspected and dead
    # probed within one round over 3 members, suspected a heartbeat later, dead after 3 more heartbeats
    assert suspected[0] <= 4.0
    assert 2.99 <= dead[0] - suspected[0] <= 4.01
    assert "b" not in a.members() and sorted(a.members()) == ["c", "d"]
    assert not [e for _, e in events if isinstance(e, MemberDead) and e.peer != "b"]


def test_a_missing_ack_triggers_indirect_probes_and_their_ack_saves_the_member():
    a = make(indirect_probes=2)
    for p in ("b", "c", "d", "e"):
        a.remember_member(p, f"addr:{p}")
    t = a.next_timer()
    [ping] = msgs(a.tick(t), Ping)
    target = ping.to
    reqs = msgs(a.tick(t + 0.4), PingReq)
    assert len(reqs) == 2 and all(r.message.target == target and r.to != target for r in reqs)
    assert reqs[0].message.address == f"addr:{target}"
    a.receive(reqs[0].to, Ack(ping.message.seq), t + 0.6)  # relayed ack
    assert not msgs(a.tick(t + 1.0), Suspect)
    assert target not in a.suspects()


def test_a_member_relays_a_ping_request():
    c = make("c")
    out = c.receive("a", PingReq("b", "addr:b", 7), 0.0)
    [ping] = msgs(out, Ping)
    assert ping.to == "b" and c.address_of("b") == "addr:b"
    assert c.receive("b", Ack(ping.message.seq), 0.1) == [Send("a", Ack(7))]


def suspected_b() -> GossipNode:
    a = make()
    for p in ("b", "c"):
        a.remember_member(p, f"addr:{p}")
    a.receive("c", Suspect("b", 0), 0.0)
    assert a.suspects() == ["b"]
    return a


def test_an_alive_refutation_with_a_higher_incarnation_wins():
    a = suspected_b()
    a.receive("c", Alive("b", 1, "addr:b"), 0.5)
    assert a.suspects() == [] and "b" in a.members()
    a.receive("c", Suspect("b", 0), 0.6)  # an old suspicion does not come back
    assert a.suspects() == []
    a.receive("c", Suspect("b", 1), 0.7)
    assert a.suspects() == ["b"]


def test_suspicion_times_out_unless_refuted():
    a = suspected_b()  # suspected at 0.0 with a deadline of 3 heartbeats
    until = a.next_timer() + 3.05
    events = drive(a, until, silent={"b"})
    assert any(isinstance(e, MemberDead) and e.peer == "b" for _, e in events)
    a = suspected_b()
    a.receive("b", Alive("b", 1, "addr:b"), 0.0)
    events = drive(a, until, silent={"b"})  # silent from now on, but refuted: a new suspicion takes longer
    assert not any(isinstance(e, MemberDead) for _, e in events) and "b" in a.members()


def test_an_ack_from_a_suspect_clears_the_suspicion():
    a = suspected_b()
    events = drive(a, 5.0, silent=set())
    assert not any(isinstance(e, MemberDead) for _, e in events) and a.suspects() == []


def test_a_node_refutes_suspicion_of_itself_by_raising_its_incarnation():
    a = make()
    a.remember_member("c", "addr:c")
    out = a.receive("c", Suspect("a", 0), 0.0)
    assert a.incarnation == 1
    assert Send("c", Alive("a", 1, "addr:a")) in out
    out = a.receive("c", Dead("a", 1), 0.1)
    assert a.incarnation == 2 and Send("c", Alive("a", 2, "addr:a")) in out
    # the refutation rides on the next ping
    [ping] = msgs(a.tick(a.next_timer()), Ping)
    assert Alive("a", 2, "addr:a") in ping.message.updates


def test_made_up_incarnations_cannot_kill_a_member():
    a = make()
    for p in ("b", "c"):
        a.remember_member(p, f"addr:{p}")
    a.receive("c", Dead("b", 99), 0.0)
    a.receive("c", Suspect("b", 99), 0.0)
    assert "b" in a.members() and a.suspects() == []
    out = a.receive("c", Dead("b", 0), 0.1)
    assert [e for e in out if isinstance(e, MemberDead)] == [MemberDead("b")]
    a.receive("c", Alive("b", 0, "addr:b"), 0.2)  # a stale alive does not resurrect it
    assert "b" not in a.members()
    a.receive("c", Alive("b", 1, "addr:b"), 0.3)  # a newer incarnation does
    assert "b" in a.members()


def test_join_is_answered_with_a_member_list_and_spreads_the_newcomer():
    a = make()
    for p in ("b", "c", "d"):
        a.remember_member(p, f"addr:{p}")
    out = a.receive("new", Join("addr:new", 0), 0.0)
    [reply] = msgs(out, MemberList)
    assert reply.to == "new"
    listed = {u.member for u in reply.message.updates}
    assert listed == {"a", "b", "c", "d"}
    assert "new" in a.members()
    [ping] = msgs(a.tick(a.next_timer()), Ping)
    assert Alive("new", 0, "addr:new") in ping.message.updates
    newcomer = make("new")
    newcomer.receive("a", reply.message, 0.1)
    assert sorted(newcomer.members()) == ["a", "b", "c", "d"]


def test_bootstrap_sends_a_join():
    a = make()
    assert a.add_member("b", "addr:b", 0.0) == [Send("b", Join("addr:a", 0))]
    assert a.address_of("b") == "addr:b"
    assert a.join_message() == Join("addr:a", 0)


def test_leave_tells_every_member_and_rejoin_raises_the_incarnation():
    a = make()
    for p in ("b", "c"):
        a.remember_member(p, f"addr:{p}")
    out = a.leave(0.0)
    assert sorted(s.to for s in msgs(out, Dead)) == ["b", "c"]
    assert all(s.message == Dead("a", 0) for s in msgs(out, Dead))
    b = make("b")
    b.remember_member("a", "addr:a")
    events = b.receive("a", Dead("a", 0), 0.1)
    assert MemberDead("a") in events and "a" not in b.members()
    out = a.rejoin(5.0)
    assert a.incarnation == 1 and len(msgs(out, Join)) == 2
    b.receive("a", Join("addr:a", 1), 5.1)  # a newer incarnation is welcome back
    assert "a" in b.members()
