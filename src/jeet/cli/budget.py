"""A wall-clock budget that covers the set-up as well as the search.

`within(budget, what)` bounds the set-up (reading the input, building the oracle): past the
budget it stops with one line instead of starting a search that has no time left.
`remaining(budget, started)` is what is left for the search itself.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import JeetError

MIN_SEARCH_S = 0.05  # less than this left after the set-up: no search worth starting


class _Expired(BaseException):
    """Raised by the alarm inside the set-up; a BaseException so no `except Exception` swallows it."""


@contextmanager
def within(budget: float | None, what: str, started: float | None = None) -> Iterator[None]:
    """Run the block under an alarm that rings when `budget` seconds since `started` (default: now) are
    spent (main thread only; no budget, no alarm)."""
    if budget is not None and started is not None:
        budget_left = budget - (time.monotonic() - started)
        if budget_left <= 0:
            raise JeetError(f"start-up used the whole --budget ({budget:g} s)")
    else:
        budget_left = budget
    if budget is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(_signum: int, _frame: object) -> None:
        raise _Expired

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, budget_left)
    try:
        yield
    except _Expired:
        raise JeetError(f"{what} took longer than the whole --budget ({budget:g} s)") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def process_start() -> float:
    """The `time.monotonic()` reading at which this process started, when the process is the `jeet`
    command (interpreter start-up and imports count against a budget as much as the search does); now,
    when jeet's CLI runs inside another program or the kernel does not say."""
    now = time.monotonic()
    if not _jeet_is_the_program():
        return now
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as fh:
            uptime = float(fh.read().split()[0])
        age = uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return now
    return now - min(max(age, 0.0), 60.0)


def _jeet_is_the_program() -> bool:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name == "jeet.__main__":
        return True
    return os.path.basename(getattr(main, "__file__", "") or "") == "jeet"


def remaining(budget: float | None, started: float, tail_s: float = 0.0) -> float | None:
    """The budget minus the time since `started`, minus `tail_s` kept for the work after the search (the
    final held-out check and the outputs, which cost about what checking the input did; at most a third
    of what is left); JeetError when nothing worth a search is left."""
    if budget is None:
        return None
    left = budget - (time.monotonic() - started)
    left -= min(max(tail_s, 0.0), left / 3)
    if left < MIN_SEARCH_S:
        raise JeetError(f"the set-up used the whole --budget ({budget:g} s); give a larger budget")
    return left


EVALUATION_FACTOR = 4.0  # an evaluation (mutate, ship to a worker, compile, run, store) costs several decodes + compiles


def first_generation(wasm: bytes, population: int, workers: int, left: float | None) -> None:
    """Refuse, before the search starts, a run whose first generation cannot fit in what is left of the
    budget: for a module of tens of MiB one evaluation alone takes seconds. The estimate times one decode
    and one compile of the input (a lower bound of an evaluation's cost) and scales it."""
    if left is None:
        return
    import wasmtime

    from .. import wasm as codec

    t0 = time.perf_counter()
    codec.decode(wasm)
    wasmtime.Module.validate(wasmtime.Engine(), wasm)
    per = (time.perf_counter() - t0) * EVALUATION_FACTOR
    need = per * population / max(1, workers)
    if need > left:
        raise JeetError(f"a {len(wasm) / (1 << 20):.1f} MiB module costs about {per:.2f} s per evaluation here: the "
                        f"first generation of {population} needs about {need:.0f} s, more than the {left:.0f} s "
                        f"left of --budget; give a larger --budget or a smaller --population")
