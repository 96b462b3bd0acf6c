"""SWIM membership over a bounded, partial view: probes, indirect probes, suspicion, incarnations.

Each heartbeat the node pings the next member of a shuffled round-robin order. No ack within
`ack_timeout` -> `indirect_probes` other members are asked to ping it (PingReq); still no ack when the next
heartbeat comes -> the member is suspected, which is disseminated (piggybacked on pings and acks, each update
`retransmit_mult * ceil(log10(n + 1))` times) and told to the member itself so that it can refute by raising
its incarnation. A suspect that does not refute within `suspicion_periods` heartbeats is declared dead.

Hardening against lying members: Suspect and Dead about another member count only at exactly the incarnation
we know (a liar cannot kill a member with a made-up higher incarnation), any message from a suspected member
clears our suspicion locally, and peers the node ignores are neither added nor kept.
"""

from __future__ import annotations

import math
import random
from typing import Callable

from .actions import Action, MemberDead, Send
from .config import NodeConfig
from .messages import Ack, Alive, Dead, Join, MemberList, Ping, PingReq, Suspect

ALIVE, SUSPECT = 0, 1


class Member:
    __slots__ = ("address", "incarnation", "state", "deadline")

    def __init__(self, address: str, incarnation: int) -> None:
        self.address = address
        self.incarnation = incarnation
        self.state = ALIVE
        self.deadline = 0.0


class Probe:
    __slots__ = ("target", "seq", "sent", "indirect")

    def __init__(self, target: str, seq: int, sent: float) -> None:
        self.target = target
        self.seq = seq
        self.sent = sent
        self.indirect = False


