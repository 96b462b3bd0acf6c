"""Keeping the cores quiet while timing: evaluation workers must not share the CPU with a measurement.

`measure(..., quiet=...)` enters the given context manager for the whole measurement (calibration and
every round) and leaves it afterwards, however the measurement ends. The caller owns the workers, so
the caller supplies it: `pausing(pause, resume)` wraps two callbacks (say, a pool's own pause and
resume), and `suspended(pids)` stops processes with SIGSTOP and continues them with SIGCONT, which
works for any worker pool whose process ids are known (their in-flight work simply waits).
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterable, Iterator

import psutil


@contextlib.contextmanager
def pausing(pause: Callable[[], object], resume: Callable[[], object]) -> Iterator[None]:
    """Call `pause()` on entry and `resume()` on exit (also when the body raises)."""
    pause()
    try:
        yield
    finally:
        resume()


@contextlib.contextmanager
def suspended(pids: Iterable[int]) -> Iterator[None]:
    """Suspend the given processes for the duration (those already gone are skipped); each one
    suspended here is resumed on exit."""
    stopped: list[psutil.Process] = []
    try:
        for pid in pids:
            try:
                proc = psutil.Process(pid)
                proc.suspend()
                stopped.append(proc)
            except psutil.Error:
                pass
        yield
    finally:
        for proc in stopped:
            try:
                proc.resume()
            except psutil.Error:
                pass
