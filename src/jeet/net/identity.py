"""A node's identity: an Ed25519 key kept in its data folder; the node id is the public key in hex."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from nacl.signing import SigningKey, VerifyKey

from ..errors import NetError

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
    folder = Path(folder)
    path = folder / KEY_FILE
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        identity = NodeIdentity.generate()
        tmp = folder / f".{KEY_FILE}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(bytes(identity.signing_key).hex() + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)  # fails if another process created the key meanwhile: use theirs
            except FileExistsError:
                pass
        finally:
            tmp.unlink(missing_ok=True)
    try:
        mode = path.stat().st_mode
        text = path.read_text().strip()
    except OSError as exc:
        raise NetError(f"cannot read node key {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise NetError(f"node key {path} is accessible by others (mode {stat.S_IMODE(mode):o}); chmod 600 it")
    try:
        seed = bytes.fromhex(text)
    except ValueError:
        raise NetError(f"node key {path} is not a hex seed") from None
    if len(seed) != 32:
        raise NetError(f"node key {path} must hold 32 bytes, holds {len(seed)}")
    return NodeIdentity.from_seed(seed)
