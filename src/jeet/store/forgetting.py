"""Adaptive forgetting: which specimens the store may drop when it outgrows its caps, and dropping them safely.

**Protected, never removed:** every pinned specimen (`Store.pin`), every run's champion (the
``champion`` of a run's summary), every hash named in the newest checkpoint of an unfinished
run, the specimens an unfinished run wrote after its newest checkpoint (in flight), specimens
used within the policy's grace period, those a caller protects explicitly (the batch being
written), and the **whole ancestry** of all of these.

**Relevance of the rest** (higher is kept longer), a weighted sum of terms in [0, 1]:
fitness rank within the specimen's function (best 1, worst or unscored 0), recency of last use
(halved every `recency_half_life_s`), exponentially decayed usage ``u / (1 + u)``, and lineage
role (how many stored specimens were bred from it, saturating at 2). Blacklisted specimens
score below everything: the blacklist keeps their hash, their bytes serve nothing.

**Lineage through removed specimens.** An edge lives as long as its child: a removed specimen's
own parent edges go with it, while edges from a kept child to a removed parent stay, so a
kept specimen still names its parent's hash, and its ancestry simply ends there. Protected
ancestry is never cut, because all of it is protected.

**Tables that grow with every generation.** Under a size cap, finished runs' checkpoints are dropped
(runs that finished are never resumed), and two tables get a share of the cap: the blacklist
(`blacklist_share`; only entries a cheap re-evaluation reproduces, oldest first, see
`FORGETTABLE_BLACKLIST_REASONS`) and finished runs' logbook rows (`logbook_share`, oldest runs first).
A forgotten blacklist entry costs one evaluation if the same bytes are ever bred again; the gate of
training and held-out cases is unchanged.

**Crash safety.** The protected set is computed and the victims deleted inside one
``BEGIN IMMEDIATE`` transaction, so no writer can slip a new champion or checkpoint in between,
and a process killed at any instant leaves either the whole removal or none of it. Space is
handed back afterwards (incremental vacuum, or a full VACUUM when enough of the file is slack),
which SQLite also does atomically.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from typing import Any

from .codec import loads_json
from . import compression
from .caps import MB, Caps, ForgettingPolicy, GcReport
from .db import Database
from .relevance import Row, choose_victims
from ..errors import StoreError

# Fallback estimates of what removing one specimen frees besides its blob and metrics, for SQLite
# builds without the dbstat table: the row and its index entries, and one lineage edge with its two indexes.
ROW_OVERHEAD = 220.0
EDGE_BYTES = 380.0
# Superseded dictionaries are dropped only after this long: a writer may have compressed against one a moment ago.
DICTIONARY_GRACE_S = 600.0
# Blacklist entries a size cap may forget (oldest first): training-case outcomes one cheap evaluation
# reproduces. Held-out failures, live mismatches, crashes, timeouts and peers' reports are never forgotten.
FORGETTABLE_BLACKLIST_REASONS = ("wrong", "trap", "out_of_fuel", "invalid")

_HEX = frozenset("0123456789abcdef")


def _is_sha(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and _HEX.issuperset(value)


def _hashes_in(value: Any, out: set[str]) -> None:
    """Every SHA-256 hex string anywhere in a checkpoint state (keys included): states differ by writer."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if _is_sha(v):
                out.add(v)
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend(v)


