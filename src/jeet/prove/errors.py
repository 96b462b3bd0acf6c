"""The prove package's errors: bad input for the user, and what the semantics does not cover."""

from __future__ import annotations

from ..errors import JeetError


class ProveError(JeetError):
    """Two modules that cannot be compared: unreadable, invalid, no such function, other signatures."""


class Unsupported(Exception):
    """The semantics does not cover something the function does; the check says `unknown` with `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
