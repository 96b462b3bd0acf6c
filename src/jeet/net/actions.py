"""What a `GossipNode` asks its host to do (`Send`, `VerifyRequest`) or tells it (the other events).

The node never performs I/O or runs code: the host sends, verifies in its own sandbox and reports back
with `GossipNode.verified`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .messages import Message


@dataclass(frozen=True, slots=True)
class Send:
    """Send `message` to the node whose id is `to` (find its address with `GossipNode.address_of`)."""

    to: str
    message: Message


@dataclass(frozen=True, slots=True)
class VerifyRequest:
    """Run this specimen against the local oracle and call `GossipNode.verified(sha256, ok, local_fitness, now)`.

    `priority` is the sender's peer score when the bytes arrived: a host with a queue of verifications
    should run higher priorities first, so fresh strangers cannot starve specimens from proven peers.
    """

    sha256: str
    function: str
    wasm: bytes
    claimed_fitness: float
    fuel: int
    sender: str
    priority: float


@dataclass(frozen=True, slots=True)
class Adopted:
    """A specimen passed local verification with a matching fitness claim; the host should store it."""

    sha256: str
    function: str
    fitness: float
    sender: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """A specimen failed local verification or its fitness claim did not reproduce; its sender is penalized."""

    sha256: str
    reason: str
    sender: str


@dataclass(frozen=True, slots=True)
class Blacklisted:
    """A hash is now never fetched again (own verification, the host, or a quorum of trusted notices)."""

    sha256: str
    reason: str


@dataclass(frozen=True, slots=True)
class Penalized:
    """The peer's score dropped (worth a log line): what it did and its score now."""

    peer: str
    reason: str
    score: float


@dataclass(frozen=True, slots=True)
class PeerIgnored:
    """The peer's score fell below the threshold: its messages are dropped and it left our mesh and view."""

    peer: str
    score: float


@dataclass(frozen=True, slots=True)
class PeerRestored:
    """An ignored peer's penalties decayed enough for it to be heard again."""

    peer: str
    score: float


@dataclass(frozen=True, slots=True)
class MemberDead:
    """The peer left the membership (it said so, another member declared it dead, or it stayed suspect past its
    deadline); the host may forget how to reach it."""

    peer: str


Event = Union[VerifyRequest, Adopted, Rejected, Blacklisted, Penalized, PeerIgnored, PeerRestored, MemberDead]
Action = Union[Send, Event]
