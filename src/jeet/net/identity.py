"""A node's identity: an Ed25519 key kept in its data folder; the node id is the public key in hex."""

from __future__ import annotations

from pathlib import Path

from nacl.signing import SigningKey, VerifyKey

from ..errors import NetError
from ..secretfile import load_or_create_secret

KEY_FILE = "node.key"


class NodeIdentity:
    """The signing key of one node. `node_id` (64 hex digits) is what every peer calls it."""

    __slots__ = ("signing_key", "verify_key", "node_id", "public_key")

    def __init__(self, signing_key: SigningKey) -> None:
        self.signing_key = signing_key
        self.verify_key: VerifyKey = signing_key.verify_key
        self.public_key: bytes = bytes(self.verify_key)
        self.node_id: str = self.public_key.hex()

    @classmethod
    def generate(cls) -> "NodeIdentity":
        return cls(SigningKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> "NodeIdentity":
        if len(seed) != 32:
            raise NetError("an Ed25519 seed is 32 bytes")
        return cls(SigningKey(seed))

    def sign(self, payload: bytes) -> bytes:
        """The 64-byte detached signature of `payload`."""
        return self.signing_key.sign(payload).signature

    def __repr__(self) -> str:
        return f"NodeIdentity({self.node_id[:16]}...)"


def load_or_create(folder: Path | str) -> NodeIdentity:
    """The identity stored in `folder/node.key` (hex seed, mode 0600), created on first use.

    Refuses (NetError) a key file that others can read or that does not hold a 32-byte hex seed.
    """
    path = Path(folder) / KEY_FILE
    text = load_or_create_secret(path, lambda: bytes(NodeIdentity.generate().signing_key).hex(), "node key",
                                 NetError)
    try:
        seed = bytes.fromhex(text)
    except ValueError:
        raise NetError(f"node key {path} is not a hex seed") from None
    if len(seed) != 32:
        raise NetError(f"node key {path} must hold 32 bytes, holds {len(seed)}")
    return NodeIdentity.from_seed(seed)
