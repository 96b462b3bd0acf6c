"""The specimen store: one SQLite file in WAL mode holding every module jeet has seen.

Specimens are addressed by the SHA-256 of their bytes and stored zstd-compressed, with
their lineage, the blacklist, runs, checkpoints and the per-generation logbook beside them.
Every write is one ``BEGIN IMMEDIATE`` transaction, so a process killed at any instant
leaves the file consistent (committed work is kept, the rest rolls back on next open), and
several processes may share a store: writers queue on the busy timeout.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from .codec import Codec, dumps_json, loads_json
from .errors import StoreError
from .schema import SCHEMA_VERSION, migrate

DB_NAME = "jeet.db"
RUN_STATUSES = ("running", "finished", "failed")
# Refreshing last_used on every read would turn reads into writes; once a minute is enough for LRU pruning.
TOUCH_INTERVAL = 60.0

P = ParamSpec("P")
R = TypeVar("R")


def default_data_dir() -> Path:
    """Where jeet keeps its data unless told otherwise: ``$JEET_DATA``, else ``~/.jeet``."""
    env = os.environ.get("JEET_DATA")
    return Path(env).expanduser() if env else Path.home() / ".jeet"


def sha256_hex(data: bytes) -> str:
    """The content address of a module."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class SpecimenRecord:
    """One specimen to store with `Store.put_many`; the fields mirror `Store.put_specimen`'s arguments."""

    wasm: bytes
    function: str
    fuel: int | None = None
    fitness: float | None = None
    metrics: Mapping[str, Any] | None = None
    parents: tuple[str, ...] = ()
    operator: str | None = None
    generation: int | None = None
    run_id: int | None = None


