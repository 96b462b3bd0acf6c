"""Giving freed memory back to the system.

glibc keeps what a process frees in its arenas for reuse, so a process that once held a large solver
query or a few hundred compiled modules stays that large for good. `give_back` returns the free pages;
the evaluation workers call it after each chunk and the prover after each check, which keeps an evolve
run's resident memory at what it holds, not at the most it ever held.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.lru_cache(maxsize=None)
def _trim():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to give back this way
        return None


def give_back() -> None:
    """Return free heap pages to the system (glibc's `malloc_trim`; a no-op elsewhere)."""
    trim = _trim()
    if trim is not None:
        trim(0)
