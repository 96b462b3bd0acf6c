"""The specimen store: one SQLite file in WAL mode holding every module jeet has seen.

Specimens are addressed by the SHA-256 of their bytes and stored zstd-compressed, with
their lineage, the blacklist, runs, checkpoints and the per-generation logbook beside them.
Every write is one ``BEGIN IMMEDIATE`` transaction, so a process killed at any instant
leaves the file consistent (committed work is kept, the rest rolls back on next open), and
several processes may share a store: writers queue on the busy timeout.

The store also forgets: given caps (`max_specimens`, `max_store_mb`, remembered in the data
folder) it prunes the specimens that matter least whenever writes push it over them, never a
live champion or its ancestry (see `jeet.store.forgetting`), and it compresses each function's
specimens against a dictionary trained on its own population when that measurably helps
(see `jeet.store.compression`). The caps and that upkeep live in `jeet.store.upkeep`, how a
specimen becomes a row in `jeet.store.specimens`, runs in `jeet.store.runlog`: each takes the
one `Database`.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..address import content_address as sha256_hex  # noqa: F401 (re-exported by jeet.store)
from . import compression, forgetting
from .db import DB_NAME, Database, describe, guarded, open_database
from ..errors import StoreError
from .caps import Caps, ForgettingPolicy, GcReport
from .relevance import decay
from .runlog import RunLog
from .schema import SCHEMA_VERSION
from .specimens import INFO_COLUMNS, SpecimenRecord, as_record, check_sha, info, insert, prepare
from .upkeep import Upkeep

# Refreshing last_used on every read would turn reads into writes; once a minute is enough for LRU pruning.
TOUCH_INTERVAL = 60.0


def default_data_dir() -> Path:
    """Where jeet keeps its data unless told otherwise: ``$JEET_DATA``, else ``~/.jeet``."""
    env = os.environ.get("JEET_DATA")
    return Path(env).expanduser() if env else Path.home() / ".jeet"


class Store:
    """A jeet specimen store rooted at a directory (``root / "jeet.db"``).

    Use it as a context manager or call `close`. One `Store` belongs to one thread; other
    processes open their own `Store` on the same root. Pickling a `Store` pickles its
    location: the receiver opens its own connection.
    """

    def __init__(
        self,
        root: Path | str,
        *,
        timeout: float = 30.0,
        keep_checkpoints: int = 3,
        max_specimens: int | None = None,
        max_store_mb: float | None = None,
        policy: ForgettingPolicy | None = None,
        auto_gc: bool = True,
        auto_dictionaries: bool = True,
    ) -> None:
        """Open (creating if needed) the store under `root`.

        Caps given here are remembered in the data folder (each one given replaces the remembered
        one); caps not given come from the folder. With `auto_gc`, writes that push the store over
        a cap trigger `gc` (checked cheaply on every write, collected down to the policy's low
        water mark, so the work is amortised). With `auto_dictionaries`, every `upkeep.MAINTAIN_EVERY`
        specimens written the store trains and adopts compression dictionaries where they help.
        """
        self.root = Path(root).expanduser()
        self.path = self.root / DB_NAME
        self.timeout = timeout
        if keep_checkpoints < 1:
            raise StoreError("keep_checkpoints must be at least 1")
        self.keep_checkpoints = keep_checkpoints
        given = Caps(max_specimens, max_store_mb)  # validates before anything is created
        self._reads: dict[str, int] = {}
        self.db: Database = open_database(self.root, timeout, decay)
        self.upkeep = Upkeep(self.db, policy or ForgettingPolicy(), auto_gc=auto_gc,
                             auto_dictionaries=auto_dictionaries)
        self.runs = RunLog(self.db, keep_checkpoints, lambda: self.upkeep.after_write([], []))
        try:
            if given.max_specimens is not None or given.max_store_mb is not None:
                self.upkeep.remember(given)
            self.upkeep.size_wal(self.upkeep.caps)
        except sqlite3.Error as e:
            self.db.close()
            raise StoreError(f"{self.path}: {describe(e)}") from e
        except StoreError:
            self.db.close()
            raise

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (idempotent); the WAL is checkpointed by SQLite when the last connection closes.

        Reads counted since their specimen was last touched are folded into its usage first,
        if the write lock is free right now.
        """
        if not self.db.closed and self._reads:
            try:
                self._flush_reads()
            except sqlite3.Error:
                pass
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> tuple[Any, ...]:
        # caps are not sent along: they are remembered in the folder and the receiver reads them there
        return (_reopen, (str(self.root), self.timeout, self.keep_checkpoints, self.policy, self.auto_gc,
                          self.auto_dictionaries))

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    @property
    def policy(self) -> ForgettingPolicy:
        return self.upkeep.policy

    @property
    def auto_gc(self) -> bool:
        return self.upkeep.auto_gc

    @property
    def auto_dictionaries(self) -> bool:
        return self.upkeep.auto_dictionaries

    @property
    def gc_history(self) -> list[GcReport]:
        """Reports of the collections this instance ran by itself."""
        return self.upkeep.gc_history

    @property
    def last_maintenance_error(self) -> str | None:
        """Why the last upkeep after a write failed (None: it did not); upkeep never fails the write."""
        return self.upkeep.last_error

    # -- specimens ---------------------------------------------------------------------

    @guarded
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
        hashes, rows, edges = prepare(self.db, [record], time.time())
        with self.db.write() as conn:
            insert(conn, rows, edges)
        self.upkeep.after_write(hashes, rows)
        return hashes[0]

    @guarded
    def put_many(self, items: Iterable[SpecimenRecord | Mapping[str, Any]]) -> list[str]:
        """Store many specimens in one transaction (a whole generation); returns their hashes in order.

        Each item is a `SpecimenRecord` or a mapping with the same keys.
        """
        records = [as_record(item) for item in items]
        if not records:
            return []
        hashes, rows, edges = prepare(self.db, records, time.time())
        with self.db.write() as conn:
            insert(conn, rows, edges)
        self.upkeep.after_write(hashes, rows)
        return hashes

    @guarded
    def get_specimen(self, sha: str) -> bytes | None:
        """The module's bytes, or None if the store does not have it."""
        row = self.conn.execute(
            "SELECT data, size, last_used, dict_id FROM specimens WHERE sha256 = ?", (sha,)
        ).fetchone()
        if row is None:
            return None
        data = self.db.decode(sha, row[0], row[1], row[3])
        self._reads[sha] = self._reads.get(sha, 0) + 1
        if time.time() - row[2] > TOUCH_INTERVAL:
            self._touch(sha)
        return data

    def _touch(self, sha: str) -> None:
        """Refresh last_used and fold the reads counted so far into usage, if the write lock is free
        right now; a read never waits for it (the count waits for the next touch instead)."""
        n = self._reads.pop(sha, 0)
        try:
            with self.db.no_wait(), self.db.write() as conn:
                now = time.time()
                conn.execute(
                    "UPDATE specimens SET usage = jeet_decay(usage, last_used, ?1) + ?2, last_used = ?1 "
                    "WHERE sha256 = ?3",
                    (now, n, sha),
                )
        except sqlite3.OperationalError:
            self._reads[sha] = self._reads.get(sha, 0) + n  # busy: another process is writing; it can wait

    def _flush_reads(self) -> None:
        pending, self._reads = self._reads, {}
        with self.db.no_wait(), self.db.write() as conn:
            now = time.time()
            conn.executemany(
                "UPDATE specimens SET usage = jeet_decay(usage, last_used, ?1) + ?2, last_used = ?1 "
                "WHERE sha256 = ?3",
                [(now, n, sha) for sha, n in pending.items()],
            )

    @guarded
    def has_specimen(self, sha: str) -> bool:
        return self.conn.execute("SELECT 1 FROM specimens WHERE sha256 = ?", (sha,)).fetchone() is not None

    @guarded
    def specimen_info(self, sha: str) -> dict[str, Any] | None:
        """Everything known about a specimen except its bytes, or None."""
        row = self.conn.execute(f"SELECT {INFO_COLUMNS} FROM specimens WHERE sha256 = ?", (sha,)).fetchone()
        return None if row is None else info(row)

    @guarded
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
            f"SELECT {INFO_COLUMNS} FROM specimens WHERE {' AND '.join(where)} "
            "ORDER BY fitness DESC, created ASC, sha256 ASC LIMIT ?",
            args,
        ).fetchall()
        return [info(r) for r in rows]

    @guarded
    def count_specimens(self, function: str | None = None) -> int:
        return self.db.count_specimens(function)

    # -- lineage -----------------------------------------------------------------------

    @guarded
    def parents_of(self, sha: str) -> list[tuple[str, str | None, int | None]]:
        """The recorded parents of a specimen as (parent sha, operator, generation), oldest record first."""
        rows = self.conn.execute(
            "SELECT parent, operator, generation FROM lineage WHERE child = ? ORDER BY rowid", (sha,)
        ).fetchall()
        return [(p, op, gen) for p, op, gen in rows]

    @guarded
    def children_of(self, sha: str) -> list[str]:
        """The specimens recorded as bred from this one (distinct, oldest record first)."""
        rows = self.conn.execute(
            "SELECT child FROM lineage WHERE parent = ? GROUP BY child ORDER BY min(rowid)", (sha,)
        ).fetchall()
        return [r[0] for r in rows]

    @guarded
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

    @guarded
    def blacklist(self, sha: str, reason: str) -> None:
        """Bar a module from ever being evaluated or propagated again; the first reason given is kept."""
        with self.db.write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO blacklist (sha256, reason, created) VALUES (?, ?, ?)",
                (check_sha(sha), str(reason), time.time()),
            )
        self.upkeep.after_write([], [])

    @guarded
    def is_blacklisted(self, sha: str) -> bool:
        return self.conn.execute("SELECT 1 FROM blacklist WHERE sha256 = ?", (sha,)).fetchone() is not None

    @guarded
    def blacklist_reason(self, sha: str) -> str | None:
        row = self.conn.execute("SELECT reason FROM blacklist WHERE sha256 = ?", (sha,)).fetchone()
        return None if row is None else row[0]

    @guarded
    def blacklisted_hashes(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT sha256 FROM blacklist")}

    @guarded
    def blacklisted_prefixes(self) -> list[int]:
        """The first 64 bits of every blacklisted hash: the compact form a run keeps in each process (a
        data folder gathers hundreds of thousands of them over its runs)."""
        return [int(r[0][:16], 16) for r in self.conn.execute("SELECT sha256 FROM blacklist")]

    # -- runs, checkpoints and logbook: the run log's, on the same database -------------

    def start_run(self, fingerprint: str, config: Mapping[str, Any]) -> int:
        return self.runs.start_run(fingerprint, config)

    def finish_run(self, run_id: int, summary: Mapping[str, Any], status: str = "finished") -> None:
        self.runs.finish_run(run_id, summary, status)

    def find_resumable_run(self, fingerprint: str) -> int | None:
        return self.runs.find_resumable_run(fingerprint)

    def run_info(self, run_id: int) -> dict[str, Any] | None:
        return self.runs.run_info(run_id)

    def save_checkpoint(self, run_id: int, generation: int, state: Mapping[str, Any]) -> None:
        self.runs.save_checkpoint(run_id, generation, state)

    def load_checkpoint(self, run_id: int) -> tuple[int, dict[str, Any]] | None:
        return self.runs.load_checkpoint(run_id)

    def checkpoint_generations(self, run_id: int) -> list[int]:
        return self.runs.checkpoint_generations(run_id)

    def log_generation(self, run_id: int, generation: int, row: Mapping[str, Any]) -> None:
        self.runs.log_generation(run_id, generation, row)

    def logbook(self, run_id: int) -> list[dict[str, Any]]:
        return self.runs.logbook(run_id)

    @guarded
    def missing(self, hashes: Iterable[str]) -> set[str]:
        """Those of `hashes` the store has no bytes for (never stored, or forgotten by `gc`)."""
        wanted = list(dict.fromkeys(hashes))
        have: set[str] = set()
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            marks = ",".join("?" * len(chunk))
            have.update(r[0] for r in self.conn.execute(
                f"SELECT sha256 FROM specimens WHERE sha256 IN ({marks})", chunk))
        return {h for h in wanted if h not in have}

    # -- pins --------------------------------------------------------------------------

    @guarded
    def pin(self, sha: str, reason: str) -> None:
        """Protect a specimen and its whole ancestry from `gc` until every reason it was pinned for is unpinned.

        Pinning a hash the store does not hold (yet) is allowed: it protects the specimen once stored.
        """
        if not reason:
            raise StoreError("a pin needs a reason (who holds it and why)")
        with self.db.write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO pins (sha256, reason, created) VALUES (?, ?, ?)",
                (check_sha(sha), str(reason), time.time()),
            )

    @guarded
    def unpin(self, sha: str, reason: str | None = None) -> int:
        """Drop the pin held for `reason` (every pin of the specimen when None); returns how many were dropped."""
        with self.db.write() as conn:
            if reason is None:
                cur = conn.execute("DELETE FROM pins WHERE sha256 = ?", (sha,))
            else:
                cur = conn.execute("DELETE FROM pins WHERE sha256 = ? AND reason = ?", (sha, str(reason)))
            return cur.rowcount

    @guarded
    def pinned(self) -> dict[str, list[str]]:
        """Every pinned hash with the reasons it is pinned for (oldest pin first)."""
        out: dict[str, list[str]] = {}
        for sha, reason in self.conn.execute("SELECT sha256, reason FROM pins ORDER BY created, rowid"):
            out.setdefault(sha, []).append(reason)
        return out

    # -- caps and settings -------------------------------------------------------------

    @property
    def caps(self) -> Caps:
        """The caps remembered in this data folder (re-read at most every few seconds)."""
        return self.upkeep.caps

    @guarded
    def set_caps(self, max_specimens: int | None, max_store_mb: float | None) -> Caps:
        """Remember exactly these caps in the data folder (None removes a cap); returns them."""
        return self.upkeep.set_caps(max_specimens, max_store_mb)

    def size_on_disk(self) -> int:
        """Bytes the store occupies in the file system: the database file and its write-ahead log."""
        return self.db.size_on_disk()

    # -- forgetting and compression ----------------------------------------------------

    @guarded
    def gc(
        self,
        max_specimens: int | None = None,
        max_store_mb: float | None = None,
        *,
        policy: ForgettingPolicy | None = None,
        dry_run: bool = False,
        recompress: bool = False,
        protect: Iterable[str] = (),
    ) -> GcReport:
        """Prune the least relevant specimens until the store is under its caps; return what was done.

        Caps default to the remembered ones (given ones are used for this collection only; use
        `set_caps` to remember them). Live champions, pinned specimens, the newest checkpoint of
        every unfinished run, specimens in flight, `protect`, and the whole ancestry of all of
        these are never removed; when they alone exceed a cap the report says so. With
        `recompress`, dictionaries are (re)trained and every blob recompressed first.
        """
        return self.upkeep.collect(max_specimens, max_store_mb, policy=policy, dry_run=dry_run, recompress=recompress,
                                   protect=protect)

    @guarded
    def protected(self, protect: Iterable[str] = ()) -> dict[str, str]:
        """What `gc` would never remove right now: hash -> why (pinned, champion, checkpoint, in flight,
        recent, given, or ancestry), including hashes the store holds no bytes for."""
        conn = self.conn
        conn.execute("BEGIN")
        try:
            return forgetting.protected_set(self.db, conn, time.time(), self.policy, frozenset(protect))
        finally:
            conn.execute("ROLLBACK")

    @guarded
    def train_dictionaries(self, functions: Iterable[str] | None = None, *,
                           force: bool = False) -> list[dict[str, Any]]:
        """Train a dictionary for each function that is due one (or every function with enough
        specimens, with `force`) and keep those that measurably help; returns the adopted ones."""
        return compression.train_dictionaries(self.db, None if functions is None else list(functions), force=force)

    @guarded
    def recompress(self, functions: Iterable[str] | None = None) -> dict[str, Any]:
        """Rewrite blobs not compressed with their function's newest dictionary, keeping whichever of
        dictionary and plain frame is smaller; returns counts and bytes before/after."""
        return compression.recompress(self.db, None if functions is None else list(functions))

    @guarded
    def compression_report(self, limit: int = 5000) -> dict[str, Any]:
        """Bytes per specimen measured on up to `limit` specimens: raw, plain zstd, zstd with the
        function's current dictionary, and as stored."""
        return compression.compression_report(self.db, limit)

    @guarded
    def dictionaries(self) -> list[dict[str, Any]]:
        """Every stored dictionary with how many blobs use it, oldest first."""
        rows = self.conn.execute(
            """
            SELECT d.id, d.function, d.version, d.zstd_id, length(d.data), d.samples, d.plain_bytes, d.dict_bytes,
                   d.created, (SELECT count(*) FROM specimens s WHERE s.dict_id = d.id)
            FROM dictionaries d ORDER BY d.id
            """
        ).fetchall()
        keys = ("id", "function", "version", "zstd_id", "bytes", "samples", "held_out_plain_bytes",
                "held_out_dict_bytes", "created", "blobs")
        return [dict(zip(keys, r)) for r in rows]

    # -- maintenance -------------------------------------------------------------------

    @guarded
    def stats(self) -> dict[str, Any]:
        """Counts per table, the specimen bytes raw vs compressed (plain frames and dictionary frames
        apart), bytes per specimen, dictionaries, pins, caps and the size on disk. Cheap: nothing is
        recompressed; `compression_report` measures the alternatives."""
        c = self.conn
        n, raw, packed = c.execute(
            "SELECT count(*), IFNULL(sum(size), 0), IFNULL(sum(length(data)), 0) FROM specimens"
        ).fetchone()
        n_dict, raw_dict, packed_dict = c.execute(
            "SELECT count(*), IFNULL(sum(size), 0), IFNULL(sum(length(data)), 0) FROM specimens "
            "WHERE dict_id IS NOT NULL"
        ).fetchone()
        n_dicts, dict_bytes = c.execute("SELECT count(*), IFNULL(sum(length(data)), 0) FROM dictionaries").fetchone()
        page_size = c.execute("PRAGMA page_size").fetchone()[0]
        page_count = c.execute("PRAGMA page_count").fetchone()[0]
        caps = self.caps
        per = (lambda b: round(b / n, 1)) if n else (lambda b: None)
        return {
            "specimens": n,
            "functions": c.execute("SELECT count(DISTINCT function) FROM specimens").fetchone()[0],
            "lineage_edges": c.execute("SELECT count(*) FROM lineage").fetchone()[0],
            "blacklisted": c.execute("SELECT count(*) FROM blacklist").fetchone()[0],
            "runs": self.runs.status_counts(),
            "checkpoints": c.execute("SELECT count(*) FROM checkpoints").fetchone()[0],
            "logbook_rows": c.execute("SELECT count(*) FROM logbook").fetchone()[0],
            "pinned": c.execute("SELECT count(DISTINCT sha256) FROM pins").fetchone()[0],
            "bytes_raw": raw,
            "bytes_compressed": packed,
            "compression_ratio": (raw / packed) if packed else None,
            "specimens_plain": n - n_dict,
            "bytes_raw_plain": raw - raw_dict,
            "bytes_compressed_plain": packed - packed_dict,
            "specimens_with_dictionary": n_dict,
            "bytes_raw_with_dictionary": raw_dict,
            "bytes_compressed_with_dictionary": packed_dict,
            "dictionaries": n_dicts,
            "dictionary_bytes": dict_bytes,
            "bytes_per_specimen": {
                "raw": per(raw),
                "compressed": per(packed),
                "compressed_with_dictionaries": per(packed + dict_bytes),  # the dictionaries' own bytes shared out
                "plain_frames": round((packed - packed_dict) / (n - n_dict), 1) if n - n_dict else None,
                "dictionary_frames": round(packed_dict / n_dict, 1) if n_dict else None,
                "on_disk": per(self.size_on_disk()),
            },
            "db_bytes": page_size * page_count,
            "store_bytes": self.size_on_disk(),
            "caps": caps.to_dict(),
            "schema_version": SCHEMA_VERSION,
        }

    @guarded
    def integrity_check(self) -> list[str]:
        """SQLite's full integrity check; an empty list means the file is sound. Reads the whole file."""
        rows = [r[0] for r in self.conn.execute("PRAGMA integrity_check").fetchall()]
        return [] if rows == ["ok"] else rows


def _reopen(root: str, timeout: float, keep_checkpoints: int, policy: ForgettingPolicy | None = None,
            auto_gc: bool = True, auto_dictionaries: bool = True) -> Store:
    return Store(Path(root), timeout=timeout, keep_checkpoints=keep_checkpoints, policy=policy, auto_gc=auto_gc,
                 auto_dictionaries=auto_dictionaries)

