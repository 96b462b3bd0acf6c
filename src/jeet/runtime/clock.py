"""The serving engine's clock: epoch ticks that bound every call in time, and Ctrl-C that ends one.

Serving compiles with epoch interruption: a call whose deadline (in ticks of `TICK_S`) passes
traps with an interrupt. A daemon thread advances the epoch while the engine lives. When the
runtime is made in the main thread and nothing else owns `signal.set_wakeup_fd`, SIGINT also
wakes that thread, which pushes the epoch past every deadline at once: the call in flight
stops within a tick and Python raises KeyboardInterrupt as usual. Otherwise Ctrl-C takes
effect when the call's own deadline passes.
"""

from __future__ import annotations

import math
import os
import select
import signal
import threading
import time
import weakref
from typing import Any

TICK_S = 0.01
FOREVER = 1 << 62  # an epoch deadline no clock reaches: for code that provably ends by itself


class ServingClock:
    """Ticks `engine`'s epoch; `ticks(s)` is the deadline delta for `s` seconds."""

    def __init__(self, engine: Any, max_seconds: float) -> None:
        self.max_ticks = self.ticks(max_seconds + 1.0)  # the per-call limit plus the lanes' re-arming slack
        self.interrupted_at = -math.inf  # monotonic time of the last SIGINT seen
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._installed = False
        self._stop = threading.Event()
        thread = threading.Thread(target=_tick, args=(weakref.ref(engine), self, self._read, self._stop),
                                  name="jeet-serving-clock", daemon=True)
        thread.start()
        weakref.finalize(engine, self._stop.set)

    @staticmethod
    def ticks(seconds: float) -> int:
        """Epoch ticks that surely span `seconds` (one more, as the first tick may come at once)."""
        return max(1, math.ceil(seconds / TICK_S)) + 1

    def interrupted_recently(self, within_s: float) -> bool:
        return time.monotonic() - self.interrupted_at <= within_s + TICK_S

    def catch_sigint(self) -> bool:
        """Route SIGINT to the clock (main thread only, and only if no wake-up fd is set); True if done."""
        if threading.current_thread() is not threading.main_thread():
            return False
        try:
            previous = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        except (ValueError, OSError):
            return False
        if previous != -1:
            signal.set_wakeup_fd(previous)
            return False
        self._installed = True
        return True

    def release_sigint(self) -> None:
        """Give the wake-up fd back (if it is still ours)."""
        if not self._installed or threading.current_thread() is not threading.main_thread():
            return
        self._installed = False
        current = signal.set_wakeup_fd(-1)
        if current != self._write:
            signal.set_wakeup_fd(current)


def _tick(engine_ref: "weakref.ref", clock: ServingClock, fd: int, stop: threading.Event) -> None:
    try:
        while not stop.is_set():
            ready, _, _ = select.select([fd], [], [], TICK_S)
            engine = engine_ref()
            if engine is None:
                return
            engine.increment_epoch()
            if ready and _drain(fd):
                clock.interrupted_at = time.monotonic()
                for _ in range(clock.max_ticks + 1):  # past every deadline a call can have
                    engine.increment_epoch()
            del engine
    finally:
        if not clock._installed:  # a wake-up fd still installed must stay open: the signal handler writes to it
            for end in (fd, clock._write):
                try:
                    os.close(end)
                except OSError:
                    pass


def _drain(fd: int) -> bool:
    """Read the signal numbers waiting on the wake-up pipe; True when SIGINT is among them."""
    seen = False
    while True:
        try:
            data = os.read(fd, 512)
        except (BlockingIOError, InterruptedError):
            return seen
        except OSError:
            return seen
        if not data:
            return seen
        seen = seen or signal.SIGINT in data
