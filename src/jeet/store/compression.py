"""Dictionary compression of stored specimens: when to train, adopting what helps, recompressing, measuring.

Dictionaries are versioned per function (``dictionaries.version``); new blobs use the newest.
A blob always names the dictionary it needs (``specimens.dict_id``, a foreign key, so SQLite
refuses to delete a dictionary any blob still uses), and old blobs stay readable whatever
is trained later. Superseded dictionaries are dropped by `gc` once no blob uses them.
"""

from __future__ import annotations

import time
from typing import Any

from . import dictionaries as dl
from .codec import Dictionary, dumps_json, loads_json
from .db import Database
from ..errors import StoreError

RECOMPRESS_BATCH = 500


def _attempt_key(function: str) -> str:
    return f"dictionary_attempt/{function}"


def _attempt(db: Database, function: str) -> dict[str, float]:
    row = db.conn.execute("SELECT value FROM settings WHERE key = ?", (_attempt_key(function),)).fetchone()
    value = loads_json(row[0]) if row else None
    return value if isinstance(value, dict) else {"at": 0.0, "wait": 0}


def _due(db: Database, function: str, population: int, current: Dictionary | None) -> bool:
    """A function is due a (new) dictionary when enough specimens arrived since the last one or the last try.

    A try that adopted nothing doubles the wait before the next (a population zstd cannot learn from
    should not cost a training run every few hundred writes).
    """
    conn = db.conn
    attempt = _attempt(db, function)
    if current is None:
        if not attempt["at"]:
            return population >= dl.MIN_SAMPLES
        since, needed = attempt["at"], attempt["wait"]
    else:
        created, samples = conn.execute(
            "SELECT created, samples FROM dictionaries WHERE id = ?", (current.id,)).fetchone()
        since = max(attempt["at"], created)
        needed = max(16 * dl.MIN_SAMPLES, dl.RETRAIN_AFTER * samples)  # the population has turned over
        if attempt["at"] > created:
            needed = max(needed, attempt["wait"])
    fresh = conn.execute(
        "SELECT count(*) FROM specimens WHERE function = ? AND created > ?", (function, since)).fetchone()[0]
    return fresh >= needed


