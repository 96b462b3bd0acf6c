"""Per-peer state: the GossipSub-style score (decaying counters, squared penalties) and a token bucket."""

from __future__ import annotations

from .config import ScoreParams


class PeerState:
    """What a node remembers about one peer. Counters decay lazily: `decay(now)` before reading or changing them."""

    __slots__ = ("t", "good", "invalid", "broken", "behaviour", "score", "ignored", "tokens", "t_tokens",
                 "bad_deliveries", "serve_tokens", "t_serve")

    def __init__(self, now: float, burst: float) -> None:
        self.t = now
        self.good = 0.0
        self.invalid = 0.0
        self.broken = 0.0
        self.behaviour = 0.0
        self.score = 0.0
        self.ignored = False
        self.tokens = burst
        self.t_tokens = now
        self.bad_deliveries = 0   # specimens from this peer that failed verification or lied about fitness
        self.serve_tokens = -1.0  # bytes we may still send it on IWANT (-1: a full bucket, filled on first use)
        self.t_serve = now

    def decay(self, now: float, params: ScoreParams, heartbeat: float) -> None:
        """Apply the per-second decay for the time since the last update (cheap when called often)."""
        dt = now - self.t
        if dt < heartbeat:
            return
        self.t = now
        if self.good:
            self.good *= params.good_decay ** dt
        if self.invalid:
            self.invalid *= params.invalid_decay ** dt
        if self.broken:
            self.broken *= params.broken_decay ** dt
        if self.behaviour:
            self.behaviour *= params.behaviour_decay ** dt
        self.score = compute_score(self, params)

    def idle(self) -> bool:
        """Nothing worth remembering: a neutral, un-ignored peer."""
        return not self.ignored and self.good < 0.01 and self.invalid < 0.01 and self.broken < 0.01 \
            and self.behaviour < 0.01


def compute_score(p: PeerState, params: ScoreParams) -> float:
    score = params.good_weight * min(p.good, params.good_cap) - params.invalid_weight * p.invalid * p.invalid
    excess = p.broken - params.broken_free
    if excess > 0:
        score -= params.broken_weight * excess * excess
    excess = p.behaviour - params.behaviour_free
    if excess > 0:
        score -= params.behaviour_weight * excess * excess
    return score
