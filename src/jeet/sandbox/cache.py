"""Compile cache: an in-memory LRU of compile outcomes and, optionally, serialized modules on disk.

Keys are SHA-256 hex digests of the wasm bytes. The disk layer stores wasmtime's own
serialization (`Module.serialize`) under a tag naming the wasmtime version and engine
configuration, so a known specimen costs a deserialize (tens of microseconds) instead of a
compile, even in a new process. Deserialized code is trusted native code: the cache
directory must be private to jeet. The disk layer is best effort; I/O errors are
counted, never raised.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any


class ModuleCache:
    """A thread-safe LRU of up to `capacity` entries plus an optional directory of serialized modules."""

    def __init__(self, capacity: int = 1024, directory: str | os.PathLike | None = None) -> None:
        self.capacity = max(0, int(capacity))
        self.directory = Path(directory) if directory is not None else None
        self._entries: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.disk_errors = 0
        if self.directory is not None:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
            except OSError:
                self.disk_errors += 1

    def get(self, sha256: str) -> Any | None:
        with self._lock:
            entry = self._entries.get(sha256)
            if entry is not None:
                self._entries.move_to_end(sha256)
            return entry

    def put(self, sha256: str, entry: Any) -> None:
        if self.capacity == 0:
            return
        with self._lock:
            self._entries[sha256] = entry
            self._entries.move_to_end(sha256)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def __contains__(self, sha256: str) -> bool:
        with self._lock:
            return sha256 in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget the in-memory entries (the disk layer is kept)."""
        with self._lock:
            self._entries.clear()

    def path(self, tag: str, sha256: str) -> Path | None:
        """Where the serialized module for `sha256` under engine `tag` lives (None without a directory)."""
        if self.directory is None:
            return None
        return self.directory / tag / sha256[:2] / f"{sha256}.cwasm"

    def has_serialized(self, tag: str, sha256: str) -> Path | None:
        path = self.path(tag, sha256)
        if path is None:
            return None
        try:
            return path if path.stat().st_size > 0 else None
        except OSError:
            return None

    def save(self, tag: str, sha256: str, data: bytes) -> bool:
        """Write a serialized module atomically (temp file + rename); False when the write failed."""
        path = self.path(tag, sha256)
        if path is None:
            return False
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".cwasm")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
            return True
        except OSError:
            self.disk_errors += 1
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
            return False

    def discard(self, tag: str, sha256: str) -> None:
        """Remove a serialized module that failed to load (stale or corrupt)."""
        path = self.path(tag, sha256)
        if path is not None:
            try:
                path.unlink()
            except OSError:
                self.disk_errors += 1