def _guarded(method: Callable[P, R]) -> Callable[P, R]:
    """Turn any sqlite3 error escaping a public method into a one-line `StoreError`."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except sqlite3.Error as e:
            store = args[0]
            raise StoreError(f"{store.path}: {_describe(e)}") from e  # type: ignore[attr-defined]

    return wrapper


def _describe(e: sqlite3.Error) -> str:
    text = str(e) or type(e).__name__
    if "file is not a database" in text:
        return "not a SQLite database (file is not a database)"
    if "malformed" in text:
        return f"the store is corrupt ({text})"
    if "locked" in text or "busy" in text:
        return f"the store stayed locked by another process past the busy timeout ({text})"
    return text


class Store:
    """A jeet specimen store rooted at a directory (``root / "jeet.db"``).

    Use it as a context manager or call `close`. One `Store` belongs to one thread; other
    processes open their own `Store` on the same root. Pickling a `Store` pickles its
    location: the receiver opens its own connection.
    """

    def __init__(self, root: Path | str, *, timeout: float = 30.0, keep_checkpoints: int = 3) -> None:
        self.root = Path(root).expanduser()
        self.path = self.root / DB_NAME
        self.timeout = timeout
        if keep_checkpoints < 1:
            raise StoreError("keep_checkpoints must be at least 1")
        self.keep_checkpoints = keep_checkpoints
        self._codec = Codec()
        self._conn: sqlite3.Connection | None = None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"{self.root}: cannot create the store directory ({e.strerror or e})") from e
        if self.path.exists() and not self.path.is_file():
            raise StoreError(f"{self.path}: exists and is not a file")
        try:
            self._conn = self._open()
        except sqlite3.Error as e:
            self._discard()
            raise StoreError(f"{self.path}: {_describe(e)}") from e
        except StoreError:
            self._discard()
            raise

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=True)
        self._conn = conn
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        # Touch the header first: a foreign file fails here with "file is not a database".
        conn.execute("PRAGMA schema_version").fetchone()
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            mode = self._switch_to_wal(conn)
            if mode != "wal":
                raise StoreError(f"{self.path}: cannot switch the store to WAL mode (got {mode!r})")
        # NORMAL in WAL mode: a killed process loses nothing committed; only an OS crash may drop the last commits.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn, str(self.path))
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

    def _discard(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (idempotent); the WAL is checkpointed by SQLite when the last connection closes."""
        self._discard()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> tuple[Any, ...]:
        return (_reopen, (str(self.root), self.timeout, self.keep_checkpoints))

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"{self.path}: the store is closed")
        return self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
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

    # -- specimens ---------------------------------------------------------------------

    @_guarded
    def put_specimen(
        self,
        wasm: bytes,
        *,
        function: str,
        fuel: int | None = None,
        fitness: float | None = None,
        metrics: Mapping[str, Any] | None = None,
        parents: Sequence[str] = (),
        operator: str | None = None,
        generation: int | None = None,
        run_id: int | None = None,
    ) -> str:
        """Store a module and return its SHA-256 (hex).

        Idempotent: storing the same bytes again keeps the first `function` and `created`,
        refreshes `last_used`, overwrites fuel/fitness/metrics only where new values are
        given, and adds lineage edges not yet recorded.
        """
        record = SpecimenRecord(wasm, function, fuel, fitness, metrics, tuple(parents), operator, generation, run_id)
        hashes, rows, edges = self._prepare([record], time.time())
        with self._write() as conn:
            self._insert(conn, rows, edges)
        return hashes[0]

    @_guarded
    def put_many(self, items: Iterable[SpecimenRecord | Mapping[str, Any]]) -> list[str]:
        """Store many specimens in one transaction (a whole generation); returns their hashes in order.

        Each item is a `SpecimenRecord` or a mapping with the same keys.
        """
        records = [_as_record(item) for item in items]
        if not records:
            return []
        hashes, rows, edges = self._prepare(records, time.time())
        with self._write() as conn:
            self._insert(conn, rows, edges)
        return hashes

    def _prepare(
        self, records: list[SpecimenRecord], now: float
    ) -> tuple[list[str], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Hash, compress and serialise outside the transaction, so the write lock is held only for the inserts."""
        hashes: list[str] = []
        rows: list[tuple[Any, ...]] = []
        edges: list[tuple[Any, ...]] = []
        for r in records:
            if not isinstance(r.wasm, (bytes, bytearray, memoryview)):
                raise StoreError(f"specimen bytes must be bytes, not {type(r.wasm).__name__}")
            if not r.function:
                raise StoreError("a specimen needs the name of its evolved function")
            data = bytes(r.wasm)
            sha = sha256_hex(data)
            hashes.append(sha)
            rows.append((
                sha, r.function, len(data), self._codec.compress(data),
                None if r.fuel is None else int(r.fuel),
                None if r.fitness is None else float(r.fitness),
                None if r.metrics is None else dumps_json(r.metrics),
                now, now,
            ))
            for parent in r.parents:
                edges.append((sha, _check_sha(parent), r.operator, r.generation, r.run_id))
        return hashes, rows, edges

    @staticmethod
    def _insert(conn: sqlite3.Connection, rows: list[tuple[Any, ...]], edges: list[tuple[Any, ...]]) -> None:
        conn.executemany(
            """
            INSERT INTO specimens (sha256, function, size, data, fuel, fitness, metrics, created, last_used)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (sha256) DO UPDATE SET
                fuel = COALESCE(excluded.fuel, fuel),
                fitness = COALESCE(excluded.fitness, fitness),
                metrics = COALESCE(excluded.metrics, metrics),
                last_used = excluded.last_used
            """,
            rows,
        )
        if edges:
            conn.executemany(
                "INSERT OR IGNORE INTO lineage (child, parent, operator, generation, run_id) VALUES (?, ?, ?, ?, ?)",
                edges,
            )

    @_guarded
    def get_specimen(self, sha: str) -> bytes | None:
        """The module's bytes, or None if the store does not have it."""
        row = self.conn.execute(
            "SELECT data, size, last_used FROM specimens WHERE sha256 = ?", (sha,)
        ).fetchone()
        if row is None:
            return None
        try:
            data = self._codec.decompress(row[0])
        except StoreError as e:
            raise StoreError(f"{self.path}: specimen {sha[:16]}: {e}") from e.__cause__
        if len(data) != row[1] or sha256_hex(data) != sha:
            raise StoreError(f"{self.path}: specimen {sha[:16]} does not match its content address")
        if time.time() - row[2] > TOUCH_INTERVAL:
            self._touch(sha)
        return data

    def _touch(self, sha: str) -> None:
        """Refresh last_used if the write lock is free right now; a read never waits for it."""
        conn = self.conn
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            with self._write():
                conn.execute("UPDATE specimens SET last_used = ? WHERE sha256 = ?", (time.time(), sha))
        except sqlite3.OperationalError:
            pass  # busy: another process is writing; the timestamp can wait
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")

    @_guarded
    def has_specimen(self, sha: str) -> bool:
        return self.conn.execute("SELECT 1 FROM specimens WHERE sha256 = ?", (sha,)).fetchone() is not None

    @_guarded
    def specimen_info(self, sha: str) -> dict[str, Any] | None:
        """Everything known about a specimen except its bytes, or None."""
        row = self.conn.execute(f"SELECT {_INFO_COLUMNS} FROM specimens WHERE sha256 = ?", (sha,)).fetchone()
        return None if row is None else _info(row)

    @_guarded
    def top_specimens(
        self, function: str | None = None, limit: int = 10, *, include_blacklisted: bool = False
    ) -> list[dict[str, Any]]:
        """The best scored specimens (highest fitness first, unscored ones never), optionally of one function."""
        where = ["fitness IS NOT NULL"]
        args: list[Any] = []
        if function is not None:
            where.append("function = ?")
            args.append(function)
        if not include_blacklisted:
            where.append("sha256 NOT IN (SELECT sha256 FROM blacklist)")
        args.append(int(limit))
        rows = self.conn.execute(
            f"SELECT {_INFO_COLUMNS} FROM specimens WHERE {' AND '.join(where)} "
            "ORDER BY fitness DESC, created ASC, sha256 ASC LIMIT ?",
            args,
        ).fetchall()
        return [_info(r) for r in rows]

    @_guarded
    def count_specimens(self, function: str | None = None) -> int:
        if function is None:
            return self.conn.execute("SELECT count(*) FROM specimens").fetchone()[0]
        return self.conn.execute("SELECT count(*) FROM specimens WHERE function = ?", (function,)).fetchone()[0]

    # -- lineage -----------------------------------------------------------------------

    @_guarded
    def parents_of(self, sha: str) -> list[tuple[str, str | None, int | None]]:
        """The recorded parents of a specimen as (parent sha, operator, generation), oldest record first."""
        rows = self.conn.execute(
            "SELECT parent, operator, generation FROM lineage WHERE child = ? ORDER BY rowid", (sha,)
        ).fetchall()
        return [(p, op, gen) for p, op, gen in rows]

    @_guarded
    def children_of(self, sha: str) -> list[str]:
        """The specimens recorded as bred from this one (distinct, oldest record first)."""
        rows = self.conn.execute(
            "SELECT child FROM lineage WHERE parent = ? GROUP BY child ORDER BY min(rowid)", (sha,)
        ).fetchall()
        return [r[0] for r in rows]

    @_guarded
    def ancestry(self, sha: str) -> set[str]:
        """Every transitive ancestor of a specimen (not the specimen itself, unless lineage has a cycle)."""
        rows = self.conn.execute(
            """
            WITH RECURSIVE up(sha) AS (
                SELECT parent FROM lineage WHERE child = ?
                UNION
                SELECT lineage.parent FROM lineage JOIN up ON lineage.child = up.sha
            )
            SELECT sha FROM up
            """,
            (sha,),
        ).fetchall()
        return {r[0] for r in rows}

    # -- blacklist ---------------------------------------------------------------------

    @_guarded
    def blacklist(self, sha: str, reason: str) -> None:
        """Bar a module from ever being evaluated or propagated again; the first reason given is kept."""
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO blacklist (sha256, reason, created) VALUES (?, ?, ?)",
                (_check_sha(sha), str(reason), time.time()),
            )

    @_guarded
    def is_blacklisted(self, sha: str) -> bool:
        return self.conn.execute("SELECT 1 FROM blacklist WHERE sha256 = ?", (sha,)).fetchone() is not None

    @_guarded
    def blacklist_reason(self, sha: str) -> str | None:
        row = self.conn.execute("SELECT reason FROM blacklist WHERE sha256 = ?", (sha,)).fetchone()
        return None if row is None else row[0]

    @_guarded
    def blacklisted_hashes(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT sha256 FROM blacklist")}

    # -- runs --------------------------------------------------------------------------

    @_guarded
    def start_run(self, fingerprint: str, config: Mapping[str, Any]) -> int:
        """Record a new run in state 'running' and return its id."""
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO runs (fingerprint, config, status, started) VALUES (?, ?, 'running', ?)",
                (str(fingerprint), dumps_json(config), time.time()),
            )
            return int(cur.lastrowid)

    @_guarded
    def finish_run(self, run_id: int, summary: Mapping[str, Any], status: str = "finished") -> None:
        """Close a run as 'finished' or 'failed' with its summary."""
        if status not in ("finished", "failed"):
            raise StoreError(f"a run finishes as 'finished' or 'failed', not {status!r}")
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE runs SET status = ?, finished = ?, summary = ? WHERE id = ?",
                (status, time.time(), dumps_json(summary), int(run_id)),
            )
            if cur.rowcount != 1:
                raise StoreError(f"{self.path}: no run {run_id}")

    @_guarded
    def find_resumable_run(self, fingerprint: str) -> int | None:
        """The latest run with this fingerprint still marked 'running' (it was interrupted), or None."""
        row = self.conn.execute(
            "SELECT id FROM runs WHERE fingerprint = ? AND status = 'running' ORDER BY id DESC LIMIT 1",
            (str(fingerprint),),
        ).fetchone()
        return None if row is None else int(row[0])

    @_guarded
    def run_info(self, run_id: int) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT id, fingerprint, config, status, started, finished, summary FROM runs WHERE id = ?",
            (int(run_id),),
        ).fetchone()
        if row is None:
            return None
        return {
            "id": row[0], "fingerprint": row[1], "config": loads_json(row[2]), "status": row[3],
            "started": row[4], "finished": row[5], "summary": loads_json(row[6]),
        }

    # -- checkpoints and logbook -------------------------------------------------------

    @_guarded
    def save_checkpoint(self, run_id: int, generation: int, state: Mapping[str, Any]) -> None:
        """Atomically store the loop state after `generation`, keeping only the newest `keep_checkpoints` per run.

        State values may be None, bool, int (any size), float, str, bytes, list, tuple and
        dict; tuples come back as tuples.
        """
        blob = self._codec.pack_state(state)
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO checkpoints (run_id, generation, state, created) VALUES (?, ?, ?, ?)",
                (int(run_id), int(generation), blob, time.time()),
            )
            conn.execute(
                """
                DELETE FROM checkpoints WHERE run_id = ?1 AND generation NOT IN (
                    SELECT generation FROM checkpoints WHERE run_id = ?1 ORDER BY generation DESC LIMIT ?2
                )
                """,
                (int(run_id), self.keep_checkpoints),
            )

    @_guarded
    def load_checkpoint(self, run_id: int) -> tuple[int, dict[str, Any]] | None:
        """The newest checkpoint of a run as (generation, state), or None."""
        row = self.conn.execute(
            "SELECT generation, state FROM checkpoints WHERE run_id = ? ORDER BY generation DESC LIMIT 1",
            (int(run_id),),
        ).fetchone()
        if row is None:
            return None
        try:
            return int(row[0]), self._codec.unpack_state(row[1])
        except StoreError as e:
            raise StoreError(f"{self.path}: checkpoint {run_id}/{row[0]}: {e}") from e.__cause__

    @_guarded
    def checkpoint_generations(self, run_id: int) -> list[int]:
        """The generations of the checkpoints kept for a run, ascending."""
        rows = self.conn.execute(
            "SELECT generation FROM checkpoints WHERE run_id = ? ORDER BY generation", (int(run_id),)
        ).fetchall()
        return [r[0] for r in rows]

    @_guarded
    def log_generation(self, run_id: int, generation: int, row: Mapping[str, Any]) -> None:
        """Record one generation's logbook row; logging a generation again (after a resume) replaces it."""
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO logbook (run_id, generation, row) VALUES (?, ?, ?)",
                (int(run_id), int(generation), dumps_json(row)),
            )

    @_guarded
    def logbook(self, run_id: int) -> list[dict[str, Any]]:
        """A run's logbook rows in generation order."""
        rows = self.conn.execute(
            "SELECT row FROM logbook WHERE run_id = ? ORDER BY generation", (int(run_id),)
        ).fetchall()
        return [loads_json(r[0]) for r in rows]

    # -- maintenance -------------------------------------------------------------------

    @_guarded
    def stats(self) -> dict[str, Any]:
        """Counts per table and the specimen bytes raw vs compressed."""
        c = self.conn
        n, raw, packed = c.execute(
            "SELECT count(*), IFNULL(sum(size), 0), IFNULL(sum(length(data)), 0) FROM specimens"
        ).fetchone()
        runs = dict(c.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall())
        page_size = c.execute("PRAGMA page_size").fetchone()[0]
        page_count = c.execute("PRAGMA page_count").fetchone()[0]
        return {
            "specimens": n,
            "functions": c.execute("SELECT count(DISTINCT function) FROM specimens").fetchone()[0],
            "lineage_edges": c.execute("SELECT count(*) FROM lineage").fetchone()[0],
            "blacklisted": c.execute("SELECT count(*) FROM blacklist").fetchone()[0],
            "runs": {s: runs.get(s, 0) for s in RUN_STATUSES},
            "checkpoints": c.execute("SELECT count(*) FROM checkpoints").fetchone()[0],
            "logbook_rows": c.execute("SELECT count(*) FROM logbook").fetchone()[0],
            "bytes_raw": raw,
            "bytes_compressed": packed,
            "compression_ratio": (raw / packed) if packed else None,
            "db_bytes": page_size * page_count,
            "schema_version": SCHEMA_VERSION,
        }

    @_guarded
    def integrity_check(self) -> list[str]:
        """SQLite's full integrity check; an empty list means the file is sound. Reads the whole file."""
        rows = [r[0] for r in self.conn.execute("PRAGMA integrity_check").fetchall()]
        return [] if rows == ["ok"] else rows


