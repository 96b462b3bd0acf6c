"""Parameters of the gossip protocol: size limits of the wire format and the tunables of one node.

Times are in seconds, the unit of every `now` the host passes in. Defaults suit a WAN mesh with a
heartbeat of one second; the simulator derives tighter timeouts from its latency.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import NetError


@dataclass(frozen=True, slots=True)
class Limits:
    """Hard size limits, checked when a frame is decoded and again by the node on what it fetches."""

    max_message: int = (1 << 20) + 8192   # one signed frame, header and signature included
    max_specimen: int = 1 << 20           # wasm bytes of one specimen
    max_hashes: int = 64                  # hashes in one IWANT
    max_updates: int = 32                 # membership updates piggybacked on one message
    max_text: int = 256                   # function ids, addresses, reasons
    max_tags: int = 16                    # environment tags of one announcement

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            if getattr(self, name) < 1:
                raise NetError(f"Limits.{name} must be positive")
        if self.max_message <= self.max_specimen:
            raise NetError("Limits.max_message must exceed max_specimen (a frame carries a whole specimen)")


@dataclass(frozen=True, slots=True)
class ScoreParams:
    """Peer scoring in the manner of GossipSub v1.1: counters that decay per second, squared penalties.

    score = good_weight * min(good, good_cap)
            - invalid_weight * invalid**2
            - broken_weight * max(0, broken - broken_free)**2
            - behaviour_weight * max(0, behaviour - behaviour_free)**2
    With the defaults a peer that never delivered good code is ignored at its 3rd bad delivery
    (-90 < -50) and one with the full good credit too (-80); two bad deliveries are forgiven over time.
    """

    good_weight: float = 1.0
    good_cap: float = 10.0
    good_decay: float = 0.995
    invalid_weight: float = 10.0
    invalid_decay: float = 0.995
    broken_weight: float = 1.0
    broken_free: float = 3.0
    broken_decay: float = 0.9
    behaviour_weight: float = 1.0
    behaviour_free: float = 5.0
    behaviour_decay: float = 0.9
    ignore_threshold: float = -50.0       # below: every message of the peer is dropped, it leaves the mesh
    restore_threshold: float = -25.0      # an ignored peer is heard again once its score decayed above this
    notice_trust: float = 5.0             # good credit at which a peer's blacklist notice weighs 1
    false_notice_penalty: float = 0.5     # invalid units for a notice against code we verified as good

    def __post_init__(self) -> None:
        if not self.ignore_threshold < self.restore_threshold <= 0:
            raise NetError("ScoreParams: need ignore_threshold < restore_threshold <= 0")
        for name in ("good_decay", "invalid_decay", "broken_decay", "behaviour_decay"):
            if not 0 < getattr(self, name) <= 1:
                raise NetError(f"ScoreParams.{name} must be in (0, 1]")


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Tunables of one `GossipNode`."""

    heartbeat: float = 1.0                # seconds between heartbeats (mesh upkeep, SWIM probe, gossip)
    degree: int = 6                       # mesh target D
    degree_low: int = 4                   # graft when the mesh is smaller
    degree_high: int = 12                 # prune (and refuse grafts) when larger
    flood_publish: bool = True            # own specimens are announced to every member, not only the mesh
    lazy_degree: int = 3                  # non-mesh members that get IHAVE for recent specimens per heartbeat
    gossip_history: int = 3               # heartbeats a new specimen keeps being gossiped lazily
    gossip_max: int = 8                   # specimens gossiped lazily per heartbeat
    prune_backoff: float = 10.0           # seconds before re-grafting a peer that pruned us
    max_members: int = 64                 # partial membership view (SWIM over a bounded view)
    join_fanout: int = 3                  # members contacted on (re)join
    ack_timeout: float = 0.5              # direct ping -> indirect probes after this
    indirect_probes: int = 3              # k members asked to ping on our behalf
    suspicion_periods: float = 4.0        # heartbeats from suspect to dead
    retransmit_mult: int = 3              # membership updates ride on retransmit_mult * ceil(log10(n+1)) messages
    max_piggyback: int = 6                # updates per ping/ack
    iwant_timeout: float = 1.0            # a promise (IHAVE) not kept by then is broken; ask the next announcer
    max_alternates: int = 8               # other announcers remembered per hash
    forward_fitness_ratio: float = 0.7    # forward only if fitness > ratio * network average
    forward_memory_ratio: float = 0.5     # ... and size < ratio * available memory
    estimator_alpha: float = 0.1          # weight of one observation in the network fitness EWMA
    fitness_tolerance: float = 0.05       # relative tolerance between claimed and local fitness
    fitness_abs_tolerance: float = 0.02   # absolute tolerance (fitness lives in [0, 1])
    announce_rate: float = 8.0            # specimens announced per second (token bucket)
    announce_burst: float = 16.0
    peer_rate: float = 100.0              # messages accepted per peer per second (token bucket)
    peer_burst: float = 200.0
    notice_quorum: int = 2                # distinct trusted peers needed to blacklist on their word
    fetch_ttl: float = 30.0               # a finished fetch is remembered this long (late copies are duplicates)
    seen_capacity: int = 65536            # adopted hashes remembered after their bytes left memory
    blacklist_capacity: int = 65536
    held_capacity: int = 4096             # specimens kept in memory to serve IWANT
    held_bytes: int = 256 << 20           # ... and their bytes at most (oldest dropped first)
    serve_rate: float = 4 << 20           # specimen bytes served per peer per second on IWANT (token bucket)
    serve_burst: float = 8 << 20          # ... and at once: what one peer's IWANTs can make us send
    limits: Limits = field(default_factory=Limits)
    score: ScoreParams = field(default_factory=ScoreParams)

    def __post_init__(self) -> None:
        if not 1 <= self.degree_low <= self.degree <= self.degree_high:
            raise NetError("NodeConfig: need 1 <= degree_low <= degree <= degree_high")
        if self.heartbeat <= 0 or self.ack_timeout <= 0 or self.iwant_timeout <= 0:
            raise NetError("NodeConfig: heartbeat and timeouts must be positive")
        if self.ack_timeout >= self.heartbeat:
            raise NetError("NodeConfig: ack_timeout must be shorter than the heartbeat")
        if self.max_members < self.degree_high:
            raise NetError("NodeConfig: max_members must be at least degree_high")
        if not 0 < self.estimator_alpha <= 1:
            raise NetError("NodeConfig: estimator_alpha must be in (0, 1]")
        if self.announce_rate <= 0 or self.peer_rate <= 0 or self.announce_burst < 1 or self.peer_burst < 1:
            raise NetError("NodeConfig: rates must be positive and bursts at least 1")
        if self.serve_rate <= 0 or self.serve_burst < self.limits.max_specimen:
            raise NetError("NodeConfig: serve_rate must be positive and serve_burst hold one whole specimen")
        if self.held_bytes < self.limits.max_specimen:
            raise NetError("NodeConfig: held_bytes must hold one whole specimen")
