"""The timing package's errors: bad inputs to a measurement, and functions that cannot be timed."""

from __future__ import annotations

from ..errors import JeetError


class TimingError(JeetError):
    """A measurement cannot be made as asked (no usable cases, a module jeet cannot read, bad options)."""


class UntimeableError(TimingError):
    """A variant cannot be timed natively: it traps, runs past the deadline or does not compile on the
    timing inputs. `index` is its position in the measured variants and `status` says which of those."""

    def __init__(self, message: str, index: int | None = None, status: str = "trap") -> None:
        super().__init__(message)
        self.index = index
        self.status = status