class Membership:
    """The SWIM half of a `GossipNode`. Handlers append actions to the list `out` they are given."""

    def __init__(self, me: str, address: str, incarnation: int, config: NodeConfig, rng: random.Random,
                 blocked: Callable[[str], bool], protected: Callable[[str], bool],
                 on_dead: Callable[[str], None]) -> None:
        self.me = me
        self.address = address
        self.incarnation = incarnation
        self.members: dict[str, Member] = {}
        self.suspects: dict[str, Member] = {}
        self.left = False
        self._cfg = config
        self._rng = rng
        self._blocked = blocked          # peers the node ignores: never (re)added
        self._protected = protected      # mesh peers: never evicted to make room
        self._on_dead = on_dead
        self._dead: dict[str, int] = {}  # tombstones: member -> incarnation declared dead
        self._order: list[str] = []
        self._pos = 0
        self._probe: Probe | None = None
        self._relays: dict[int, tuple[str, int, float]] = {}  # our seq -> (requester, its seq, when)
        self._hints: dict[str, str] = {}                       # addresses of PingReq targets not in the view
        self._bcast: list[list] = []                           # [update, transmissions left], newest first
        self._seq = 0
        self.probe_answered = False  # set when an ack ends the pending probe (the node then recomputes its timer)

    # --- queries ------------------------------------------------------------------------------------------

    def address_of(self, peer: str) -> str | None:
        m = self.members.get(peer)
        if m is not None:
            return m.address
        return self._hints.get(peer)

    def next_timer(self) -> float:
        p = self._probe
        if p is not None and not p.indirect:
            return p.sent + self._cfg.ack_timeout
        return math.inf

    def alive_update(self) -> Alive:
        return Alive(self.me, self.incarnation, self.address)

    # --- view changes -------------------------------------------------------------------------------------

    def learn(self, peer: str, incarnation: int, address: str, now: float, direct: bool, news: bool) -> bool:
        """Add or refresh `peer`; True if our view changed. `direct`: the peer itself spoke (Join, Graft),
        which may evict a random unprotected member from a full view. `news`: rebroadcast what changed."""
        if peer == self.me or self._blocked(peer):
            return False
        m = self.members.get(peer)
        if m is not None:
            if incarnation > m.incarnation:
                m.incarnation = incarnation
                m.address = address
                self._clear_suspicion(peer, m)
                if news:
                    self._broadcast(Alive(peer, incarnation, address))
                return True
            if direct:
                self._clear_suspicion(peer, m)
                if address and address != m.address and incarnation == m.incarnation:
                    m.address = address
            return False
        tomb = self._dead.get(peer)
        if tomb is not None and incarnation <= tomb:
            return False
        if len(self.members) >= self._cfg.max_members:
            if not direct or not self._evict_one():
                return False
        self.members[peer] = Member(address, incarnation)
        if tomb is not None:
            del self._dead[peer]
        if news:
            self._broadcast(Alive(peer, incarnation, address))
        return True

    def remove(self, peer: str) -> None:
        """Drop `peer` from the view without declaring it dead (used when the node starts ignoring it)."""
        self.members.pop(peer, None)
        self.suspects.pop(peer, None)

    def _evict_one(self) -> bool:
        keys = list(self.members)
        for _ in range(8):
            victim = keys[self._rng.randrange(len(keys))]
            if not self._protected(victim):
                self.remove(victim)
                return True
        return False

    def _clear_suspicion(self, peer: str, m: Member) -> None:
        if m.state == SUSPECT:
            m.state = ALIVE
            self.suspects.pop(peer, None)

    def _declare_dead(self, peer: str, m: Member, incarnation: int, out: list[Action]) -> None:
        del self.members[peer]
        self.suspects.pop(peer, None)
        self._dead[peer] = max(incarnation, m.incarnation)
        if len(self._dead) > 4 * self._cfg.max_members:
            del self._dead[next(iter(self._dead))]
        self._broadcast(Dead(peer, incarnation))
        self._on_dead(peer)
        out.append(MemberDead(peer))

    def _suspect(self, peer: str, m: Member, now: float, out: list[Action]) -> None:
        m.state = SUSPECT
        m.deadline = now + self._cfg.suspicion_periods * self._cfg.heartbeat
        self.suspects[peer] = m
        update = Suspect(peer, m.incarnation)
        self._broadcast(update)
        out.append(Send(peer, update))  # tell the member itself, so that it refutes if alive

    def _refute(self, incarnation: int, to: str, out: list[Action]) -> None:
        if incarnation >= self.incarnation:
            self.incarnation = incarnation + 1
            self._broadcast(self.alive_update())
        out.append(Send(to, self.alive_update()))

    # --- dissemination ------------------------------------------------------------------------------------

    def _broadcast(self, update) -> None:
        member = update.member
        self._bcast = [item for item in self._bcast if item[0].member != member]
        times = self._cfg.retransmit_mult * max(1, math.ceil(math.log10(len(self.members) + 1)))
        self._bcast.insert(0, [update, times])
        if len(self._bcast) > 4 * self._cfg.max_members:
            del self._bcast[-1]

    def piggyback(self) -> tuple:
        """Up to `max_piggyback` pending updates, newest first; each use counts as one transmission."""
        items = self._bcast
        if not items:
            return ()
        k = self._cfg.max_piggyback
        taken = []
        keep = []
        for item in items:
            if len(taken) < k:
                taken.append(item[0])
                item[1] -= 1
            if item[1] > 0:
                keep.append(item)
        self._bcast = keep
        return tuple(taken)

    def apply(self, sender: str, updates: tuple, now: float, out: list[Action]) -> None:
        for u in updates:
            cls = type(u)
            if cls is Alive:
                self.learn(u.member, u.incarnation, u.address, now, direct=u.member == sender, news=True)
            elif cls is Suspect:
                self._on_suspect(sender, u, now, out)
            elif cls is Dead:
                self._on_dead_update(sender, u, now, out)

    def _on_suspect(self, sender: str, u: Suspect, now: float, out: list[Action]) -> None:
        if u.member == self.me:
            if not self.left:
                self._refute(u.incarnation, sender, out)
            return
        m = self.members.get(u.member)
        if m is None or u.member == sender or m.state == SUSPECT or u.incarnation != m.incarnation:
            return
        m.state = SUSPECT
        m.deadline = now + self._cfg.suspicion_periods * self._cfg.heartbeat
        self.suspects[u.member] = m
        self._broadcast(u)

    def _on_dead_update(self, sender: str, u: Dead, now: float, out: list[Action]) -> None:
        if u.member == self.me:
            if not self.left:
                self._refute(u.incarnation, sender, out)
            return
        m = self.members.get(u.member)
        if m is None:
            return
        if u.member == sender and u.incarnation >= m.incarnation:  # a graceful leave
            self._declare_dead(u.member, m, u.incarnation, out)
        elif u.incarnation == m.incarnation:
            self._declare_dead(u.member, m, u.incarnation, out)

    # --- message handlers ---------------------------------------------------------------------------------

    def on_ping(self, sender: str, msg: Ping, now: float, out: list[Action]) -> None:
        if msg.updates:
            self.apply(sender, msg.updates, now, out)
        m = self.members.get(sender)
        if m is not None and m.state == SUSPECT:
            self._clear_suspicion(sender, m)
        out.append(Send(sender, Ack(msg.seq, self.piggyback())))

    def on_ack(self, sender: str, msg: Ack, now: float, out: list[Action]) -> None:
        if msg.updates:
            self.apply(sender, msg.updates, now, out)
        p = self._probe
        if p is not None and msg.seq == p.seq:
            self._probe = None
            self.probe_answered = True
            m = self.members.get(p.target)
            if m is not None:
                self._clear_suspicion(p.target, m)
            return
        relay = self._relays.pop(msg.seq, None)
        if relay is not None:
            out.append(Send(relay[0], Ack(relay[1], self.piggyback())))

    def on_ping_req(self, sender: str, msg: PingReq, now: float, out: list[Action]) -> None:
        if msg.updates:
            self.apply(sender, msg.updates, now, out)
        if msg.target == self.me:
            out.append(Send(sender, Ack(msg.seq, self.piggyback())))
            return
        if self._blocked(msg.target):
            return
        self._seq += 1
        self._relays[self._seq] = (sender, msg.seq, now)
        if msg.target not in self.members and msg.address:
            self._hints[msg.target] = msg.address
        out.append(Send(msg.target, Ping(self._seq, self.piggyback())))

    def on_join(self, sender: str, msg: Join, now: float, out: list[Action]) -> None:
        self.learn(sender, msg.incarnation, msg.address, now, direct=True, news=True)
        keys = [k for k in self.members if k != sender]
        k = min(len(keys), self._cfg.limits.max_updates - 1)
        sample = self._rng.sample(keys, k) if k < len(keys) else keys
        updates = [self.alive_update()]
        for peer in sample:
            m = self.members[peer]
            updates.append(Alive(peer, m.incarnation, m.address))
        out.append(Send(sender, MemberList(tuple(updates))))

    def on_member_list(self, sender: str, msg: MemberList, now: float, out: list[Action]) -> None:
        for u in msg.updates[: self._cfg.limits.max_updates]:
            if type(u) is Alive:
                self.learn(u.member, u.incarnation, u.address, now, direct=u.member == sender, news=False)

    def on_update(self, sender: str, msg, now: float, out: list[Action]) -> None:
        self.apply(sender, (msg,), now, out)

    # --- timers -------------------------------------------------------------------------------------------

    def heartbeat(self, now: float, out: list[Action]) -> None:
        cfg = self._cfg
        p = self._probe
        if p is not None:  # no ack, direct or indirect, during a whole protocol period
            self._probe = None
            m = self.members.get(p.target)
            if m is not None and m.state == ALIVE:
                self._suspect(p.target, m, now, out)
        if self.suspects:
            for peer, m in [(k, v) for k, v in self.suspects.items() if v.deadline <= now]:
                self._declare_dead(peer, m, m.incarnation, out)
        if self._relays:
            horizon = now - cfg.heartbeat
            self._relays = {s: r for s, r in self._relays.items() if r[2] >= horizon}
            if not self._relays:
                self._hints.clear()
        if self.left:
            return
        target = self._next_target()
        if target is not None:
            self._seq += 1
            self._probe = Probe(target, self._seq, now)
            out.append(Send(target, Ping(self._seq, self.piggyback())))

    def tick(self, now: float, out: list[Action]) -> None:
        p = self._probe
        if p is None or p.indirect or now < p.sent + self._cfg.ack_timeout:
            return
        p.indirect = True
        m = self.members.get(p.target)
        if m is None:
            return
        helpers = [k for k in self.members if k != p.target]
        k = self._cfg.indirect_probes
        if len(helpers) > k:
            helpers = self._rng.sample(helpers, k)
        for h in helpers:
            out.append(Send(h, PingReq(p.target, m.address, p.seq, self.piggyback())))

    def _next_target(self) -> str | None:
        members = self.members
        for _ in range(2):
            order, pos = self._order, self._pos
            while pos < len(order):
                t = order[pos]
                pos += 1
                if t in members:
                    self._pos = pos
                    return t
            self._order = order = list(members)
            self._rng.shuffle(order)
            self._pos = 0
            if not order:
                return None
        return None

    # --- joining and leaving ------------------------------------------------------------------------------

    def join(self, peer: str, address: str, now: float, out: list[Action]) -> None:
        self.learn(peer, 0, address, now, direct=True, news=False)
        out.append(Send(peer, Join(self.address, self.incarnation)))

    def pull(self, out: list[Action]) -> None:
        """Ask a random member for a sample of its view (a Join it answers with a MemberList)."""
        if self.members:
            keys = list(self.members)
            out.append(Send(keys[self._rng.randrange(len(keys))], Join(self.address, self.incarnation)))

    def leave(self, out: list[Action]) -> None:
        self.left = True
        self._probe = None
        update = Dead(self.me, self.incarnation)
        for peer in self.members:
            out.append(Send(peer, update))

    def rejoin(self, now: float, out: list[Action]) -> None:
        self.left = False
        self._probe = None
        self._relays.clear()
        self.incarnation += 1
        self._broadcast(self.alive_update())
        keys = list(self.members)
        k = min(len(keys), self._cfg.join_fanout)
        for peer in self._rng.sample(keys, k):
            out.append(Send(peer, Join(self.address, self.incarnation)))
