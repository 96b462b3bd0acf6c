"""The messages nodes exchange, and the specimen value they carry. Frozen, slotted, picklable.

Every message class has a stable wire code (`CODE`). Field types are enforced by `jeet.net.wire.decode`
at the network edge; the protocol trusts the types of what it is given and checks the meaning
(hashes, sizes, claims) itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Union

from ..address import content_address as sha256_hex  # noqa: F401 (re-exported by jeet.net)
from ..specimen import Specimen  # noqa: F401 (carried by SpecimenData; re-exported)


# --- specimen dissemination -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Announce:
    """IHAVE: the sender holds this specimen (verified or found by itself) and will send it on IWANT."""

    CODE: ClassVar[int] = 1
    sha256: str
    function: str
    fitness: float
    fuel: int
    size: int
    env: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class IWant:
    """Ask an announcer for the bytes of these hashes."""

    CODE: ClassVar[int] = 2
    hashes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SpecimenData:
    """The bytes of one specimen, only ever sent in answer to IWANT."""

    CODE: ClassVar[int] = 3
    sha256: str
    function: str
    wasm: bytes
    fitness: float
    fuel: int


@dataclass(frozen=True, slots=True)
class Verdict:
    """Survival feedback to the peer that sent a specimen: kept after the receiver's own verification or not."""

    CODE: ClassVar[int] = 4
    sha256: str
    kept: bool


@dataclass(frozen=True, slots=True)
class BlacklistNotice:
    """The sender found this hash to be wrong, trapping or over its limits in its own sandbox."""

    CODE: ClassVar[int] = 15
    sha256: str
    reason: str


# --- membership (SWIM) ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Alive:
    """Membership update: `member` is alive at `incarnation` and listens on `address`."""

    CODE: ClassVar[int] = 10
    member: str
    incarnation: int
    address: str


@dataclass(frozen=True, slots=True)
class Suspect:
    """Membership update: `member` did not answer a probe at `incarnation`."""

    CODE: ClassVar[int] = 11
    member: str
    incarnation: int


@dataclass(frozen=True, slots=True)
class Dead:
    """Membership update: `member` stayed suspect too long (or, sent by itself, left)."""

    CODE: ClassVar[int] = 12
    member: str
    incarnation: int


Update = Union[Alive, Suspect, Dead]


@dataclass(frozen=True, slots=True)
class Join:
    """Introduce the sender (its listen address and incarnation); answered by a `MemberList`."""

    CODE: ClassVar[int] = 5
    address: str
    incarnation: int


@dataclass(frozen=True, slots=True)
class Hello:
    """What a listener says first on every connection it accepts: who listens at the address the dialer
    dialled. A dialer sends nothing on a connection to a claimed address before this proves the claim, so a
    node never sends data to an address just because someone said a node lives there."""

    CODE: ClassVar[int] = 16
    address: str
    incarnation: int


@dataclass(frozen=True, slots=True)
class MemberList:
    """Alive updates for a sample of the sender's view, sent to a joining node."""

    CODE: ClassVar[int] = 6
    updates: tuple[Update, ...]


@dataclass(frozen=True, slots=True)
class Ping:
    CODE: ClassVar[int] = 7
    seq: int
    updates: tuple[Update, ...] = ()


@dataclass(frozen=True, slots=True)
class PingReq:
    """Ask the receiver to ping `target` (at `address`) and relay the ack with our `seq`."""

    CODE: ClassVar[int] = 8
    target: str
    address: str
    seq: int
    updates: tuple[Update, ...] = ()


@dataclass(frozen=True, slots=True)
class Ack:
    CODE: ClassVar[int] = 9
    seq: int
    updates: tuple[Update, ...] = ()


# --- mesh control (GossipSub) -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Graft:
    """Ask to be a mesh peer of the receiver; carries the sender's listen address and incarnation."""

    CODE: ClassVar[int] = 13
    address: str
    incarnation: int


@dataclass(frozen=True, slots=True)
class Prune:
    """Leave (or refuse) the mesh link with the receiver; no re-graft before the backoff."""

    CODE: ClassVar[int] = 14


Message = Union[Announce, IWant, SpecimenData, Verdict, BlacklistNotice, Alive, Suspect, Dead, Join, MemberList,
                Ping, PingReq, Ack, Graft, Prune, Hello]

MESSAGE_TYPES: dict[int, type] = {cls.CODE: cls for cls in (
    Announce, IWant, SpecimenData, Verdict, BlacklistNotice, Alive, Suspect, Dead, Join, MemberList,
    Ping, PingReq, Ack, Graft, Prune, Hello)}
UPDATE_TYPES: tuple[type, ...] = (Alive, Suspect, Dead)
PAYLOAD_TYPES: tuple[type, ...] = (SpecimenData,)
ANONYMOUS_TYPES: tuple[type, ...] = (Join, Hello)  # may travel before the sender knows the recipient's id
