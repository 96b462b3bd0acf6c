"""Held-out seeds that no other run or node draws.

Training cases may be reproducible from a run's `--seed`; the held-out cases that gate a champion must
not be: a variant wrong on inputs one fixed set of cases misses would pass everywhere that set is used.
Each run, node verifier and runtime draws its own held-out seed from who it is and when it started,
recorded in the evidence so the cases can be rebuilt, unless the user pins one.
"""

from __future__ import annotations

import hashlib
import os
import time


def fresh_seed(identity: str = "") -> int:
    """A 63-bit seed from `identity` (a node id, "run", ...), the wall-clock time, the process and OS randomness."""
    text = f"{identity}|{time.time_ns()}|{os.getpid()}".encode()
    return int.from_bytes(hashlib.blake2b(text + os.urandom(16), digest_size=8).digest(), "big") >> 1
