"""The gossip protocol as specifications: one `GossipNode` driven by hand, and a small in-test network."""

from __future__ import annotations

import heapq
import random

import pytest

from jeet.net import (
    Adopted, Announce, Blacklisted, BlacklistNotice, GossipNode, Graft, IWant, NodeConfig, PeerIgnored, Penalized,
    Ping,
    Prune, Rejected, Send, Specimen, SpecimenData, Verdict, VerifyRequest, sha256_hex,
)

WASM = b"\x00asm\x01\x00\x00\x00" + b"good code" + bytes(64)


def make(node_id: str = "a", memory=None, **cfg) -> GossipNode:
    return GossipNode(node_id, f"addr:{node_id}", rng=random.Random(7), config=NodeConfig(**cfg),
                      available_memory=memory)


def sent(actions, cls=None) -> list[Send]:
    return [a for a in actions if isinstance(a, Send) and (cls is None or isinstance(a.message, cls))]


def of(actions, cls) -> list:
    return [a for a in actions if isinstance(a, cls)]


def module(tag: str) -> bytes:
    return b"\x00asm\x01\x00\x00\x00" + tag.encode() + bytes(32)


def announce(wasm: bytes, fitness: float, function: str = "f") -> Announce:
    return Announce(sha256_hex(wasm), function, fitness, 100, len(wasm))


def data(wasm: bytes, fitness: float, function: str = "f") -> SpecimenData:
    return SpecimenData(sha256_hex(wasm), function, wasm, fitness, 100)


def deliver(node: GossipNode, peer: str, wasm: bytes, claim: float, now: float) -> list:
    """`peer` announces `wasm` and answers the IWANT; returns the actions of the delivery."""
    assert sent(node.receive(peer, announce(wasm, claim), now), IWant)
    return node.receive(peer, data(wasm, claim), now + 0.01)


def graft(node: GossipNode, *peers: str, now: float = 0.0) -> None:
    for p in peers:
        assert node.receive(p, Graft(f"addr:{p}", 0), now) == []
    assert set(peers) <= set(node.mesh_peers())


# --- IHAVE / IWANT -----------------------------------------------------------------------------------------

def test_an_announcement_is_answered_by_one_iwant_and_others_wait_their_turn():
    a = make(iwant_timeout=0.5)
    ann = announce(WASM, 0.6)
    assert a.receive("b", ann, 0.0) == [Send("b", IWant((ann.sha256,)))]
    assert a.receive("c", ann, 0.1) == []  # already asked b
    assert a.receive("b", ann, 0.2) == []
    assert a.stats.fetched == 1
    # b breaks its promise: after the timeout c is asked, once
    out = a.tick(0.51)
    assert sent(out, IWant) == [Send("c", IWant((ann.sha256,)))]
    assert a.stats.broken_promises == 1
    assert sent(a.tick(0.6), IWant) == []


def test_a_specimen_is_not_adopted_before_the_host_verified_it():
    a = make()
    graft(a, "x", "y")
    out = deliver(a, "b", WASM, 0.6, 0.0)
    [req] = of(out, VerifyRequest)
    assert (req.sha256, req.wasm, req.claimed_fitness, req.sender) == (sha256_hex(WASM), WASM, 0.6, "b")
    assert not of(out, Adopted) and not a.holds(req.sha256)
    assert a.receive("d", IWant((req.sha256,)), 0.1) == []  # nothing to serve before verification
    assert sent(out, Announce) == []                           # nor to announce
    out = a.verified(req.sha256, True, 0.6, 0.2)
    assert of(out, Adopted) == [Adopted(req.sha256, "f", 0.6, "b")]
    assert Send("b", Verdict(req.sha256, True)) in out
    assert sorted(s.to for s in sent(out, Announce)) == ["x", "y"]  # the mesh, not b that sent it
    assert a.holds(req.sha256)
    assert sent(a.receive("d", IWant((req.sha256,)), 0.3), SpecimenData)


