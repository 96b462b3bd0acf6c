"""`GossipNode`: the sans-I/O protocol state machine of one jeet node.

Inputs: `receive(sender, message, now)`, `tick(now)`, `offer(specimen, now)` (found locally),
`verified(sha256, ok, local_fitness, now)` (the host's own sandbox verdict), plus a few host calls
(`add_member`, `malformed`, `blacklist`, `note_fitness`, `leave`, `rejoin`). Output: a list of actions,
`Send(to, message)` for the host to deliver and events (`VerifyRequest`, `Adopted`, `Rejected`, ...).
Time is whatever the host passes as `now` (seconds); `next_timer()` says when `tick` is next due.

Dissemination (GossipSub): a mesh of degree D in [D_lo, D_hi] kept by graft/prune at heartbeats. A node
announces (IHAVE) a specimen to its mesh peers once it holds it (a specimen it found itself to every
member it knows: flood publishing), and lazily to a few random non-mesh members for `gossip_history`
heartbeats; bytes move only on IWANT, requested from one announcer at a time
(others are remembered and asked in turn if the promise is broken), so each node normally receives one copy.

Adaptive propagation: a held specimen is forwarded only if its fitness > forward_fitness_ratio x the
network average of its function and its size < forward_memory_ratio x the host's available memory.
Candidates wait in a priority queue ordered by fitness x survival rate, survival = (kept + 1) / (verdicts + 2)
from the Verdict messages of the peers we sent it to (a Laplace prior: 1/2 before any verdict), drained
by an announce token bucket.

Network fitness estimator, per function: an exponentially weighted mean (weight `estimator_alpha` per
observation) of (a) the host's own figures (`note_fitness`, `offer`), (b) the local fitness of every
specimen this node verified as correct, (c) the claimed fitness of first announcements from peers with a
positive score, i.e. peers that have delivered code that verified. Claims of strangers and liars never
move it, so a liar cannot hold back good code by inflating the average.

Trust nothing: received bytes must hash to the announced sha256 with the announced size and function; they
become a `VerifyRequest`, and the specimen is adopted only after `verified(ok=True)` with a local fitness
within tolerance of both claims. Failures, fitness lies, malformed messages, unsolicited bytes and broken
promises lower the sender's score (`jeet.net.score`); below the threshold the peer is ignored: its messages
are dropped, it leaves our mesh and view, and it is sent a Prune. What a peer can make us send is bounded:
IWANT answers draw on a per-peer bucket of bytes (`serve_burst`, refilled at `serve_rate` per second), and
what we hold to serve is bounded in count and bytes (`held_capacity`, `held_bytes`).

Blacklist: a hash that failed our own verification (or that the host blacklists) is never fetched again,
and our mesh peers get a BlacklistNotice (after a failed verification only if more than one peer offered
the hash, i.e. it circulates). A notice from a peer counts only if that peer has a positive
score, weighs min(1, score / notice_trust), and a hash is blacklisted on notices alone only when
`notice_quorum` distinct peers sent them and their weights sum to 1 or more; notices are not relayed. A
notice against code we hold (verified ourselves) is a lie and costs its sender. So blacklisting good code
takes several peers that first earned trust by delivering verified code, and exposes them.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from dataclasses import dataclass, fields
from typing import Callable, Iterable

from .actions import (
    Action, Adopted, Blacklisted, Penalized, PeerIgnored, PeerRestored, Rejected, Send, VerifyRequest,
)
from .config import NodeConfig
from ..errors import NetError
from .membership import Membership
from .messages import (
    Ack, Alive, Announce, BlacklistNotice, Dead, Graft, IWant, Join, MemberList, Message, Ping, PingReq, Prune,
    Specimen, SpecimenData, Suspect, Verdict, sha256_hex,
)
from .score import PeerState, compute_score

FETCHING, VERIFYING, DONE, IDLE = 0, 1, 2, 3
_SERVE_LIMIT = 2  # copies of one specimen served to one peer


@dataclass(slots=True)
class NodeStats:
    """Counters of one node since it started (what the daemon reports under /status)."""

    announced: int = 0        # IHAVE messages sent
    fetched: int = 0          # IWANT messages sent
    delivered: int = 0        # specimens received as requested and handed over for verification
    adopted: int = 0
    rejected: int = 0         # failed verification or fitness lie
    served: int = 0           # specimens sent on IWANT
    serve_limited: int = 0    # IWANTed specimens not sent: the peer used up its serve bucket
    dup_announces: int = 0
    dup_payloads: int = 0     # copies received for a hash already delivered
    broken_promises: int = 0
    invalid_payloads: int = 0
    unsolicited: int = 0
    malformed: int = 0
    peers_ignored: int = 0
    dropped_ignored: int = 0
    dropped_rate: int = 0
    blacklisted: int = 0
    false_notices: int = 0
    notices_ignored: int = 0
    held_back: int = 0        # candidates the adaptive rule did not forward
    too_big: int = 0
    grafts: int = 0
    prunes: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class _Fetch:
    __slots__ = ("function", "claimed", "size", "source", "deadline", "alternates", "asked", "stage", "t_done",
                 "env")

    def __init__(self, function: str, claimed: float, size: int, env: tuple[str, ...] = ()) -> None:
        self.function = function
        self.env = env  # environment tags of the first announcement, carried on when we re-announce
        self.claimed = claimed
        self.size = size
        self.source = ""
        self.deadline = 0.0
        self.alternates: list[tuple[str, float]] = []  # other announcers and their claims, first come first
        self.asked: dict[str, None] = {}
        self.stage = FETCHING
        self.t_done = 0.0


class _Held:
    __slots__ = ("specimen", "t", "source", "has", "announced", "served", "verdicts", "kept", "total",
                 "queued", "announce", "data")

    def __init__(self, specimen: Specimen, now: float, source: str) -> None:
        self.specimen = specimen
        self.t = now
        self.source = source
        self.has: dict[str, None] = {}        # peers known to hold it (announced it, or kept it)
        self.announced: dict[str, None] = {}  # peers we sent IHAVE to
        self.served: dict[str, int] = {}      # peers we sent the bytes to -> copies
        self.verdicts: dict[str, None] = {}
        self.kept = 0
        self.total = 0
        self.queued = 0                       # version of the live queue entry, 0 when not queued
        s = specimen
        self.announce = Announce(s.sha256, s.function, s.fitness, s.fuel, len(s.wasm), s.env)
        self.data = SpecimenData(s.sha256, s.function, s.wasm, s.fitness, s.fuel)

    def priority(self) -> float:
        return self.specimen.fitness * (self.kept + 1) / (self.total + 2)


_HANDLER_TABLES: dict[tuple[type, type], dict[type, tuple[Callable, bool]]] = {}


def _handler_table(node_cls: type, swim_cls: type) -> dict[type, tuple[Callable, bool]]:
    """One table for every message type: (handler, is a membership message). The handlers are plain functions
    of the classes (a subclass's overrides included), called with the membership or the node itself; one
    table per class, shared by all its nodes (a host with thousands of nodes keeps it in cache)."""
    table = _HANDLER_TABLES.get((node_cls, swim_cls))
    if table is None:
        table = _HANDLER_TABLES[node_cls, swim_cls] = {
            Ping: (swim_cls.on_ping, True), Ack: (swim_cls.on_ack, True), PingReq: (swim_cls.on_ping_req, True),
            Join: (swim_cls.on_join, True), MemberList: (swim_cls.on_member_list, True),
            Alive: (swim_cls.on_update, True), Suspect: (swim_cls.on_update, True), Dead: (swim_cls.on_update, True),
            Announce: (node_cls._on_announce, False), IWant: (node_cls._on_iwant, False),
            SpecimenData: (node_cls._on_data, False), Verdict: (node_cls._on_verdict, False),
            BlacklistNotice: (node_cls._on_notice, False), Graft: (node_cls._on_graft, False),
            Prune: (node_cls._on_prune, False),
        }
    return table


class GossipNode:
    """One node of the swarm, as a pure state machine (see the module docstring for the rules).

    `available_memory()` returns the bytes the host can spare (the daemon passes psutil's available
    memory); `functions` limits the specimens fetched to those functions (None: every function).
    """

    def __init__(self, node_id: str, address: str, *, rng: random.Random, config: NodeConfig | None = None,
                 available_memory: Callable[[], int] | None = None, functions: Iterable[str] | None = None,
                 now: float = 0.0, incarnation: int = 0) -> None:
        self.id = node_id
        self.address = address
        self.config = cfg = config if config is not None else NodeConfig()
        self._rng = rng
        self._memory = available_memory if available_memory is not None else (lambda: 1 << 62)
        self._functions = frozenset(functions) if functions is not None else None
        self._params = cfg.score
        self._rate, self._burst = cfg.peer_rate, cfg.peer_burst
        self.stats = NodeStats()
        self._peers: dict[str, PeerState] = {}
        self._mesh: dict[str, None] = {}
        self._backoff: dict[str, float] = {}
        # the membership half gets views of our tables, not bound methods: a node holds no reference to
        # itself, so it is freed as soon as its host drops it (the simulator drops thousands at once)
        peers, mesh = self._peers, self._mesh

        def blocked(peer: str) -> bool:  # is_ignored(peer)
            p = peers.get(peer)
            return p is not None and p.ignored

        def member_dead(peer: str) -> None:
            mesh.pop(peer, None)

        self._swim = Membership(node_id, address, incarnation, cfg, rng, blocked=blocked,
                                protected=mesh.__contains__, on_dead=member_dead)
        self._fetch: dict[str, _Fetch] = {}
        self._deadlines: list[tuple[float, str]] = []
        self._verifying: dict[str, tuple[SpecimenData, str, float]] = {}
        self._held: dict[str, _Held] = {}
        self._held_bytes = 0
        self._recent: dict[str, float] = {}
        self._queue: list[tuple[float, int, str]] = []
        self._counter = itertools.count(1)
        self._seen: dict[str, None] = {}          # adopted or held hashes, bounded: never fetched again
        self._blacklist: dict[str, str] = {}
        self._notices: dict[str, dict[str, float]] = {}
        self._fitness: dict[str, float] = {}
        self._atokens = cfg.announce_burst
        self._at = now
        self._next_hb = now + rng.random() * cfg.heartbeat  # random phase: nodes do not beat in lockstep
        self._beats = 0
        self._wake = self._next_hb
        self._handlers = _handler_table(type(self), type(self._swim))

    # --- host inputs --------------------------------------------------------------------------------------

    def receive(self, sender: str, message: Message, now: float) -> list[Action]:
        """Handle one authenticated message from `sender` (its node id)."""
        out: list[Action] = []
        if sender == self.id:
            return out
        burst = self._burst
        p = self._peers.get(sender)
        if p is None:
            p = self._peers[sender] = PeerState(now, burst)
        elif p.ignored and not self._maybe_restore(sender, p, now, out):
            self.stats.dropped_ignored += 1
            return out
        tokens = p.tokens + (now - p.t_tokens) * self._rate
        p.t_tokens = now
        if tokens > burst:
            tokens = burst
        if tokens < 1.0:
            p.tokens = tokens
            self.stats.dropped_rate += 1
            return out
        p.tokens = tokens - 1.0
        entry = self._handlers.get(type(message))
        if entry is None:
            self._malformed(sender, p, now, out)
        elif entry[1]:
            swim = self._swim
            if not swim.left:
                entry[0](swim, sender, message, now, out)
                if swim.probe_answered:  # the probe deadline is gone: the next timer may be later
                    swim.probe_answered = False
                    dl = self._deadlines
                    self._wake = min(self._next_hb, dl[0][0] if dl else math.inf)
        else:
            entry[0](self, sender, p, message, now, out)
        return out

    def malformed(self, sender: str, now: float) -> list[Action]:
        """The host could not decode a frame that an authenticated connection attributes to `sender`."""
        out: list[Action] = []
        p = self._peers.get(sender)
        if p is None:
            p = self._peers[sender] = PeerState(now, self.config.peer_burst)
        self._malformed(sender, p, now, out)
        return out

    def tick(self, now: float) -> list[Action]:
        """Run what is due: heartbeat (every `config.heartbeat` s), indirect probes, IWANT retries."""
        out: list[Action] = []
        swim = self._swim
        if now >= self._next_hb:
            self._heartbeat(now, out)
            self._next_hb += self.config.heartbeat
            if self._next_hb <= now:
                self._next_hb = now + self.config.heartbeat
        swim.tick(now, out)
        dl = self._deadlines
        while dl and dl[0][0] <= now:
            when, sha = heapq.heappop(dl)
            f = self._fetch.get(sha)
            if f is None or f.stage != FETCHING or f.deadline != when:
                continue
            self.stats.broken_promises += 1
            p = self._peers.get(f.source)
            if p is not None:
                self._penalize(f.source, p, now, out, "broken promise (IHAVE without the bytes)", broken=1.0)
            self._next_source(sha, f, now, out)
        self._wake = min(self._next_hb, swim.next_timer(), dl[0][0] if dl else math.inf)
        if self._queue:
            self._drain(now, out)
        return out

    def next_timer(self) -> float:
        """The earliest `now` at which `tick` has work; calling it earlier or more often is harmless."""
        return self._wake

    def offer(self, specimen: Specimen, now: float) -> list[Action]:
        """A specimen found (and verified) locally: hold it, count it in the estimator, queue it for forwarding."""
        out: list[Action] = []
        if specimen.sha256 in self._held:
            return out
        self._blacklist.pop(specimen.sha256, None)
        held = _Held(specimen, now, self.id)
        self._hold(held, now)
        self._remember(specimen.sha256)
        self._observe(specimen.function, specimen.fitness)
        self._enqueue(held)
        self._drain(now, out)
        return out

    def hold(self, specimen: Specimen, now: float) -> None:
        """Hold a specimen without announcing it (e.g. from the host's store after a restart): it is served
        on IWANT and never fetched again."""
        if specimen.sha256 not in self._held:
            self._hold(_Held(specimen, now, self.id), now)
            self._recent.pop(specimen.sha256, None)  # held quietly: not gossiped as new
            self._remember(specimen.sha256)

    def verified(self, sha256: str, ok: bool, local_fitness: float | None, now: float) -> list[Action]:
        """The host's verdict on a `VerifyRequest`: `ok` if it passed the local oracle, with its local fitness."""
        out: list[Action] = []
        if ok and (local_fitness is None or not math.isfinite(local_fitness)):
            raise NetError("verified(ok=True) needs the finite local fitness")
        pending = self._verifying.pop(sha256, None)
        if pending is None:
            return out
        data, sender, claimed = pending
        f = self._fetch.get(sha256)
        if f is not None:
            f.stage = DONE
            f.t_done = now
        p = self._peers.get(sender)
        if p is None:
            p = self._peers[sender] = PeerState(now, self.config.peer_burst)
        if not ok:
            self.stats.rejected += 1
            p.bad_deliveries += 1
            out.append(Rejected(sha256, "failed verification", sender))
            out.append(Send(sender, Verdict(sha256, False)))
            self._penalize(sender, p, now, out, "code failed verification", invalid=1.0)
            # tell the mesh only if the hash circulates (more than one peer offered it): a lie told to us
            # alone would cost our peers a notice each and save them nothing
            spread = f is not None and len(f.asked) + len(f.alternates) > 1
            self._add_blacklist(sha256, "failed verification", out, notify=spread)
            return out
        cfg = self.config
        tol = max(cfg.fitness_abs_tolerance, cfg.fitness_tolerance * abs(local_fitness))
        if abs(data.fitness - local_fitness) > tol or abs(claimed - local_fitness) > tol:
            self.stats.rejected += 1
            p.bad_deliveries += 1
            worst = max(claimed, data.fitness, key=lambda c: abs(c - local_fitness))
            out.append(Rejected(sha256, f"claimed fitness {worst:.4f}, measured {local_fitness:.4f}", sender))
            out.append(Send(sender, Verdict(sha256, False)))
            self._penalize(sender, p, now, out, "fitness claim did not reproduce", invalid=1.0)
            if f is not None:  # the code may be fine: let the other announcers offer it
                f.stage = FETCHING
                f.asked = {}
                self._next_source(sha256, f, now, out)
            return out
        self._credit(p, now)
        specimen = Specimen(sha256, data.function, data.wasm, float(local_fitness), data.fuel,
                            f.env if f is not None else ())
        held = _Held(specimen, now, sender)
        held.has[sender] = None
        if f is not None:
            for peer in f.asked:
                held.has[peer] = None
            for peer, _ in f.alternates:
                held.has[peer] = None
        self._hold(held, now)
        self._remember(sha256)
        self._observe(data.function, local_fitness)
        self.stats.adopted += 1
        out.append(Adopted(sha256, data.function, float(local_fitness), sender))
        out.append(Send(sender, Verdict(sha256, True)))
        if self._blacklist.pop(sha256, None) is not None or sha256 in self._notices:
            self._punish_noticers(sha256, now, out)
        self._enqueue(held)
        self._drain(now, out)
        return out

    def note_fitness(self, function: str, fitness: float) -> None:
        """Feed the estimator with a figure of the host's own population (e.g. its current champion)."""
        if math.isfinite(fitness):
            self._observe(function, float(fitness))

    def add_member(self, peer: str, address: str, now: float) -> list[Action]:
        """Bootstrap: `peer` listens on `address`; introduce ourselves with a Join."""
        out: list[Action] = []
        if peer != self.id:
            self._swim.join(peer, address, now, out)
        return out

    def remember_member(self, peer: str, address: str, incarnation: int = 0) -> None:
        """Put a member known from elsewhere (the host's saved peer list) into the view, without any message."""
        if peer != self.id:
            self._swim.learn(peer, incarnation, address, 0.0, direct=False, news=False)

    def join_message(self) -> Join:
        """The Join to send to a bootstrap address whose node id is not known yet."""
        return Join(self.address, self._swim.incarnation)

    def blacklist(self, sha256: str, reason: str, now: float, notify: bool = True) -> list[Action]:
        """The host found this code bad itself: never fetch or serve it again; tell the mesh if `notify`
        (not when reloading the store's blacklist after a restart)."""
        out: list[Action] = []
        dropped = self._held.pop(sha256, None)
        if dropped is not None:
            self._held_bytes -= len(dropped.specimen.wasm)
        self._recent.pop(sha256, None)
        self._add_blacklist(sha256, reason, out, notify=notify)
        return out

    def leave(self, now: float) -> list[Action]:
        """Graceful shutdown: tell members we are gone (Dead about ourselves) and prune the mesh."""
        out: list[Action] = []
        for peer in self._mesh:
            out.append(Send(peer, Prune()))
        self._mesh.clear()
        self._swim.leave(out)
        return out

    def rejoin(self, now: float) -> list[Action]:
        """Back after a leave or an outage: raise the incarnation, Join a few members, rebuild the mesh."""
        out: list[Action] = []
        self._mesh.clear()
        self._backoff.clear()
        self._verifying.clear()  # in-flight work did not survive the outage: fetch afresh when announced again
        for f in self._fetch.values():
            if f.stage in (FETCHING, VERIFYING):
                f.stage = IDLE
                f.t_done = now
                f.asked = {}
                f.alternates.clear()
        self._swim.rejoin(now, out)
        self._next_hb = now
        self._wake = now
        return out

    # --- queries ------------------------------------------------------------------------------------------

    @property
    def incarnation(self) -> int:
        return self._swim.incarnation

    def address_of(self, peer: str) -> str | None:
        return self._swim.address_of(peer)

    def members(self) -> list[str]:
        return list(self._swim.members)

    def suspects(self) -> list[str]:
        return list(self._swim.suspects)

    def mesh_peers(self) -> list[str]:
        return list(self._mesh)

    def score(self, peer: str) -> float:
        p = self._peers.get(peer)
        return 0.0 if p is None else p.score

    def is_ignored(self, peer: str) -> bool:
        p = self._peers.get(peer)
        return p is not None and p.ignored

    def ignored_peers(self) -> list[str]:
        return [k for k, p in self._peers.items() if p.ignored]

    def bad_deliveries(self, peer: str) -> int:
        p = self._peers.get(peer)
        return 0 if p is None else p.bad_deliveries

    def bad_deliveries_by_peer(self) -> dict[str, int]:
        """Peers that delivered code which failed verification or lied about its fitness, and how often."""
        return {k: p.bad_deliveries for k, p in self._peers.items() if p.bad_deliveries}

    def holds(self, sha256: str) -> bool:
        return sha256 in self._held

    def specimen(self, sha256: str) -> Specimen | None:
        h = self._held.get(sha256)
        return None if h is None else h.specimen

    def top(self, n: int = 10, function: str | None = None) -> list[Specimen]:
        """The `n` fittest specimens held (in memory), best first."""
        items = [h.specimen for h in self._held.values() if function is None or h.specimen.function == function]
        items.sort(key=lambda s: (-s.fitness, s.sha256))
        return items[:n]

    def survival_rate(self, sha256: str) -> float | None:
        h = self._held.get(sha256)
        return None if h is None else (h.kept + 1) / (h.total + 2)

    def is_blacklisted(self, sha256: str) -> bool:
        return sha256 in self._blacklist

    @property
    def blacklist_size(self) -> int:
        return len(self._blacklist)

    def network_fitness(self, function: str) -> float | None:
        return self._fitness.get(function)

    def fitness_estimates(self) -> dict[str, float]:
        return dict(self._fitness)

    def pending_verifications(self) -> int:
        return len(self._verifying)

    # --- scoring ------------------------------------------------------------------------------------------

    def _penalize(self, peer: str, p: PeerState, now: float, out: list[Action], reason: str,
                  invalid: float = 0.0, broken: float = 0.0, behaviour: float = 0.0) -> None:
        params = self._params
        p.decay(now, params, self.config.heartbeat)
        p.invalid += invalid
        p.broken += broken
        p.behaviour += behaviour
        p.score = compute_score(p, params)
        out.append(Penalized(peer, reason, p.score))
        if not p.ignored and p.score < params.ignore_threshold:
            self._ignore(peer, p, now, out)

    def _credit(self, p: PeerState, now: float) -> None:
        p.decay(now, self._params, self.config.heartbeat)
        p.good += 1.0
        p.score = compute_score(p, self._params)

    def _malformed(self, sender: str, p: PeerState, now: float, out: list[Action]) -> None:
        self.stats.malformed += 1
        self._penalize(sender, p, now, out, "malformed message", invalid=1.0)

    def _ignore(self, peer: str, p: PeerState, now: float, out: list[Action]) -> None:
        p.ignored = True
        self.stats.peers_ignored += 1
        if peer in self._mesh:
            del self._mesh[peer]
            out.append(Send(peer, Prune()))
        self._swim.remove(peer)
        out.append(PeerIgnored(peer, p.score))
        for sha, f in list(self._fetch.items()):
            if f.stage == FETCHING and f.source == peer:
                self._next_source(sha, f, now, out)

    def _maybe_restore(self, peer: str, p: PeerState, now: float, out: list[Action]) -> bool:
        p.decay(now, self._params, self.config.heartbeat)
        if p.score < self._params.restore_threshold:
            return False
        p.ignored = False
        out.append(PeerRestored(peer, p.score))
        return True

    # --- dissemination handlers ---------------------------------------------------------------------------

    def _on_announce(self, sender: str, p: PeerState, m: Announce, now: float, out: list[Action]) -> None:
        sha = m.sha256
        h = self._held.get(sha)
        if h is not None:
            h.has[sender] = None
            self.stats.dup_announces += 1
            return
        f = self._fetch.get(sha)
        if f is not None:
            if f.stage == IDLE:  # every earlier announcer failed us; this one gets a chance
                f.stage = FETCHING
                self._ask(sha, f, sender, m.fitness, now, out)
            elif f.stage == FETCHING and sender not in f.asked and len(f.alternates) < self.config.max_alternates \
                    and all(peer != sender for peer, _ in f.alternates):
                f.alternates.append((sender, m.fitness))
            self.stats.dup_announces += 1
            return
        if sha in self._blacklist or sha in self._seen:
            return
        if self._functions is not None and m.function not in self._functions:
            return
        if not 0 < m.size <= self.config.limits.max_specimen:
            return
        if m.size >= self.config.forward_memory_ratio * self._memory():
            self.stats.too_big += 1
            return
        if p.score > 0:
            self._observe(m.function, m.fitness)
        f = self._fetch[sha] = _Fetch(m.function, m.fitness, m.size, m.env)
        self._ask(sha, f, sender, m.fitness, now, out)

    def _ask(self, sha: str, f: _Fetch, peer: str, claimed: float, now: float, out: list[Action]) -> None:
        f.source = peer
        f.claimed = claimed
        f.asked[peer] = None
        f.deadline = deadline = now + self.config.iwant_timeout
        heapq.heappush(self._deadlines, (deadline, sha))
        if deadline < self._wake:
            self._wake = deadline
        self.stats.fetched += 1
        out.append(Send(peer, IWant((sha,))))

    def _next_source(self, sha: str, f: _Fetch, now: float, out: list[Action]) -> None:
        while f.alternates:
            peer, claimed = f.alternates.pop(0)
            q = self._peers.get(peer)
            if (q is None or not q.ignored) and peer not in f.asked:
                self._ask(sha, f, peer, claimed, now, out)
                return
        f.stage = IDLE
        f.t_done = now

    def _on_iwant(self, sender: str, p: PeerState, m: IWant, now: float, out: list[Action]) -> None:
        cfg = self.config
        tokens = cfg.serve_burst if p.serve_tokens < 0 else \
            min(cfg.serve_burst, p.serve_tokens + (now - p.t_serve) * cfg.serve_rate)
        p.t_serve = now
        for sha in m.hashes[: cfg.limits.max_hashes]:
            h = self._held.get(sha)
            if h is None:
                continue
            copies = h.served.get(sender, 0)
            if copies >= _SERVE_LIMIT:
                continue
            size = len(h.specimen.wasm)
            if size > tokens:  # bounded bytes per peer per interval, however many IWANTs it sends
                self.stats.serve_limited += 1
                continue
            tokens -= size
            h.served[sender] = copies + 1
            h.announced[sender] = None
            self.stats.served += 1
            out.append(Send(sender, h.data))
        p.serve_tokens = tokens

    def _on_data(self, sender: str, p: PeerState, m: SpecimenData, now: float, out: list[Action]) -> None:
        sha = m.sha256
        f = self._fetch.get(sha)
        if f is None or sender not in f.asked:
            self.stats.unsolicited += 1
            self._penalize(sender, p, now, out, "unsolicited specimen bytes", behaviour=1.0)
            return
        if f.stage == VERIFYING or f.stage == DONE or sha in self._held:
            self.stats.dup_payloads += 1
            return
        if len(m.wasm) != f.size or m.function != f.function or sha256_hex(m.wasm) != sha:
            self.stats.invalid_payloads += 1
            p.bad_deliveries += 1
            self._penalize(sender, p, now, out, "bytes do not match the announcement", invalid=1.0)
            if f.stage == FETCHING and f.source == sender:
                self._next_source(sha, f, now, out)
            return
        f.stage = VERIFYING
        f.t_done = now
        self.stats.delivered += 1
        # the claim to check: what this sender announced, or the claim of whoever announced it when the
        # bytes come late from an earlier source
        self._verifying[sha] = (m, sender, f.claimed if f.source == sender else m.fitness)
        out.append(VerifyRequest(sha, m.function, m.wasm, m.fitness, m.fuel, sender, p.score))

    def _on_verdict(self, sender: str, p: PeerState, m: Verdict, now: float, out: list[Action]) -> None:
        h = self._held.get(m.sha256)
        if h is None or sender not in h.served or sender in h.verdicts:
            return
        h.verdicts[sender] = None
        h.total += 1
        if m.kept:
            h.kept += 1
            h.has[sender] = None
        if h.queued:
            self._enqueue(h)

    def _on_notice(self, sender: str, p: PeerState, m: BlacklistNotice, now: float, out: list[Action]) -> None:
        sha = m.sha256
        if sha in self._held:
            self.stats.false_notices += 1
            self._penalize(sender, p, now, out, "false blacklist notice", invalid=self._params.false_notice_penalty)
            return
        if sha in self._blacklist:
            return
        if p.score <= 0:
            self.stats.notices_ignored += 1
            return
        votes = self._notices.get(sha)
        if votes is None:
            votes = self._notices[sha] = {}
            if len(self._notices) > self.config.blacklist_capacity:
                del self._notices[next(iter(self._notices))]
        votes[sender] = min(1.0, p.score / self._params.notice_trust)
        if len(votes) >= self.config.notice_quorum and sum(votes.values()) >= 1.0:
            f = self._fetch.get(sha)
            if f is not None and f.stage == FETCHING:
                f.stage = IDLE
                f.alternates.clear()
            self._add_blacklist(sha, f"blacklist notices from {len(votes)} trusted peers", out, notify=False)

    def _punish_noticers(self, sha: str, now: float, out: list[Action]) -> None:
        for peer in self._notices.pop(sha, {}):
            q = self._peers.get(peer)
            if q is not None:
                self.stats.false_notices += 1
                self._penalize(peer, q, now, out, "false blacklist notice",
                               invalid=self._params.false_notice_penalty)

    # --- mesh ---------------------------------------------------------------------------------------------

    def _on_graft(self, sender: str, p: PeerState, m: Graft, now: float, out: list[Action]) -> None:
        if sender in self._mesh:
            return
        if p.score < 0 or len(self._mesh) >= self.config.degree_high or self._swim.left:
            self.stats.prunes += 1
            out.append(Send(sender, Prune()))
            return
        self._swim.learn(sender, m.incarnation, m.address, now, direct=True, news=False)
        if sender not in self._swim.members:
            out.append(Send(sender, Prune()))
            return
        self._mesh[sender] = None
        self._offer_best(sender, out)

    def _offer_best(self, peer: str, out: list[Action]) -> None:
        """A new mesh peer (often one back from an outage) hears of our best recent specimens."""
        if not self._held:
            return
        cfg = self.config
        items = [self._held[k] for k in self._recent] if self._recent else []
        if not items:
            items = list(self._held.values())[-cfg.gossip_max:]
        items.sort(key=_Held.priority, reverse=True)
        for h in items[: cfg.gossip_max]:
            if peer not in h.has and peer not in h.announced and self._may_forward(h):
                h.announced[peer] = None
                self.stats.announced += 1
                out.append(Send(peer, h.announce))

    def _on_prune(self, sender: str, p: PeerState, m: Prune, now: float, out: list[Action]) -> None:
        self._mesh.pop(sender, None)
        self._backoff[sender] = now + self.config.prune_backoff

    def _maintain_mesh(self, now: float, out: list[Action]) -> None:
        cfg = self.config
        mesh = self._mesh
        members = self._swim.members
        n = len(mesh)
        if n < cfg.degree_low:
            backoff = self._backoff
            peers = self._peers
            cands = [k for k in members if k not in mesh and backoff.get(k, 0.0) <= now
                     and (k not in peers or peers[k].score >= 0)]
            want = cfg.degree - n
            picks = self._rng.sample(cands, want) if len(cands) > want else cands
            if picks:
                graft = Graft(self.address, self._swim.incarnation)
                for peer in picks:
                    mesh[peer] = None
                    out.append(Send(peer, graft))
                self.stats.grafts += len(picks)
        elif n > cfg.degree_high:
            order = list(mesh)
            self._rng.shuffle(order)
            order.sort(key=self.score, reverse=True)
            for peer in order[cfg.degree:]:
                del mesh[peer]
                out.append(Send(peer, Prune()))
            self.stats.prunes += n - cfg.degree
        if self._backoff and self._beats % 16 == 0:
            self._backoff = {k: t for k, t in self._backoff.items() if t > now}

    # --- heartbeat ----------------------------------------------------------------------------------------

    def _heartbeat(self, now: float, out: list[Action]) -> None:
        self._beats += 1
        swim = self._swim
        swim.heartbeat(now, out)
        if swim.left:
            return
        self._maintain_mesh(now, out)
        if self._recent:
            self._lazy_gossip(now, out)
        if self._beats % 8 == 0:
            self._sweep(now)
            if len(swim.members) < self.config.max_members // 4:
                swim.pull(out)

    def _lazy_gossip(self, now: float, out: list[Action]) -> None:
        cfg = self.config
        horizon = now - cfg.gossip_history * cfg.heartbeat
        recent = self._recent
        for sha in [k for k, t in recent.items() if t < horizon or k not in self._held]:
            del recent[sha]
        if not recent:
            return
        held = [self._held[k] for k in recent]
        if len(held) > cfg.gossip_max:
            held.sort(key=_Held.priority, reverse=True)
            held = held[: cfg.gossip_max]
        mesh = self._mesh
        members = list(self._swim.members)
        for h in held:
            if not self._may_forward(h):
                continue
            # mesh peers too once the eager announcement went out (h.queued == 0): a peer grafted after
            # it would otherwise never hear of the specimen
            cands = [k for k in members if k not in h.has and k not in h.announced
                     and (h.queued == 0 or k not in mesh)]
            if len(cands) > cfg.lazy_degree:
                cands = self._rng.sample(cands, cfg.lazy_degree)
            for peer in cands:
                h.announced[peer] = None
                out.append(Send(peer, h.announce))
            self.stats.announced += len(cands)

    def _sweep(self, now: float) -> None:
        ttl = self.config.fetch_ttl
        stale = [k for k, f in self._fetch.items() if f.stage in (DONE, IDLE) and f.t_done + ttl < now]
        for k in stale:
            del self._fetch[k]
        if len(self._peers) > 4 * self.config.max_members:
            members = self._swim.members
            params, hb = self._params, self.config.heartbeat
            for k, p in list(self._peers.items()):
                if k not in members and k not in self._mesh:
                    p.decay(now, params, hb)
                    if p.idle():
                        del self._peers[k]

    # --- holding and forwarding ---------------------------------------------------------------------------

    def _hold(self, held: _Held, now: float) -> None:
        sha = held.specimen.sha256
        self._held[sha] = held
        self._held_bytes += len(held.specimen.wasm)
        self._recent[sha] = now
        cfg = self.config
        while len(self._held) > 1 and (len(self._held) > cfg.held_capacity or self._held_bytes > cfg.held_bytes):
            oldest = next(iter(self._held))
            self._held_bytes -= len(self._held.pop(oldest).specimen.wasm)
            self._recent.pop(oldest, None)

    def _remember(self, sha: str) -> None:
        """The seen-cache: hashes adopted here, kept after the bytes leave memory so they are not fetched again."""
        self._seen[sha] = None
        if len(self._seen) > self.config.seen_capacity:
            del self._seen[next(iter(self._seen))]

    def _enqueue(self, h: _Held) -> None:
        h.queued = next(self._counter)
        heapq.heappush(self._queue, (-h.priority(), h.queued, h.specimen.sha256))

    def _may_forward(self, h: _Held) -> bool:
        cfg = self.config
        s = h.specimen
        avg = self._fitness.get(s.function)
        if avg is not None and not s.fitness > cfg.forward_fitness_ratio * avg:
            return False
        return len(s.wasm) < cfg.forward_memory_ratio * self._memory()

    def _publish_targets(self, h: _Held) -> Iterable[str]:
        """Who hears of a specimen at once: the mesh, and for a specimen found here every live member
        (flood publishing): the announcement is one small frame each, the bytes are still pulled once per
        node, and the first hop no longer waits for verification runs along a mesh path."""
        if h.source != self.id or not self.config.flood_publish:
            return self._mesh
        peers = self._peers
        return [k for k in dict.fromkeys([*self._mesh, *self._swim.members])
                if (q := peers.get(k)) is None or not q.ignored]

    def _drain(self, now: float, out: list[Action]) -> None:
        cfg = self.config
        tokens = self._atokens + (now - self._at) * cfg.announce_rate
        self._atokens = tokens if tokens < cfg.announce_burst else cfg.announce_burst
        self._at = now
        queue = self._queue
        while queue and self._atokens >= 1.0:
            _, version, sha = heapq.heappop(queue)
            h = self._held.get(sha)
            if h is None or h.queued != version:
                continue
            h.queued = 0
            if not self._may_forward(h):
                self.stats.held_back += 1
                continue
            self._atokens -= 1.0
            ann = h.announce
            has = h.has
            announced = h.announced
            n = 0
            for peer in self._publish_targets(h):
                if peer not in has and peer not in announced:
                    announced[peer] = None
                    out.append(Send(peer, ann))
                    n += 1
            self.stats.announced += n
        if queue:  # out of announce tokens: come back when the next one is there
            due = now + (1.0 - self._atokens) / cfg.announce_rate
            if due < self._wake:
                self._wake = due

    def _observe(self, function: str, value: float) -> None:
        old = self._fitness.get(function)
        if old is None:
            if len(self._fitness) >= 1024:
                del self._fitness[next(iter(self._fitness))]
            self._fitness[function] = value
        else:
            self._fitness[function] = old + self.config.estimator_alpha * (value - old)

    def _add_blacklist(self, sha: str, reason: str, out: list[Action], notify: bool) -> None:
        if sha in self._blacklist:
            return
        self._blacklist[sha] = reason
        if len(self._blacklist) > self.config.blacklist_capacity:
            del self._blacklist[next(iter(self._blacklist))]
        self.stats.blacklisted += 1
        out.append(Blacklisted(sha, reason))
        if notify:
            notice = BlacklistNotice(sha, reason[: self.config.limits.max_text])
            for peer in self._mesh:
                out.append(Send(peer, notice))
