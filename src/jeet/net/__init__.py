"""Gossip among jeet nodes as a sans-I/O library: messages, signed wire format, and the protocol state machine.

The host (the node daemon or the simulator) feeds a `GossipNode` with received messages and clock ticks and
carries out the actions it returns; the node itself never touches a socket, a clock or a sandbox.
"""

from .actions import (
    Action, Adopted, Blacklisted, Event, MemberDead, Penalized, PeerIgnored, PeerRestored, Rejected, Send,
    VerifyRequest,
)
from .config import Limits, NodeConfig, ScoreParams
from ..errors import NetError
from .identity import NodeIdentity, load_or_create
from .messages import (
    Ack, Alive, Announce, BlacklistNotice, Dead, Graft, Hello, IWant, Join, MemberList, Message, Ping, PingReq,
    Prune, Specimen, SpecimenData, Suspect, Verdict, sha256_hex,
)
from .backoff import Backoff
from .protocol import GossipNode, NodeStats
from .wire import Codec, Envelope, ReplayGuard, Signer, decode, encode

__all__ = [
    "Ack", "Action", "Adopted", "Alive", "Announce", "Backoff", "BlacklistNotice", "Blacklisted", "Codec", "Dead", "Envelope",
    "Event",
    "GossipNode", "Graft", "Hello", "IWant", "Join", "Limits", "MemberDead", "MemberList", "Message", "NetError",
    "NodeConfig", "NodeIdentity", "NodeStats", "Penalized", "PeerIgnored", "PeerRestored", "Ping", "PingReq", "Prune",
    "Rejected", "ReplayGuard", "ScoreParams", "Send", "Signer", "Specimen", "SpecimenData", "Suspect", "Verdict",
    "VerifyRequest", "decode", "encode", "load_or_create", "sha256_hex",
]
