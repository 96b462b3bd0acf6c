"""A pair of modules: a caller whose imports are satisfied by a callee's exports."""

from __future__ import annotations

from dataclasses import dataclass

from ..address import content_address
from ..errors import SymbiosisError


@dataclass(frozen=True, slots=True)
class Pair:
    """The bytes of a caller and a callee. Identity is the pair of content addresses (`key`)."""

    caller: bytes
    callee: bytes

    def __post_init__(self) -> None:
        for role in ("caller", "callee"):
            value = getattr(self, role)
            if not isinstance(value, (bytes, bytearray, memoryview)):
                raise SymbiosisError(f"the {role} must be module bytes, not {type(value).__name__}")
            if not isinstance(value, bytes):
                object.__setattr__(self, role, bytes(value))

    @property
    def caller_sha256(self) -> str:
        return content_address(self.caller)

    @property
    def callee_sha256(self) -> str:
        return content_address(self.callee)

    @property
    def key(self) -> tuple[str, str]:
        """(caller SHA-256, callee SHA-256): the pair's address in tables and caches."""
        return (self.caller_sha256, self.callee_sha256)

    @property
    def size(self) -> int:
        """Code size of the pair: both modules' bytes."""
        return len(self.caller) + len(self.callee)

    def __repr__(self) -> str:
        a, b = self.key
        return f"Pair(caller={a[:12]}…, callee={b[:12]}…)"