def test_bytes_that_do_not_match_the_announcement_are_refused_and_the_next_announcer_is_asked():
    a = make()
    ann = announce(WASM, 0.6)
    a.receive("b", ann, 0.0)
    a.receive("c", ann, 0.0)
    forged = SpecimenData(ann.sha256, "f", WASM[:-1] + b"\x01", 0.6, 100)  # right size, wrong hash
    out = a.receive("b", forged, 0.1)
    assert not of(out, VerifyRequest)
    assert sent(out, IWant) == [Send("c", IWant((ann.sha256,)))]
    assert a.score("b") < 0 and a.stats.invalid_payloads == 1


def test_unsolicited_bytes_are_dropped():
    a = make()
    out = a.receive("b", data(WASM, 0.6), 0.0)
    assert out == [Penalized("b", "unsolicited specimen bytes", 0.0)]  # a little: 5 are free
    assert a.stats.unsolicited == 1 and not a.holds(sha256_hex(WASM))


# --- trust nothing -----------------------------------------------------------------------------------------

def test_a_liar_is_ignored_at_its_third_bad_delivery_and_then_dropped():
    a = make()
    graft(a, "liar", "x")
    for k in range(3):
        bad = module(f"bad {k}")
        [req] = of(deliver(a, "liar", bad, 1.0, k), VerifyRequest)
        out = a.verified(req.sha256, False, None, k + 0.5)
        assert of(out, Rejected) and Send("liar", Verdict(req.sha256, False)) in out
        assert bool(of(out, PeerIgnored)) == (k == 2), (k, a.score("liar"))
    assert a.is_ignored("liar") and a.bad_deliveries("liar") == 3
    assert "liar" not in a.mesh_peers() and "liar" not in a.members()
    assert Send("liar", Prune()) in out
    dropped = a.stats.dropped_ignored
    assert a.receive("liar", announce(module("bad 4"), 1.0), 4.0) == []
    assert a.receive("liar", Ping(1), 4.0) == []
    assert a.receive("liar", Graft("addr:liar", 0), 4.0) == []
    assert a.stats.dropped_ignored == dropped + 3


def test_a_liar_with_full_credit_is_still_ignored_at_its_third_lie():
    a = make()
    for k in range(12):  # twelve good deliveries: the credit is capped
        [req] = of(deliver(a, "p", module(f"good {k}"), 0.6, k * 0.01), VerifyRequest)
        assert of(a.verified(req.sha256, True, 0.6, k * 0.01 + 0.005), Adopted)
    assert a.score("p") == pytest.approx(10.0, abs=0.1)
    ignored = []
    for k in range(3):  # lies about fitness: the code is correct but scores 0.3 locally
        [req] = of(deliver(a, "p", module(f"slow {k}"), 1.0, 1 + k), VerifyRequest)
        out = a.verified(req.sha256, True, 0.3, 1.5 + k)
        assert of(out, Rejected) and not of(out, Adopted) and not a.holds(req.sha256)
        ignored.append(bool(of(out, PeerIgnored)))
    assert ignored == [False, False, True]


def test_claimed_fitness_must_reproduce_within_tolerance():
    a = make(fitness_tolerance=0.05, fitness_abs_tolerance=0.02)
    [req] = of(deliver(a, "b", module("near"), 0.61, 0.0), VerifyRequest)
    assert of(a.verified(req.sha256, True, 0.60, 0.1), Adopted)       # within 0.03
    [req] = of(deliver(a, "b", module("far"), 0.70, 0.2), VerifyRequest)
    out = a.verified(req.sha256, True, 0.60, 0.3)
    assert not of(out, Adopted) and "claimed fitness 0.7000, measured 0.6000" in of(out, Rejected)[0].reason


def test_a_misclaimed_specimen_can_still_come_from_an_honest_announcer():
    a = make()
    code = module("fine code")
    ann_liar, ann_honest = announce(code, 1.0), announce(code, 0.55)
    a.receive("liar", ann_liar, 0.0)
    a.receive("honest", ann_honest, 0.0)
    [req] = of(a.receive("liar", data(code, 1.0), 0.1), VerifyRequest)
    out = a.verified(req.sha256, True, 0.55, 0.2)
    assert of(out, Rejected) and sent(out, IWant) == [Send("honest", IWant((req.sha256,)))]
    [req] = of(a.receive("honest", data(code, 0.55), 0.3), VerifyRequest)
    assert of(a.verified(req.sha256, True, 0.55, 0.4), Adopted)


