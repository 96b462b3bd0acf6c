"""Signed envelopes: encode a message for one recipient, decode untrusted bytes, reject replays.

A frame is ``signature (64 bytes) || payload`` where payload is the msgpack array
``[1, sender public key (32 bytes), recipient public key (32 bytes, or empty for a Join or Hello to a node
whose id is not known yet), seq, message code, [fields...]]`` and the signature is Ed25519 by the sender over the
payload. The sender's key is its node id. `decode` raises `NetError` for anything it does not accept and
never another exception. Sequence numbers grow per sender across all recipients; `ReplayGuard` keeps a
sliding window per sender (as IPsec does), so a frame is accepted at most once and only by its recipient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import msgpack
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from .config import Limits
from ..errors import NetError
from .identity import NodeIdentity
from .messages import (
    ANONYMOUS_TYPES, Ack, Alive, Announce, BlacklistNotice, Dead, Graft, Hello, IWant, Join, MemberList, Message,
    MESSAGE_TYPES, Ping, PingReq, Prune, SpecimenData, Suspect, UPDATE_TYPES, Verdict,
)

VERSION = 1
SIGNATURE_SIZE = 64
_HEX = frozenset("0123456789abcdef")
_UINT_MAX = (1 << 63) - 1

# per message class: (field name, kind) in wire order
SCHEMA: dict[type, tuple[tuple[str, str], ...]] = {
    Announce: (("sha256", "sha"), ("function", "text"), ("fitness", "float"), ("fuel", "uint"),
               ("size", "uint"), ("env", "tags")),
    IWant: (("hashes", "shas"),),
    SpecimenData: (("sha256", "sha"), ("function", "text"), ("wasm", "wasm"), ("fitness", "float"),
                   ("fuel", "uint")),
    Verdict: (("sha256", "sha"), ("kept", "bool")),
    BlacklistNotice: (("sha256", "sha"), ("reason", "text")),
    Alive: (("member", "id"), ("incarnation", "uint"), ("address", "text")),
    Suspect: (("member", "id"), ("incarnation", "uint")),
    Dead: (("member", "id"), ("incarnation", "uint")),
    Join: (("address", "text"), ("incarnation", "uint")),
    MemberList: (("updates", "updates"),),
    Ping: (("seq", "uint"), ("updates", "updates")),
    PingReq: (("target", "id"), ("address", "text"), ("seq", "uint"), ("updates", "updates")),
    Ack: (("seq", "uint"), ("updates", "updates")),
    Graft: (("address", "text"), ("incarnation", "uint")),
    Prune: (),
    Hello: (("address", "text"), ("incarnation", "uint")),
}
assert set(SCHEMA) == set(MESSAGE_TYPES.values())


@dataclass(frozen=True, slots=True)
class Envelope:
    """A decoded, signature-checked frame. `to` is "" only for a Join or Hello sent before the recipient's id
    was known."""

    sender: str
    to: str
    seq: int
    message: Message


# --- encoding ---------------------------------------------------------------------------------------------

def _fields(message: Any) -> list:
    out = []
    for name, kind in SCHEMA[type(message)]:
        value = getattr(message, name)
        if kind == "updates":
            value = [[u.CODE, *_fields(u)] for u in value]
        elif kind in ("shas", "tags"):
            value = list(value)
        out.append(value)
    return out


def encode(identity: NodeIdentity, to: str, seq: int, message: Message) -> bytes:
    """Sign `message` from `identity` for the node `to` ("" only for a Join or Hello) as the `seq`-th frame."""
    if type(message) not in SCHEMA:
        raise NetError(f"not a message: {type(message).__name__}")
    if to == "":
        if type(message) not in ANONYMOUS_TYPES:
            raise NetError("only a Join or Hello may be sent without a recipient id")
        recipient = b""
    else:
        recipient = _id_bytes(to)
    payload = msgpack.packb([VERSION, identity.public_key, recipient, int(seq), message.CODE, _fields(message)],
                            use_bin_type=True)
    return identity.sign(payload) + payload


class Signer:
    """Encodes frames from one identity with increasing sequence numbers.

    Start `seq` above anything sent before a restart (the daemon uses the current time in microseconds),
    since peers remember the highest sequence number they accepted.
    """

    def __init__(self, identity: NodeIdentity, start_seq: int = 0) -> None:
        self.identity = identity
        self.seq = int(start_seq)

    def encode(self, to: str, message: Message) -> bytes:
        self.seq += 1
        return encode(self.identity, to, self.seq, message)


# --- decoding ---------------------------------------------------------------------------------------------

def decode(data: bytes, max_size: int | None = None, limits: Limits = Limits()) -> Envelope:
    """Check and decode one frame of untrusted bytes. Raises NetError, and only NetError, if it is not
    a well-formed, correctly signed frame no larger than `max_size` (default: limits.max_message)."""
    try:
        return _decode(data, limits.max_message if max_size is None else max_size, limits)
    except NetError:
        raise
    except Exception as exc:  # the contract is one exception family, whatever the bytes do to the parsers
        raise NetError(f"malformed frame ({type(exc).__name__})") from None


def _decode(data: bytes, max_size: int, limits: Limits) -> Envelope:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise NetError("a frame is bytes")
    data = bytes(data)
    if len(data) > max_size:
        raise NetError(f"frame of {len(data)} bytes exceeds the limit of {max_size}")
    if len(data) <= SIGNATURE_SIZE:
        raise NetError("frame too short to be signed")
    signature, payload = data[:SIGNATURE_SIZE], data[SIGNATURE_SIZE:]
    try:
        top = msgpack.unpackb(payload, raw=False, use_list=True, strict_map_key=True, max_map_len=0,
                              max_ext_len=0, max_array_len=max(limits.max_hashes, limits.max_updates,
                                                               limits.max_tags, 8),
                              max_bin_len=limits.max_specimen, max_str_len=max(limits.max_text, 64))
    except (ValueError, msgpack.exceptions.ExtraData, msgpack.exceptions.FormatError,
            msgpack.exceptions.StackError) as exc:
        raise NetError(f"malformed payload ({type(exc).__name__})") from None
    if not isinstance(top, list) or len(top) != 6:
        raise NetError("payload is not a 6-element envelope")
    version, sender, recipient, seq, code, body = top
    if version != VERSION or type(version) is not int:
        raise NetError(f"unsupported envelope version {version!r}")
    if not isinstance(sender, bytes) or len(sender) != 32:
        raise NetError("sender is not a 32-byte public key")
    if not isinstance(recipient, bytes) or len(recipient) not in (0, 32):
        raise NetError("recipient is not a 32-byte public key")
    seq = _uint(seq, "seq")
    if type(code) is not int or code not in MESSAGE_TYPES:
        raise NetError(f"unknown message type {code!r}")
    try:
        VerifyKey(sender).verify(payload, signature)
    except BadSignatureError:
        raise NetError("bad signature") from None
    cls = MESSAGE_TYPES[code]
    if not recipient and cls not in ANONYMOUS_TYPES:
        raise NetError("only a Join or Hello may come without a recipient")
    message = _message(cls, body, limits)
    return Envelope(sender.hex(), recipient.hex(), seq, message)


def _message(cls: type, body: Any, limits: Limits) -> Any:
    schema = SCHEMA[cls]
    if not isinstance(body, list) or len(body) != len(schema):
        raise NetError(f"{cls.__name__} takes {len(schema)} fields")
    values = [_CHECK[kind](value, name, limits) for (name, kind), value in zip(schema, body)]
    return cls(*values)


def _uint(value: Any, name: str) -> int:
    if type(value) is not int or not 0 <= value <= _UINT_MAX:
        raise NetError(f"{name} must be an unsigned integer")
    return value


def _text(value: Any, name: str, limits: Limits) -> str:
    if type(value) is not str or len(value) > limits.max_text:
        raise NetError(f"{name} must be a string of at most {limits.max_text} characters")
    return value


def _hex64(value: Any, name: str) -> str:
    if type(value) is not str or len(value) != 64 or not _HEX.issuperset(value):
        raise NetError(f"{name} must be 64 lowercase hex digits")
    return value


def _float(value: Any, name: str, limits: Limits) -> float:
    if type(value) not in (float, int) or not math.isfinite(value):
        raise NetError(f"{name} must be a finite number")
    return float(value)


def _bool(value: Any, name: str, limits: Limits) -> bool:
    if type(value) is not bool:
        raise NetError(f"{name} must be a boolean")
    return value


def _wasm(value: Any, name: str, limits: Limits) -> bytes:
    if type(value) is not bytes or len(value) > limits.max_specimen:
        raise NetError(f"{name} must be at most {limits.max_specimen} bytes")
    return value


def _shas(value: Any, name: str, limits: Limits) -> tuple[str, ...]:
    if type(value) is not list or not 0 < len(value) <= limits.max_hashes:
        raise NetError(f"{name} must list 1 to {limits.max_hashes} hashes")
    return tuple(_hex64(v, name) for v in value)


def _tags(value: Any, name: str, limits: Limits) -> tuple[str, ...]:
    if type(value) is not list or len(value) > limits.max_tags:
        raise NetError(f"{name} must list at most {limits.max_tags} tags")
    return tuple(_text(v, name, limits) for v in value)


def _updates(value: Any, name: str, limits: Limits) -> tuple:
    if type(value) is not list or len(value) > limits.max_updates:
        raise NetError(f"{name} must list at most {limits.max_updates} membership updates")
    out = []
    for item in value:
        if type(item) is not list or not item or type(item[0]) is not int:
            raise NetError("a membership update is [code, fields...]")
        cls = MESSAGE_TYPES.get(item[0])
        if cls not in UPDATE_TYPES:
            raise NetError(f"unknown membership update type {item[0]!r}")
        out.append(_message(cls, item[1:], limits))
    return tuple(out)


_CHECK: dict[str, Callable[[Any, str, Limits], Any]] = {
    "sha": lambda v, n, l: _hex64(v, n),
    "id": lambda v, n, l: _hex64(v, n),
    "text": _text,
    "float": _float,
    "uint": lambda v, n, l: _uint(v, n),
    "bool": _bool,
    "wasm": _wasm,
    "shas": _shas,
    "tags": _tags,
    "updates": _updates,
}


def _id_bytes(node_id: str) -> bytes:
    try:
        raw = bytes.fromhex(_hex64(node_id, "node id"))
    except ValueError:
        raise NetError("node id must be 64 hex digits") from None
    return raw


class ReplayGuard:
    """Accept each (sender, seq) at most once, and only frames addressed to `me` (or a Join or Hello to anyone).

    Keeps the highest sequence number per sender and a bitmap of the `window` numbers below it; older
    frames are refused. Remembers at most `capacity` senders (least recently heard forgotten first).
    """

    def __init__(self, me: str, window: int = 256, capacity: int = 16384) -> None:
        self.me = me
        self.window = window
        self.capacity = capacity
        self._state: dict[str, list[int]] = {}  # sender -> [highest seq, bitmap of seen below it]

    def accept(self, envelope: Envelope) -> None:
        """Raise NetError if `envelope` is not for us or was seen before (or is too old to tell)."""
        if envelope.to != self.me and not (envelope.to == "" and type(envelope.message) in ANONYMOUS_TYPES):
            raise NetError("frame addressed to another node")
        seq = envelope.seq
        state = self._state.pop(envelope.sender, None)
        if state is None:
            state = [seq, 1]
        else:
            top, bits = state
            if seq > top:
                shift = seq - top
                bits = ((bits << shift) | 1) & ((1 << self.window) - 1) if shift < self.window else 1
                state = [seq, bits]
            else:
                back = top - seq
                if back >= self.window or (bits >> back) & 1:
                    self._state[envelope.sender] = state
                    raise NetError("replayed or stale frame")
                state = [top, bits | (1 << back)]
        self._state[envelope.sender] = state  # re-inserted: most recently heard last
        if len(self._state) > self.capacity:
            del self._state[next(iter(self._state))]


class Codec:
    """Both directions of one node's wire: sign outgoing frames, check incoming ones (limits, signature,
    recipient, replay). `start_seq` must exceed what this identity sent before (the daemon: time in us)."""

    def __init__(self, identity: NodeIdentity, limits: Limits = Limits(), start_seq: int = 0,
                 window: int = 256) -> None:
        self.identity = identity
        self.limits = limits
        self.signer = Signer(identity, start_seq)
        self.guard = ReplayGuard(identity.node_id, window=window)

    def encode(self, to: str, message: Message) -> bytes:
        return self.signer.encode(to, message)

    def decode(self, data: bytes) -> Envelope:
        """The envelope of a frame for us that was never accepted before; NetError otherwise."""
        envelope = decode(data, limits=self.limits)
        if envelope.sender == self.identity.node_id:
            raise NetError("frame from ourselves")
        self.guard.accept(envelope)
        return envelope
