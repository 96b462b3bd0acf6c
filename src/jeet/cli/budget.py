"""A wall-clock budget that covers the set-up as well as the search.

`within(budget, what)` bounds the set-up (reading the input, building the oracle): past the
budget it stops with one line instead of starting a search that has no time left.
`remaining(budget, started)` is what is left for the search itself.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import JeetError

MIN_SEARCH_S = 0.05  # less than this left after the set-up: no search worth starting


class _Expired(BaseException):
    """Raised by the alarm inside the set-up; a BaseException so no `except Exception` swallows it."""


@contextmanager
def within(budget: float | None, what: str) -> Iterator[None]:
    """Run the block under an alarm of `budget` seconds (main thread only; no budget, no alarm)."""
    if budget is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(_signum: int, _frame: object) -> None:
        raise _Expired

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, budget)
    try:
        yield
    except _Expired:
        raise JeetError(f"{what} took longer than the whole --budget ({budget:g} s)") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def remaining(budget: float | None, started: float) -> float | None:
    """The budget minus the time since `started`; JeetError when nothing worth a search is left."""
    if budget is None:
        return None
    left = budget - (time.monotonic() - started)
    if left < MIN_SEARCH_S:
        raise JeetError(f"the set-up used the whole --budget ({budget:g} s); give a larger budget")
    return left