def test_malformed_input_lowers_the_score_until_the_peer_is_ignored():
    a = make()
    assert a.malformed("m", 0.0) == [Penalized("m", "malformed message", -10.0)]
    assert a.score("m") == -10.0
    a.malformed("m", 0.1)
    out = a.malformed("m", 0.2)
    assert of(out, PeerIgnored) and a.stats.malformed == 3


def test_messages_beyond_the_rate_limit_are_dropped():
    a = make(peer_rate=10.0, peer_burst=20.0)
    acks = sum(len(a.receive("b", Ping(i), 0.0)) for i in range(30))
    assert acks == 20 and a.stats.dropped_rate == 10
    assert len(a.receive("b", Ping(99), 0.5)) == 1  # tokens come back with time


# --- blacklist ---------------------------------------------------------------------------------------------

def test_a_hash_that_failed_verification_is_never_requested_again():
    a = make()
    graft(a, "x")
    bad = module("traps")
    assert sent(a.receive("c", announce(bad, 0.9), 0.0), IWant)
    a.receive("b", announce(bad, 0.9), 0.0)  # offered by two peers: it circulates
    [req] = of(a.receive("c", data(bad, 0.9), 0.01), VerifyRequest)
    out = a.verified(req.sha256, False, None, 0.1)
    assert of(out, Blacklisted) and Send("x", BlacklistNotice(req.sha256, "failed verification")) in out
    for t, peer in enumerate(["c", "d", "b", "x"]):
        assert sent(a.receive(peer, announce(bad, 0.9), 1.0 + t), IWant) == []
    while a.next_timer() < 100.0:  # long after the fetch itself is forgotten
        a.tick(a.next_timer())
    assert sent(a.receive("e", announce(bad, 0.9), 100.0), IWant) == []
    assert a.is_blacklisted(req.sha256)


def test_a_lie_told_to_us_alone_is_blacklisted_without_telling_the_mesh():
    a = make()
    graft(a, "x")
    [req] = of(deliver(a, "b", module("lone lie"), 0.9, 0.0), VerifyRequest)
    out = a.verified(req.sha256, False, None, 0.1)
    assert of(out, Blacklisted) and not sent(out, BlacklistNotice)


def test_the_host_can_blacklist_a_hash():
    a = make()
    bad = module("host says no")
    a.blacklist(sha256_hex(bad), "traps", 0.0)
    assert a.receive("b", announce(bad, 0.9), 0.1) == []


def earn_trust(a: GossipNode, peer: str, deliveries: int, t0: float) -> None:
    for k in range(deliveries):
        [req] = of(deliver(a, peer, module(f"{peer} good {k}"), 0.6, t0 + k * 0.01), VerifyRequest)
        a.verified(req.sha256, True, 0.6, t0 + k * 0.01 + 0.005)


def test_blacklist_notices_of_strangers_or_a_single_peer_do_not_block_code():
    a = make()
    target = module("good code others want to censor")
    sha = sha256_hex(target)
    a.receive("stranger1", BlacklistNotice(sha, "traps"), 0.0)
    a.receive("stranger2", BlacklistNotice(sha, "traps"), 0.0)
    earn_trust(a, "friend", 6, 0.1)
    a.receive("friend", BlacklistNotice(sha, "traps"), 0.5)
    assert not a.is_blacklisted(sha) and a.stats.notices_ignored == 2
    [req] = of(deliver(a, "b", target, 0.6, 1.0), VerifyRequest)
    assert of(a.verified(sha, True, 0.6, 1.1), Adopted)
    assert a.score("friend") < 6  # its notice was false: it pays for it
    before = a.score("stranger1")
    a.receive("stranger1", BlacklistNotice(sha, "traps"), 2.0)  # a notice against code we hold
    assert a.score("stranger1") < before and a.stats.false_notices >= 2


