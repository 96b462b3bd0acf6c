"""Reading what the user hands jeet without letting its size decide how much memory jeet takes.

Every input file (a module, a tests file, a config) is refused before it is read when it is
larger than the input cap: 64 MiB unless `JEET_MAX_INPUT_MB` says otherwise. A regular file is
judged by its size; anything else (a device, a pipe) is read up to the cap and refused past it,
so `/dev/zero` costs at most the cap, never the machine.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import JeetError

DEFAULT_MAX_INPUT_MB = 64.0
ENV = "JEET_MAX_INPUT_MB"
_CHUNK = 1 << 20


def input_cap() -> int:
    """The largest input in bytes (from $JEET_MAX_INPUT_MB, else 64 MiB)."""
    text = os.environ.get(ENV)
    if text is None or not text.strip():
        return int(DEFAULT_MAX_INPUT_MB * (1 << 20))
    try:
        mb = float(text)
    except ValueError:
        raise JeetError(f"${ENV} must be a number of MiB, got {text!r}") from None
    if not 0 < mb <= 1 << 20:  # nan and inf fail this too
        raise JeetError(f"${ENV} must be in (0, 1048576] MiB, got {text!r}")
    return int(mb * (1 << 20))


def _too_big(path: Path, what: str, cap: int) -> JeetError:
    size = f"{cap / (1 << 20):g} MiB" if cap >= 1 << 20 else f"{cap} bytes"
    return JeetError(f"{what} {path} is larger than the input cap of {size} (set ${ENV} to raise it)")


def check_size(path: str | os.PathLike, what: str = "input") -> None:
    """Refuse `path` if it is a regular file over the cap (nothing is read); other files pass here
    and are bounded by `read_bounded`."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        return  # the reader reports a missing or unreadable file in its own words
    if stat.S_ISREG(st.st_mode) and st.st_size > input_cap():
        raise _too_big(path, what, input_cap())


def read_bounded(path: str | os.PathLike, what: str = "input") -> bytes:
    """The file's bytes, at most the cap; JeetError past it. OSError passes through for the caller to word."""
    path = Path(path)
    cap = input_cap()
    check_size(path, what)
    chunks = []
    total = 0
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(min(_CHUNK, cap + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > cap:
                raise _too_big(path, what, cap)
    return b"".join(chunks)


def require_regular(path: str | os.PathLike, what: str) -> None:
    """For inputs read by code that cannot bound its reads: a regular file under the cap, or JeetError."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise JeetError(f"{what}: file not found: {path}") from None
    except OSError as exc:
        raise JeetError(f"{what}: cannot read {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise JeetError(f"{what}: {path} is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise JeetError(f"{what}: {path} is not a regular file")
    if st.st_size > input_cap():
        raise _too_big(path, what, input_cap())
