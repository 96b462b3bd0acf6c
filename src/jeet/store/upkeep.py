"""The store's upkeep: caps remembered in the data folder, and the amortised work after every write.

After each committed write a cheap check decides whether the store is over a cap (a collection by
`jeet.store.forgetting` follows), and every `MAINTAIN_EVERY` specimens written the functions they
belong to are offered a compression dictionary (`jeet.store.compression`). Like the run log it works
on the shared `Database`; `Store` forwards to it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from typing import Any

from . import compression, forgetting
from .caps import Caps, ForgettingPolicy, GcReport
from .codec import dumps_json, loads_json
from .db import Database, guarded
from ..errors import StoreError

# Without caps, the store still looks at its dictionaries after this many specimens written.
MAINTAIN_EVERY = 256
CAPS_REFRESH_S = 5.0  # how stale this process's view of the folder's remembered caps may get


class Upkeep:
    """Caps, collections and dictionary training for one store's `Database`.

    `gc_history` holds the reports of the collections it ran by itself; `last_error` the reason the
    last upkeep failed (None when it succeeded): upkeep never fails the write that triggered it.
    """

    def __init__(self, db: Database, policy: ForgettingPolicy, *, auto_gc: bool, auto_dictionaries: bool) -> None:
        self.db = db
        self.policy = policy
        self.auto_gc = auto_gc
        self.auto_dictionaries = auto_dictionaries
        self.gc_history: list[GcReport] = []
        self.last_error: str | None = None
        self._caps: Caps | None = None
        self._caps_read = 0.0
        self._approx_count: int | None = None
        self._since_maintain = 0
        self._functions_written: set[str] = set()
        self._gc_floor: tuple[Caps, int, int] | None = None

    @property
    def path(self):
        return self.db.path

    # -- caps ------------------------------------------------------------------------

    @property
    def caps(self) -> Caps:
        """The caps remembered in this data folder (re-read at most every few seconds)."""
        now = time.monotonic()
        if self._caps is None or now - self._caps_read > CAPS_REFRESH_S:
            self._caps = self._read_caps()
            self._caps_read = now
        return self._caps

    @guarded
    def set_caps(self, max_specimens: int | None, max_store_mb: float | None) -> Caps:
        """Remember exactly these caps in the data folder (None removes a cap); returns them."""
        caps = Caps(max_specimens, max_store_mb)
        with self.db.write() as conn:
            for key, value in (("max_specimens", caps.max_specimens), ("max_store_mb", caps.max_store_mb)):
                if value is None:
                    conn.execute("DELETE FROM settings WHERE key = ?", (key,))
                else:
                    conn.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, dumps_json(value)))
        self._caps, self._caps_read = caps, time.monotonic()
        self.size_wal(caps)
        return caps

    def remember(self, given: Caps) -> None:
        """Remember each cap `given` sets, keeping the remembered value of the others."""
        current = self._read_caps()
        self.set_caps(
            given.max_specimens if given.max_specimens is not None else current.max_specimens,
            given.max_store_mb if given.max_store_mb is not None else current.max_store_mb,
        )

    def _read_caps(self) -> Caps:
        values = dict(self.db.conn.execute(
            "SELECT key, value FROM settings WHERE key IN ('max_specimens', 'max_store_mb')").fetchall())
        try:
            return Caps(loads_json(values.get("max_specimens")), loads_json(values.get("max_store_mb")))
        except (StoreError, ValueError) as e:
            raise StoreError(f"{self.db.path}: the remembered caps are unreadable ({e})") from e

    def size_wal(self, caps: Caps) -> None:
        """Keep the write-ahead log small next to a size cap: it is part of the store's size on disk."""
        conn = self.db.conn
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        cap = caps.max_store_bytes
        pages = 1000 if cap is None else max(16, min(1000, cap // page // 16))
        conn.execute(f"PRAGMA wal_autocheckpoint = {pages}")
        conn.execute(f"PRAGMA journal_size_limit = {pages * page}")

    # -- collection ------------------------------------------------------------------

    @guarded
    def collect(self, max_specimens: int | None = None, max_store_mb: float | None = None, *,
                policy: ForgettingPolicy | None = None, dry_run: bool = False, recompress: bool = False,
                protect: Iterable[str] = ()) -> GcReport:
        """One collection under the given caps (the remembered ones where None); see `Store.gc`."""
        current = self.caps
        caps = Caps(
            max_specimens if max_specimens is not None else current.max_specimens,
            max_store_mb if max_store_mb is not None else current.max_store_mb,
        )
        report = forgetting.collect(self.db, caps, policy or self.policy, dry_run=dry_run, recompress=recompress,
                                    protect=frozenset(protect))
        if not dry_run:
            self._approx_count = report.specimens_after
        return report

    def after_write(self, hashes: list[str], rows: list[tuple[Any, ...]]) -> None:
        """Amortised upkeep after a committed write (of specimens, or of anything else when both lists are
        empty): a cheap cap check every time, a collection when over a cap, dictionary training every
        `MAINTAIN_EVERY` specimens. Failures here never fail the write."""
        if not (self.auto_gc or self.auto_dictionaries) or (not hashes and not self.auto_gc):
            return
        try:
            self._functions_written.update(r[1] for r in rows)
            self._since_maintain += len(hashes)
            if self.auto_dictionaries and self._since_maintain >= MAINTAIN_EVERY:
                functions, self._functions_written = self._functions_written, set()
                self._since_maintain = 0
                for adopted in self._train(functions):
                    self._recompress(adopted["function"])
            if self.auto_gc and self._over_caps(len(hashes)):
                report = self.collect(protect=hashes)
                self.gc_history.append(report)
                self._backoff(report)
            self.last_error = None
        except (StoreError, sqlite3.Error) as e:
            self.last_error = str(e)

    def _over_caps(self, written: int) -> bool:
        caps = self.caps
        limit_count, limit_bytes = caps.max_specimens, caps.max_store_bytes
        if self._gc_floor is not None and self._gc_floor[0] == caps:
            # the last collection could not get under a cap (protected specimens): wait for real growth
            _, floor_count, floor_bytes = self._gc_floor
            limit_count = None if limit_count is None else max(limit_count, floor_count)
            limit_bytes = None if limit_bytes is None else max(limit_bytes, floor_bytes)
        if limit_bytes is not None and self.db.size_on_disk() > limit_bytes:
            return True
        if limit_count is None:
            return False
        if self._approx_count is None:
            self._approx_count = self._count()
        else:
            self._approx_count += written  # an upper bound: some writes were of bytes already stored
        if self._approx_count <= limit_count:
            return False
        self._approx_count = self._count()
        return self._approx_count > limit_count

    def _backoff(self, report: GcReport) -> None:
        """After a collection that left the store over a cap, the next one waits for real growth
        (5 % of the cap, at least 16 specimens or 64 KiB), not for the next write."""
        caps = self.caps
        count_over = caps.max_specimens is not None and report.specimens_after > caps.max_specimens
        bytes_over = caps.max_store_bytes is not None and report.bytes_after > caps.max_store_bytes
        if not (count_over or bytes_over):
            self._gc_floor = None
            return
        floor_count = report.specimens_after + max(16, (caps.max_specimens or 0) // 20) if count_over else 0
        floor_bytes = report.bytes_after + max(64 * 1024, (caps.max_store_bytes or 0) // 20) if bytes_over else 0
        self._gc_floor = (caps, floor_count, floor_bytes)

    # sqlite errors below become StoreErrors naming the store, as they do from Store's public methods
    @guarded
    def _train(self, functions: Iterable[str]) -> list[dict[str, Any]]:
        return compression.train_dictionaries(self.db, list(functions), force=False)

    @guarded
    def _recompress(self, function: str) -> dict[str, Any]:
        return compression.recompress(self.db, [function])

    @guarded
    def _count(self) -> int:
        return self.db.count_specimens()