def test_notices_from_a_quorum_of_trusted_peers_blacklist_a_hash():
    a = make()
    earn_trust(a, "p", 3, 0.0)
    earn_trust(a, "q", 3, 0.1)
    bad = module("really bad")
    sha = sha256_hex(bad)
    a.receive("p", BlacklistNotice(sha, "traps"), 1.0)
    assert not a.is_blacklisted(sha)  # 0.6 of a vote
    out = a.receive("q", BlacklistNotice(sha, "traps"), 1.1)
    assert of(out, Blacklisted) and a.is_blacklisted(sha)
    assert a.receive("r", announce(bad, 0.9), 1.2) == []


# --- adaptive propagation ----------------------------------------------------------------------------------

def test_specimens_below_seven_tenths_of_the_network_average_are_not_forwarded():
    a = make()
    graft(a, "x", "y")
    a.note_fitness("f", 0.9)
    out = a.offer(Specimen.of("f", module("weak"), 0.6, 10), 0.0)
    assert sent(out, Announce) == [] and a.stats.held_back == 1
    assert a.network_fitness("f") == pytest.approx(0.87)  # 0.9 + 0.1 * (0.6 - 0.9)
    out = a.offer(Specimen.of("f", module("strong"), 0.95, 10), 0.1)
    assert sorted(s.to for s in sent(out, Announce)) == ["x", "y"]


def test_specimens_over_half_the_available_memory_are_neither_fetched_nor_forwarded():
    big = module("big")
    a = make(memory=lambda: 2 * len(big))  # size == half the memory: not below it
    graft(a, "x")
    assert a.receive("b", announce(big, 0.9), 0.0) == [] and a.stats.too_big == 1
    assert sent(a.offer(Specimen.of("f", big, 0.9, 10), 0.1), Announce) == []
    roomy = make("r", memory=lambda: 2 * len(big) + 1)
    graft(roomy, "x")
    assert sent(roomy.offer(Specimen.of("f", big, 0.9, 10), 0.1), Announce)


def test_the_estimator_ignores_claims_of_unproven_peers():
    a = make()
    a.note_fitness("f", 0.5)
    a.receive("stranger", announce(module("x"), 1.0), 0.0)
    assert a.network_fitness("f") == 0.5
    earn_trust(a, "friend", 1, 0.1)  # one verified delivery at 0.6 also counts: 0.5 -> 0.51
    assert a.network_fitness("f") == pytest.approx(0.51)
    a.receive("friend", announce(module("y"), 0.71), 1.0)
    assert a.network_fitness("f") == pytest.approx(0.51 + 0.1 * (0.71 - 0.51))


def test_survival_rate_is_learned_from_verdicts_of_receivers_only():
    a = make()
    spec = Specimen.of("f", module("s"), 0.8, 10)
    a.offer(spec, 0.0)
    assert a.survival_rate(spec.sha256) == 0.5
    for p in ("p1", "p2", "p3"):
        assert sent(a.receive(p, IWant((spec.sha256,)), 0.1), SpecimenData)
    a.receive("p1", Verdict(spec.sha256, True), 0.2)
    a.receive("p1", Verdict(spec.sha256, True), 0.2)    # counted once
    a.receive("p2", Verdict(spec.sha256, True), 0.2)
    a.receive("p3", Verdict(spec.sha256, False), 0.2)
    a.receive("never-served", Verdict(spec.sha256, True), 0.2)
    assert a.survival_rate(spec.sha256) == pytest.approx((2 + 1) / (3 + 2))


def test_a_peer_that_enters_the_mesh_after_the_announcement_still_hears_of_it():
    """Found while nobody was in the mesh: the next heartbeats graft a peer and tell it."""
    a = make(flood_publish=False)
    a.add_member("b", "addr:b", 0.0)
    spec = Specimen.of("f", module("early"), 0.9, 10)
    assert sent(a.offer(spec, 0.0), Announce) == []  # empty mesh: nobody to tell yet
    told = []
    for t in (1.0, 2.0, 3.0):
        told += [s.to for s in sent(a.tick(t), Announce) if s.message.sha256 == spec.sha256]
    assert "b" in a.mesh_peers() and told == ["b"]


