"""The store's database: one SQLite connection in WAL mode, its write transactions, and the blob codec.

`Database` is the one object the store's parts share: `Store` (specimens, lineage, blacklist, pins, caps),
`RunLog` (runs, checkpoints, logbook), and maintenance (`forgetting`, `compression`). None of them reads
another's private state; they meet here.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ParamSpec, TypeVar

from ..address import content_address
from .codec import Codec, Dictionary
from ..errors import StoreError
from .schema import migrate

DB_NAME = "jeet.db"

P = ParamSpec("P")
R = TypeVar("R")


def describe(e: sqlite3.Error) -> str:
    """One line for an SQLite error, in the store's words."""
    text = str(e) or type(e).__name__
    if "file is not a database" in text:
        return "not a SQLite database (file is not a database)"
    if "malformed" in text:
        return f"the store is corrupt ({text})"
    if "locked" in text or "busy" in text:
        return f"the store stayed locked by another process past the busy timeout ({text})"
    return text


def guarded(method: Callable[P, R]) -> Callable[P, R]:
    """Turn any sqlite3 error escaping a public method of an object with a `path` into a one-line `StoreError`."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except sqlite3.Error as e:
            owner = args[0]
            raise StoreError(f"{owner.path}: {describe(e)}") from e  # type: ignore[attr-defined]

    return wrapper


class Database:
    """The connection to ``root / DB_NAME``, opened (created, switched to WAL, migrated) on construction.

    `decay` is registered as the SQL function ``jeet_decay(usage, last_used, now)`` that forgetting's
    relevance and the usage counters are computed with.
    """

    def __init__(self, path: Path, timeout: float, decay: Callable[..., float]) -> None:
        self.path = path
        self.timeout = timeout
        self.codec = Codec()
        self._dicts: dict[int, Dictionary] = {}
        self._conn: sqlite3.Connection | None = None
        self._conn = self._open(decay)

    def _open(self, decay: Callable[..., float]) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=True)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            conn.create_function("jeet_decay", 3, decay, deterministic=True)
            # Touch the header first: a foreign file fails here with "file is not a database".
            conn.execute("PRAGMA schema_version").fetchone()
            if conn.execute("PRAGMA page_count").fetchone()[0] == 0:
                # A new file: incremental auto-vacuum lets gc hand freed pages back to the file system.
                # It only takes effect before the first table (and before WAL mode) is created.
                conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                mode = self._switch_to_wal(conn)
                if mode != "wal":
                    raise StoreError(f"{self.path}: cannot switch the store to WAL mode (got {mode!r})")
            # NORMAL in WAL mode: a killed process loses nothing committed; only an OS crash may drop the last commits.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn, str(self.path))
        except BaseException:
            conn.close()
            raise
        return conn

    def _switch_to_wal(self, conn: sqlite3.Connection) -> str:
        """Set WAL mode, retrying: SQLite answers "locked" at once, without the busy handler, while
        another process holds the file (e.g. two processes creating the same store)."""
        deadline = time.monotonic() + self.timeout
        pause = 0.001
        while True:
            try:
                return conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower()
            except sqlite3.OperationalError as e:
                contended = "locked" in str(e) or "busy" in str(e)
                if not contended or time.monotonic() > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    @property
    def closed(self) -> bool:
        return self._conn is None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"{self.path}: the store is closed")
        return self._conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; IMMEDIATE takes the write lock up front so it waits instead of failing mid-way."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @contextmanager
    def no_wait(self) -> Iterator[sqlite3.Connection]:
        """The connection with the busy timeout off: a write that would wait for the lock fails at once."""
        conn = self.conn
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            yield conn
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")

    def size_on_disk(self) -> int:
        """Bytes the store occupies in the file system: the database file and its write-ahead log."""
        total = 0
        for suffix in ("", "-wal"):
            try:
                total += os.stat(f"{self.path}{suffix}").st_size
            except FileNotFoundError:
                pass
        return total

    # -- blobs and their dictionaries ------------------------------------------------------

    def dictionary(self, dict_id: int) -> Dictionary:
        d = self._dicts.get(dict_id)
        if d is None:
            row = self.conn.execute(
                "SELECT id, function, version, data FROM dictionaries WHERE id = ?", (int(dict_id),)
            ).fetchone()
            if row is None:
                raise StoreError(f"{self.path}: compression dictionary {dict_id} is missing")
            d = self._dicts[dict_id] = Dictionary(row[0], row[1], row[2], bytes(row[3]))
        return d

    def current_dictionaries(self, functions: set[str]) -> dict[str, Dictionary]:
        """The newest dictionary of each of `functions` that has one."""
        if not functions:
            return {}
        fs = sorted(functions)
        marks = ",".join("?" * len(fs))
        rows = self.conn.execute(
            f"SELECT function, id, max(version) FROM dictionaries WHERE function IN ({marks}) GROUP BY function", fs
        ).fetchall()
        return {f: self.dictionary(i) for f, i, _ in rows}

    def decode(self, sha: str, blob: bytes, size: int, dict_id: int | None) -> bytes:
        """A blob back to the module's bytes, checked against its content address."""
        try:
            data = self.codec.decompress(blob, None if dict_id is None else self.dictionary(dict_id))
        except StoreError as e:
            raise StoreError(f"{self.path}: specimen {sha[:16]}: {e}") from e.__cause__
        if len(data) != size or content_address(data) != sha:
            raise StoreError(f"{self.path}: specimen {sha[:16]} does not match its content address")
        return data

    def count_specimens(self, function: str | None = None) -> int:
        if function is None:
            return self.conn.execute("SELECT count(*) FROM specimens").fetchone()[0]
        return self.conn.execute("SELECT count(*) FROM specimens WHERE function = ?", (function,)).fetchone()[0]


def open_database(root: Path, timeout: float, decay: Callable[..., float]) -> Database:
    """The database under `root` (created with its folder when missing); one-line `StoreError`s on failure."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(f"{root}: cannot create the store directory ({e.strerror or e})") from e
    path = root / DB_NAME
    if path.exists() and not path.is_file():
        raise StoreError(f"{path}: exists and is not a file")
    try:
        return Database(path, timeout, decay)
    except sqlite3.Error as e:
        raise StoreError(f"{path}: {describe(e)}") from e
