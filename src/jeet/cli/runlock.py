"""One process per run: a lock file per run fingerprint in the data folder.

Two `jeet evolve --resume` processes with the same settings would otherwise both pick up the
same interrupted run and write its checkpoints in turn. The lock is an advisory `flock` on
`<data>/locks/<fingerprint>.lock`, held for the whole run and released by the kernel if the
process dies, so a run killed with -9 can be resumed at once.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import JeetError


class RunLock:
    """Hold the run's lock; with `resume`, also say when no unfinished run matches (a fresh one starts)."""

    def __init__(self, root: Path, fingerprint: str, resume: bool, find: Callable[[str], Any],
                 console: Any) -> None:
        self.path = Path(root) / "locks" / f"{fingerprint[:40]}.lock"
        self.fingerprint, self.resume, self.find, self.console = fingerprint, resume, find, console
        self.fd: int | None = None

    def __enter__(self) -> RunLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise JeetError(f"cannot create the run lock {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise JeetError(f"another jeet process is running this run (same input and settings) in "
                            f"{self.path.parent.parent}; wait for it to finish") from None
        self.fd = fd
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        if self.resume and self.find(self.fingerprint) is None:
            self.console.print("jeet: --resume: no unfinished run with these settings; starting a new one")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