def test_own_specimens_are_announced_to_every_member_and_relayed_ones_to_the_mesh_only():
    a = make()
    for p in ("m1", "m2", "x1", "x2"):
        a.add_member(p, f"addr:{p}", 0.0)
    graft(a, "m1", "m2")
    own = Specimen.of("f", module("found here"), 0.9, 10)
    assert sorted(s.to for s in sent(a.offer(own, 0.1), Announce)) == ["m1", "m2", "x1", "x2"]
    [req] = of(deliver(a, "m1", module("found elsewhere"), 0.9, 0.2), VerifyRequest)
    relayed = sent(a.verified(req.sha256, True, 0.9, 0.3), Announce)
    assert [s.to for s in relayed] == ["m2"]  # m1 sent it; members outside the mesh hear of it lazily


def test_the_queue_forwards_by_fitness_times_survival():
    a = make(announce_rate=1.0, announce_burst=1.0)
    graft(a, "x")
    a.offer(Specimen.of("f", module("first"), 0.9, 10), 0.0)    # takes the only token
    fast_but_dying = Specimen.of("f", module("A"), 0.8, 10)
    steady = Specimen.of("f", module("B"), 0.7, 10)
    assert sent(a.offer(fast_but_dying, 0.0), Announce) == []  # queued: no token left
    assert sent(a.offer(steady, 0.0), Announce) == []
    for p in ("p1", "p2", "p3"):                                # A is rejected by everyone it reached
        a.receive(p, IWant((fast_but_dying.sha256,)), 0.1)
        a.receive(p, Verdict(fast_but_dying.sha256, False), 0.2)
    first = sent(a.tick(1.0), Announce)
    second = sent(a.tick(2.0), Announce)
    assert [s.message.sha256 for s in first] == [steady.sha256]  # 0.7 * 1/2 > 0.8 * 1/5
    assert [s.message.sha256 for s in second] == [fast_but_dying.sha256]


# --- a small network ---------------------------------------------------------------------------------------

class Net:
    """Nodes with random partial views over a transport with a fixed delay; the host verifies instantly."""

    def __init__(self, n: int, seed: int, view: int = 10, delay: float = 0.02, liars=(), **cfg) -> None:
        rng = random.Random(seed)
        self.config = NodeConfig(ack_timeout=0.2, iwant_timeout=0.2, **cfg)
        self.ids = [f"n{i}" for i in range(n)]
        self.nodes = {k: GossipNode(k, f"addr:{k}", rng=rng, config=self.config) for k in self.ids}
        for k in self.ids:
            for j in rng.sample([x for x in self.ids if x != k], view):
                self.nodes[k].remember_member(j, f"addr:{j}")
        self.delay = delay
        self.queue: list = []
        self.seq = 0
        self.now = 0.0
        self.events: list = []
        self.down: set[str] = set()

    def act(self, k: str, actions: list) -> None:
        node = self.nodes[k]
        for a in actions:
            if isinstance(a, Send):
                self.seq += 1
                heapq.heappush(self.queue, (self.now + self.delay, self.seq, a.to, k, a.message))
            elif isinstance(a, VerifyRequest):
                self.act(k, node.verified(a.sha256, True, a.claimed_fitness, self.now))
            else:
                self.events.append((k, a))

    def run(self, until: float, step: float = 0.01) -> None:
        while self.now < until:
            self.now = round(self.now + step, 6)
            while self.queue and self.queue[0][0] <= self.now:
                _, _, to, frm, msg = heapq.heappop(self.queue)
                if to not in self.down:
                    self.act(to, self.nodes[to].receive(frm, msg, self.now))
            for k, node in self.nodes.items():
                if k not in self.down and node.next_timer() <= self.now:
                    self.act(k, node.tick(self.now))


