"""Secrets kept in a data folder: created once, atomically, readable by their owner only."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Callable

from .errors import JeetError


def load_or_create_secret(path: Path, generate: Callable[[], str], what: str,
                          error: type[JeetError] = JeetError) -> str:
    """The text in `path` (stripped), written from `generate()` with mode 0600 if the file is absent.

    Two processes creating it at once agree on one file (the loser links nothing and reads the winner's).
    A file others can read or write is refused with `error`: anyone who can read it holds the secret.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(generate() + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)  # fails if another process created it meanwhile: use theirs
            except FileExistsError:
                pass
        finally:
            tmp.unlink(missing_ok=True)
    try:
        mode = path.stat().st_mode
        text = path.read_text().strip()
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise error(f"{what} {path} is accessible by others (mode {stat.S_IMODE(mode):o}); chmod 600 it")
    return text