def _samples(db: Database, function: str, limit: int) -> list[bytes]:
    """Up to `limit` specimens of a function, decoded, oldest first: the newest half of them (what is
    being written now) and the rest spread evenly over the older ones (what recompression rewrites).
    Unreadable blobs are skipped."""
    conn = db.conn
    order = [r[0] for r in conn.execute(
        "SELECT sha256 FROM specimens WHERE function = ? ORDER BY created, sha256", (function,))]
    if len(order) > limit:
        newest = order[-(limit // 2):]
        older = order[:-(limit // 2)]
        step = len(older) / (limit - len(newest))
        order = [older[int(i * step)] for i in range(limit - len(newest))] + newest
    out = []
    for sha in order:
        row = conn.execute("SELECT data, size, dict_id FROM specimens WHERE sha256 = ?", (sha,)).fetchone()
        if row is None:
            continue
        try:
            out.append(db.decode(sha, row[0], row[1], row[2]))
        except StoreError:
            continue
    return out


def train_dictionaries(db: Database, functions: list[str] | None, *, force: bool) -> list[dict[str, Any]]:
    """See `Store.train_dictionaries`."""
    conn = db.conn
    counts = dict(conn.execute("SELECT function, count(*) FROM specimens GROUP BY function").fetchall())
    names = sorted(counts) if functions is None else [f for f in functions if f in counts]
    adopted = []
    level = db.codec.level
    for function in names:
        population = counts[function]
        if population < dl.MIN_SAMPLES:
            continue
        current = db.current_dictionaries({function}).get(function)
        if not force and not _due(db, function, population, current):
            continue
        samples = _samples(db, function, dl.MAX_SAMPLES)
        candidate = dl.train(samples, level)
        now = time.time()
        reference = 0
        if candidate is not None:
            reference = (candidate.plain_bytes if current is None
                         else dl.measure(samples[1::2], level, current.data))
        adopt = candidate is not None and dl.worth_adopting(candidate, reference, population)
        wait = 0 if adopt else min(dl.MAX_RETRY_WAIT, max(dl.MIN_SAMPLES, 2 * int(_attempt(db, function)["wait"])))
        with db.write() as w:
            w.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                      (_attempt_key(function), dumps_json({"at": now, "wait": wait})))
        if not adopt:
            continue
        with db.write() as w:
            version = w.execute("SELECT IFNULL(max(version), 0) + 1 FROM dictionaries WHERE function = ?",
                                (function,)).fetchone()[0]
            cur = w.execute(
                """
                INSERT INTO dictionaries (function, version, zstd_id, data, samples, plain_bytes, dict_bytes, created)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """,
                (function, version, candidate.zstd_id, candidate.data, candidate.samples, reference,
                 candidate.dict_bytes, now),
            )
        adopted.append({
            "id": int(cur.lastrowid), "function": function, "version": version, "bytes": len(candidate.data),
            "samples": candidate.samples, "held_out": candidate.held_out,
            "held_out_reference_bytes": reference, "held_out_dict_bytes": candidate.dict_bytes,
        })
    return adopted


def recompress(db: Database, functions: list[str] | None) -> dict[str, Any]:
    """See `Store.recompress`. Blobs are rewritten in batches, each its own transaction; a rewritten blob
    decodes to the same bytes (checked against the content address before it is written)."""
    conn = db.conn
    names = [r[0] for r in conn.execute("SELECT DISTINCT function FROM specimens ORDER BY function")]
    if functions is not None:
        wanted = set(functions)
        names = [f for f in names if f in wanted]
    codec = db.codec
    examined = rewritten = unreadable = 0
    bytes_before = bytes_after = 0
    for function in names:
        current = db.current_dictionaries({function}).get(function)
        if current is None:
            continue  # never had a dictionary: every blob is already a plain frame
        rows = conn.execute(
            "SELECT sha256, data, size, dict_id FROM specimens WHERE function = ? AND dict_id IS NOT ?",
            (function, current.id),
        ).fetchall()
        updates: list[tuple[bytes, int | None, str, int | None]] = []
        for sha, blob, size, dict_id in rows:
            examined += 1
            try:
                raw = db.decode(sha, blob, size, dict_id)
            except StoreError:
                unreadable += 1  # never rewrite what cannot be verified
                continue
            with_dict = codec.compress(raw, current)
            plain = codec.compress(raw)
            new, new_id = (with_dict, current.id) if len(with_dict) < len(plain) else (plain, None)
            superseded = dict_id is not None and dict_id != current.id
            if len(new) < len(blob) or (superseded and new_id != dict_id):
                bytes_before += len(blob)
                bytes_after += len(new)
                updates.append((new, new_id, sha, dict_id))
        for i in range(0, len(updates), RECOMPRESS_BATCH):
            with db.write() as w:
                cur = w.executemany(
                    "UPDATE specimens SET data = ?, dict_id = ? WHERE sha256 = ? AND dict_id IS ?",
                    updates[i:i + RECOMPRESS_BATCH],
                )
                rewritten += cur.rowcount
    return {"examined": examined, "rewritten": rewritten, "unreadable": unreadable,
            "bytes_before": bytes_before, "bytes_after": bytes_after}


def compression_report(db: Database, limit: int) -> dict[str, Any]:
    """See `Store.compression_report`."""
    conn = db.conn
    codec = db.codec
    rows = conn.execute(
        "SELECT sha256, function, data, size, dict_id FROM specimens ORDER BY function, created DESC LIMIT ?",
        (int(limit),),
    ).fetchall()
    per_function: dict[str, dict[str, Any]] = {}
    current = db.current_dictionaries({r[1] for r in rows})
    for sha, function, blob, size, dict_id in rows:
        try:
            raw = db.decode(sha, blob, size, dict_id)
        except StoreError:
            continue
        f = per_function.setdefault(function, {"specimens": 0, "raw": 0, "zstd": 0, "zstd_dict": 0, "stored": 0,
                                               "dictionary_bytes": 0})
        f["specimens"] += 1
        f["raw"] += size
        f["stored"] += len(blob)
        plain = len(codec.compress(raw))
        f["zstd"] += plain
        d = current.get(function)
        f["zstd_dict"] += len(codec.compress(raw, d)) if d is not None else plain
    for function, f in per_function.items():
        d = current.get(function)
        f["dictionary_bytes"] = len(d.data) if d is not None else 0
        f["dictionary_version"] = d.version if d is not None else None
    total = {k: sum(f[k] for f in per_function.values())
             for k in ("specimens", "raw", "zstd", "zstd_dict", "stored", "dictionary_bytes")}
    n = total["specimens"]

    def per(key: str, extra: int = 0) -> float | None:
        return round((total[key] + extra) / n, 1) if n else None

    return {
        "measured_specimens": n,
        "bytes_per_specimen": {
            "raw": per("raw"),
            "zstd": per("zstd"),
            "zstd_dictionary": per("zstd_dict"),
            "zstd_dictionary_incl_dictionaries": per("zstd_dict", total["dictionary_bytes"]),
            "stored": per("stored"),
        },
        "totals": total,
        "functions": per_function,
    }