def test_mesh_degree_stays_within_bounds():
    net = Net(60, seed=3)
    net.run(6.0)
    cfg = net.config
    sizes = [len(n.mesh_peers()) for n in net.nodes.values()]
    assert all(cfg.degree_low <= s <= cfg.degree_high for s in sizes), sizes
    # links are mutual: a graft is accepted or answered by a prune
    one_way = sum(1 for k, n in net.nodes.items() for p in n.mesh_peers() if k not in net.nodes[p].mesh_peers())
    assert one_way == 0


def test_a_small_network_spreads_a_specimen_with_one_copy_per_node():
    net = Net(40, seed=5)
    net.run(3.0)
    spec = Specimen.of("f", WASM, 0.7, 10)
    net.act("n0", net.nodes["n0"].offer(spec, net.now))
    net.run(6.0)
    assert all(n.holds(spec.sha256) for n in net.nodes.values())
    assert sum(n.stats.delivered for n in net.nodes.values()) == 39
    assert sum(n.stats.dup_payloads for n in net.nodes.values()) == 0
    assert not [e for e in net.events if isinstance(e[1], PeerIgnored)]


def test_held_specimens_from_the_store_are_served_but_not_announced_or_fetched():
    a = make(held_capacity=2)
    graft(a, "x")
    specs = [Specimen.of("f", module(f"stored {k}"), 0.6, 10) for k in range(3)]
    a.hold(specs[0], 0.0)
    assert sent(a.tick(a.next_timer()), Announce) == []
    assert sent(a.receive("b", IWant((specs[0].sha256,)), 1.0), SpecimenData)
    a.hold(specs[1], 1.0)
    a.hold(specs[2], 1.0)  # over capacity: the first leaves memory, but is still known
    assert not a.holds(specs[0].sha256)
    assert a.receive("c", announce(specs[0].wasm, 0.6), 1.1) == []


def test_environment_tags_travel_on_with_a_re_announced_specimen():
    a = make()
    graft(a, "b", "c")
    wasm = module("tagged")
    ann = Announce(sha256_hex(wasm), "f", 0.6, 100, len(wasm), ("env:size=small",))
    assert sent(a.receive("b", ann, 0.0), IWant)
    req = of(a.receive("b", data(wasm, 0.6), 0.1), VerifyRequest)
    assert req
    out = a.verified(req[0].sha256, True, 0.6, 0.2)
    onward = [s.message for s in sent(out, Announce) if s.to == "c"]
    assert onward and onward[0].env == ("env:size=small",)
    assert a.specimen(req[0].sha256).env == ("env:size=small",)


def test_iwant_answers_are_bounded_per_peer_per_interval():
    """However many hashes a peer asks for, it gets at most `serve_burst` bytes at once and `serve_rate` per
    second after that; other peers have buckets of their own."""
    size = 1 << 20
    a = make(serve_burst=2 * size, serve_rate=size)
    specs = [Specimen.of("f", module(f"big {k}") + bytes(size - 60), 0.6, 10) for k in range(8)]
    for s in specs:
        a.hold(s, 0.0)
    hashes = tuple(s.sha256 for s in specs)
    assert len(sent(a.receive("greedy", IWant(hashes), 1.0), SpecimenData)) == 2
    assert sent(a.receive("greedy", IWant(hashes), 1.1), SpecimenData) == []  # the bucket is empty
    assert len(sent(a.receive("greedy", IWant(hashes), 2.2), SpecimenData)) == 1  # one second refills one
    assert len(sent(a.receive("other", IWant(hashes), 2.2), SpecimenData)) == 2
    assert a.stats.serve_limited > 0


def test_held_specimens_are_bounded_in_bytes():
    size = 1 << 20
    a = make(held_bytes=3 * size)
    specs = [Specimen.of("f", module(f"big {k}") + bytes(size - 60), 0.6, 10) for k in range(5)]
    for s in specs:
        a.hold(s, 0.0)
    assert [a.holds(s.sha256) for s in specs] == [False, False, True, True, True]
