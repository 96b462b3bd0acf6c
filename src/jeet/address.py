"""Content addresses: how jeet names a module everywhere (store, wire, evidence, blacklist, caches)."""

from __future__ import annotations

import hashlib

__all__ = ["content_address"]


def content_address(data: bytes | bytearray | memoryview) -> str:
    """The SHA-256 of the bytes, as 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()