_INFO_COLUMNS = "sha256, function, size, length(data), fuel, fitness, metrics, created, last_used"


def _info(row: tuple[Any, ...]) -> dict[str, Any]:
    sha, function, size, stored, fuel, fitness, metrics, created, last_used = row
    return {
        "sha256": sha, "function": function, "size": size, "stored_size": stored, "fuel": fuel,
        "fitness": fitness, "metrics": loads_json(metrics), "created": created, "last_used": last_used,
    }


def _as_record(item: SpecimenRecord | Mapping[str, Any]) -> SpecimenRecord:
    if isinstance(item, SpecimenRecord):
        return item
    if isinstance(item, Mapping):
        try:
            fields = dict(item)
            fields["parents"] = tuple(fields.get("parents", ()))
            return SpecimenRecord(**fields)
        except TypeError as e:
            raise StoreError(f"not a specimen record: {e}") from e
    raise StoreError(f"put_many takes SpecimenRecord or mapping items, not {type(item).__name__}")


_HEX = frozenset("0123456789abcdef")


def _check_sha(sha: str) -> str:
    if not isinstance(sha, str) or len(sha) != 64 or not _HEX.issuperset(sha):
        raise StoreError(f"not a SHA-256 hex digest: {sha!r}")
    return sha


def _reopen(root: str, timeout: float, keep_checkpoints: int) -> Store:
    return Store(Path(root), timeout=timeout, keep_checkpoints=keep_checkpoints)