def protected_set(db: Database, conn: sqlite3.Connection, now: float, policy: ForgettingPolicy,
                  given: frozenset[str]) -> dict[str, str]:
    """Hash -> reason for everything a collection must keep; call inside the collection's transaction."""
    roots: dict[str, str] = {}

    def add(sha: str, why: str) -> None:
        if _is_sha(sha):
            roots.setdefault(sha, why)

    for sha in given:
        add(sha, "given")
    for (sha,) in conn.execute("SELECT DISTINCT sha256 FROM pins"):
        add(sha, "pinned")
    for (summary,) in conn.execute("SELECT summary FROM runs WHERE summary IS NOT NULL"):
        try:
            doc = loads_json(summary)
        except ValueError:
            continue
        if isinstance(doc, dict):
            add(doc.get("champion"), "champion")
    newest = conn.execute(
        """
        SELECT c.run_id, c.generation, c.state FROM checkpoints c JOIN runs r ON r.id = c.run_id
        WHERE r.status = 'running'
          AND c.generation = (SELECT max(generation) FROM checkpoints WHERE run_id = c.run_id)
        """
    ).fetchall()
    for run_id, generation, blob in newest:
        try:
            state = db.codec.unpack_state(blob)
        except StoreError as e:
            # without this checkpoint we cannot know what its run still needs: refuse rather than guess
            raise StoreError(f"{db.path}: checkpoint {run_id}/{generation} is unreadable, so gc cannot tell "
                             f"what that run still needs ({e})") from e
        named: set[str] = set()
        _hashes_in(state, named)
        for sha in named:
            add(sha, "checkpoint")
    for (sha,) in conn.execute(
        """
        SELECT DISTINCT l.child FROM lineage l JOIN runs r ON r.id = l.run_id
        WHERE r.status = 'running'
          AND l.generation > IFNULL((SELECT max(generation) FROM checkpoints WHERE run_id = r.id), -1)
        """
    ):
        add(sha, "in_flight")
    for (sha,) in conn.execute("SELECT sha256 FROM specimens WHERE last_used >= ?", (now - policy.grace_s,)):
        add(sha, "recent")
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS gc_roots (sha TEXT PRIMARY KEY)")
    conn.execute("DELETE FROM gc_roots")
    conn.executemany("INSERT INTO gc_roots (sha) VALUES (?)", ((sha,) for sha in roots))
    ancestry = conn.execute(
        """
        WITH RECURSIVE up(sha) AS (
            SELECT sha FROM gc_roots
            UNION
            SELECT lineage.parent FROM lineage JOIN up ON lineage.child = up.sha
        )
        SELECT sha FROM up
        """
    ).fetchall()
    conn.execute("DELETE FROM gc_roots")
    out = dict(roots)
    for (sha,) in ancestry:
        out.setdefault(sha, "ancestry")
    return out


def _load_rows(conn: sqlite3.Connection) -> list[Row]:
    rows = conn.execute(
        """
        SELECT s.sha256, s.function, s.fitness, s.last_used, s.usage, s.created,
               length(s.data) + IFNULL(length(s.metrics), 0),
               (SELECT count(*) FROM lineage l WHERE l.child = s.sha256),
               (SELECT count(DISTINCT l.child) FROM lineage l JOIN specimens c ON c.sha256 = l.child
                 WHERE l.parent = s.sha256 AND l.child != s.sha256),
               EXISTS (SELECT 1 FROM blacklist b WHERE b.sha256 = s.sha256)
        FROM specimens s
        """
    ).fetchall()
    return [Row(r[0], r[1], r[2], r[3], r[4] or 0.0, r[5], r[6], r[7], r[8], bool(r[9])) for r in rows]


def _overheads(conn: sqlite3.Connection, rows: list[Row]) -> tuple[float, float]:
    """Bytes a specimen row costs beyond its payload, and bytes per lineage edge, measured with dbstat if present."""
    n = len(rows)
    edges = sum(r.parents for r in rows)
    try:
        live = dict(conn.execute("SELECT name, sum(pgsize - unused) FROM dbstat GROUP BY name").fetchall())
    except sqlite3.Error:
        return ROW_OVERHEAD, EDGE_BYTES
    specimen_bytes = sum(v for k, v in live.items()
                         if k == "specimens" or k.startswith("specimens_") or k == "sqlite_autoindex_specimens_1")
    lineage_bytes = sum(v for k, v in live.items() if k == "lineage" or k.startswith("lineage_"))
    payload = sum(r.payload for r in rows)
    row = (specimen_bytes - payload) / n if n else ROW_OVERHEAD
    edge = lineage_bytes / edges if edges else EDGE_BYTES
    return max(64.0, row), max(64.0, edge)


def _checkpoint_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Fold the write-ahead log into the database and truncate it, if no reader is in the way right now."""
    conn.execute("PRAGMA busy_timeout = 200")
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    except sqlite3.OperationalError:
        pass
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")


def _slack(conn: sqlite3.Connection) -> int:
    """Bytes a full VACUUM would give back: free pages plus the unused space inside pages (if dbstat exists)."""
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0] * page
    try:
        unused = conn.execute("SELECT IFNULL(sum(unused), 0) FROM dbstat").fetchone()[0]
    except sqlite3.Error:
        return free
    return free + int(unused)


def reclaim(db: Database, target_bytes: int | None, removed_bytes: int) -> str:
    """Give freed space back to the file system; a full VACUUM only when enough of the file is slack.

    Returns the kind of vacuum done. A full VACUUM also turns an old store's auto-vacuum on.
    """
    conn = db.conn
    done = "none"
    if conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2:
        conn.execute("PRAGMA incremental_vacuum").fetchall()
        done = "incremental"
    _checkpoint_wal(conn, db.timeout)
    size = db.size_on_disk()
    slack = _slack(conn)
    over = target_bytes is not None and size > target_bytes
    worth = slack >= max(64 * 1024, size // 10) or (over and slack >= 16 * 1024)
    if worth and slack > 0:
        try:
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            conn.execute("VACUUM")
            done = "full"
        except sqlite3.OperationalError:
            pass  # busy or not enough room: the space stays in the file for reuse by later writes
        _checkpoint_wal(conn, db.timeout)
    return done


def _live_bytes(conn: sqlite3.Connection, tables: tuple[str, ...]) -> int | None:
    """Bytes in use by these tables and their indexes, or None without dbstat."""
    try:
        rows = conn.execute("SELECT name, sum(pgsize - unused) FROM dbstat GROUP BY name").fetchall()
    except sqlite3.Error:
        return None
    return sum(v for k, v in rows if any(k == t or k.startswith(t + "_") or k == f"sqlite_autoindex_{t}_1"
                                         for t in tables))


def _share(conn: sqlite3.Connection, table: str, budget_bytes: float, row_bytes_guess: float) -> tuple[int, float, int]:
    """A table's rows, its bytes per row (measured, or the guess for an empty or unmeasurable table) and
    how many rows fit in `budget_bytes`."""
    n = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    live = _live_bytes(conn, (table,))
    per = live / n if n and live else row_bytes_guess
    return n, per, int(budget_bytes / per)


def _trim_shares(conn: sqlite3.Connection, cap_bytes: int, policy: ForgettingPolicy) -> tuple[int, int, float]:
    """Keep the forgettable blacklist and finished runs' logbooks within their shares of a size cap;
    returns entries forgotten, logbook rows removed, and an estimate of the bytes freed."""
    forgotten = logbook_removed = 0
    freed = 0.0
    if policy.blacklist_share is not None:
        n, per, allowed = _share(conn, "blacklist", policy.blacklist_share * cap_bytes, 90.0)
        if n > allowed:
            marks = ",".join("?" * len(FORGETTABLE_BLACKLIST_REASONS))
            forgotten = conn.execute(
                f"""
                DELETE FROM blacklist WHERE sha256 IN (
                    SELECT sha256 FROM blacklist WHERE reason IN ({marks}) ORDER BY created LIMIT ?
                )
                """,
                (*FORGETTABLE_BLACKLIST_REASONS, n - int(allowed * policy.size_low_water)),
            ).rowcount
            freed += forgotten * per
    if policy.logbook_share is not None:
        n, per, allowed = _share(conn, "logbook", policy.logbook_share * cap_bytes, 450.0)
        if n > allowed:
            logbook_removed = conn.execute(
                """
                DELETE FROM logbook WHERE rowid IN (
                    SELECT l.rowid FROM logbook l JOIN runs r ON r.id = l.run_id
                    WHERE r.status != 'running' ORDER BY l.run_id, l.generation LIMIT ?
                )
                """,
                (n - int(allowed * policy.size_low_water),),
            ).rowcount
            freed += logbook_removed * per
    return forgotten, logbook_removed, freed


def _drop_dead_dictionaries(conn: sqlite3.Connection, now: float) -> int:
    """Delete dictionaries no blob uses that are superseded (or whose function has no specimens left)."""
    cur = conn.execute(
        """
        DELETE FROM dictionaries
        WHERE created < ?
          AND NOT EXISTS (SELECT 1 FROM specimens s WHERE s.dict_id = dictionaries.id)
          AND (version < (SELECT max(version) FROM dictionaries d WHERE d.function = dictionaries.function)
               OR NOT EXISTS (SELECT 1 FROM specimens s WHERE s.function = dictionaries.function))
        """,
        (now - DICTIONARY_GRACE_S,),
    )
    return cur.rowcount


def collect(db: Database, caps: Caps, policy: ForgettingPolicy, *, dry_run: bool = False,
            recompress: bool = False, protect: frozenset[str] = frozenset()) -> GcReport:
    """One collection (see the module docstring); `Store.gc` is the public entry."""
    started = time.perf_counter()
    conn = db.conn
    bytes_before = db.size_on_disk()
    count_before = db.count_specimens()
    notes: list[str] = []
    trained = recompressed = 0
    reclaimed = False
    cap_bytes = caps.max_store_bytes
    over_size = cap_bytes is not None and bytes_before > cap_bytes
    vacuum = "none"
    if recompress and not dry_run:
        trained = len(compression.train_dictionaries(db, None, force=True))
        outcome = compression.recompress(db, None)
        recompressed = outcome["rewritten"]
        if recompressed:
            vacuum = reclaim(db, cap_bytes, outcome["bytes_before"] - outcome["bytes_after"])
            reclaimed = True
    if cap_bytes is not None and not dry_run and db.size_on_disk() > cap_bytes:
        vacuum = _stronger(vacuum, reclaim(db, cap_bytes, 0))  # the excess may be only log and free pages
        reclaimed = True
    removed: list[Row] = []
    edges_removed = checkpoints_removed = dicts_removed = blacklist_forgotten = logbook_removed = 0
    protected: dict[str, str] = {}
    present_protected = 0
    factor = 1.0
    rounds = 0
    for rounds in range(1, policy.max_rounds + 1):
        now = time.time()
        conn.execute("BEGIN" if dry_run else "BEGIN IMMEDIATE")
        try:
            protected = protected_set(db, conn, now, policy, protect)
            rows = _load_rows(conn)
            present_protected = sum(1 for r in rows if r.sha in protected)
            candidates = [r for r in rows if r.sha not in protected]
            need_count = 0
            if caps.max_specimens is not None and len(rows) > caps.max_specimens:
                need_count = len(rows) - int(caps.max_specimens * policy.low_water)
            size = db.size_on_disk()
            need_bytes = 0.0
            over = need_count > 0
            row_cost, edge_cost = 1.0, 1.0
            # once over the size cap (even if only by its log, now folded in), go down to the low water mark
            if cap_bytes is not None and size > cap_bytes * policy.size_low_water and (over_size or size > cap_bytes):
                need_bytes = (size - cap_bytes * policy.size_low_water) * factor
                row_cost, edge_cost = _overheads(conn, rows)
                over = True
                if rounds == 1 and not dry_run:
                    blacklist_forgotten, logbook_removed, trimmed = _trim_shares(conn, cap_bytes, policy)
                    need_bytes = max(0.0, need_bytes - trimmed)
            victims = choose_victims(rows, candidates, now, policy, need_count, need_bytes, row_cost, edge_cost)
            if dry_run:
                removed.extend(victims)
                conn.execute("ROLLBACK")
                break
            if victims:
                shas = [(r.sha,) for r in victims]
                edges_removed += conn.executemany("DELETE FROM lineage WHERE child = ?", shas).rowcount
                conn.executemany("DELETE FROM specimens WHERE sha256 = ?", shas)
                removed.extend(victims)
            if rounds == 1 and over:
                # finished runs are never resumed: their checkpoints only hold hashes nobody reads
                checkpoints_removed = conn.execute(
                    "DELETE FROM checkpoints WHERE run_id IN (SELECT id FROM runs WHERE status != 'running')"
                ).rowcount
            dicts_removed += _drop_dead_dictionaries(conn, now)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if not victims and need_bytes <= 0 and not (rounds == 1 and (blacklist_forgotten or logbook_removed)):
            break
        estimate = sum(r.payload + row_cost + r.parents * edge_cost for r in victims)
        vacuum = _stronger(vacuum, reclaim(db, cap_bytes, int(estimate)))
        reclaimed = True
        after = db.size_on_disk()
        if cap_bytes is None or after <= cap_bytes or len(victims) == len(candidates):
            break
        # the file shrank less than estimated: ask the next round for proportionally more
        factor = min(8.0, max(1.0, estimate / max(1, size - after)))
    if not dry_run and not reclaimed:
        vacuum = _stronger(vacuum, reclaim(db, cap_bytes, 0))  # slack left by earlier deletes or rewrites
    count_after = count_before - len(removed) if dry_run else db.count_specimens()
    bytes_after = db.size_on_disk()
    if dry_run and cap_bytes is not None:
        notes.append("dry run: bytes_after is the size now; removal would shrink it after vacuum")
    cap_met = True
    if caps.max_specimens is not None and count_after > caps.max_specimens:
        cap_met = False
        notes.append(f"max_specimens {caps.max_specimens} not met: {present_protected} protected specimens "
                     f"(live champions, pins, unfinished runs and their ancestry) are never removed")
    if cap_bytes is not None and bytes_after > cap_bytes and not dry_run:
        cap_met = False
        other = _live_bytes(conn, ("blacklist", "logbook", "runs", "checkpoints"))
        detail = f" ({other / MB:.2f} MiB of them blacklist, logbook, runs and checkpoints)" if other else ""
        notes.append(f"max_store_mb {caps.max_store_mb:g} not met: {bytes_after / MB:.2f} MiB remain{detail}; "
                     f"protected specimens and what is never pruned take the rest")
    if not caps.any:
        notes.append("no caps set: nothing is removed (give --max-specimens / --max-store-mb once to remember them)")
    why = Counter(protected.values())
    present = _present_breakdown(conn, protected)
    kept_by_function = dict(conn.execute("SELECT function, count(*) FROM specimens GROUP BY function").fetchall())
    if dry_run:
        for r in removed:
            kept_by_function[r.function] -= 1
    return GcReport(
        caps=caps,
        dry_run=dry_run,
        specimens_before=count_before,
        specimens_after=count_after,
        removed=len(removed),
        protected=present_protected,
        protected_by={k: present.get(k, 0) for k in sorted(why)},
        bytes_before=bytes_before,
        bytes_after=bytes_after,
        blob_bytes_removed=sum(r.payload for r in removed),
        lineage_edges_removed=edges_removed,
        checkpoints_removed=checkpoints_removed,
        blacklist_forgotten=blacklist_forgotten,
        logbook_rows_removed=logbook_removed,
        dictionaries_removed=dicts_removed,
        dictionaries_trained=trained,
        recompressed=recompressed,
        vacuum=vacuum,
        rounds=rounds,
        cap_met=cap_met,
        notes=tuple(notes),
        removed_by_function=dict(Counter(r.function for r in removed)),
        kept_by_function={k: v for k, v in sorted(kept_by_function.items()) if v},
        removed_hashes=tuple(r.sha for r in removed),
        seconds=round(time.perf_counter() - started, 4),
    )


def _stronger(a: str, b: str) -> str:
    order = ("none", "incremental", "full")
    return max(a, b, key=order.index)


def _present_breakdown(conn: sqlite3.Connection, protected: dict[str, str]) -> dict[str, int]:
    """Protected specimens the store actually holds, counted by reason."""
    if not protected:
        return {}
    present: Counter[str] = Counter()
    items = list(protected.items())
    for i in range(0, len(items), 500):
        chunk = items[i:i + 500]
        marks = ",".join("?" * len(chunk))
        have = {r[0] for r in conn.execute(f"SELECT sha256 FROM specimens WHERE sha256 IN ({marks})",
                                           [sha for sha, _ in chunk])}
        present.update(why for sha, why in chunk if sha in have)
    return dict(present)
