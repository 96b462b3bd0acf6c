"""Specimen rows: how a module becomes a row (hash, compression, lineage edges) and how a row reads back.

Kept apart from `Store` so the work done outside the write transaction (hashing, compressing,
serialising) and the one statement run inside it are plain functions over the shared `Database`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..address import content_address as sha256_hex
from .codec import dumps_json, loads_json
from .db import Database
from ..errors import StoreError


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


def prepare(
    db: Database, records: list[SpecimenRecord], now: float
) -> tuple[list[str], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Hash, compress and serialise outside the transaction, so the write lock is held only for the inserts.

    Each module is compressed against its function's current dictionary, if it has one.
    """
    for r in records:
        if not isinstance(r.wasm, (bytes, bytearray, memoryview)):
            raise StoreError(f"specimen bytes must be bytes, not {type(r.wasm).__name__}")
        if not r.function:
            raise StoreError("a specimen needs the name of its evolved function")
    dicts = db.current_dictionaries({r.function for r in records})
    hashes: list[str] = []
    rows: list[tuple[Any, ...]] = []
    edges: list[tuple[Any, ...]] = []
    for r in records:
        data = bytes(r.wasm)
        sha = sha256_hex(data)
        hashes.append(sha)
        dictionary = dicts.get(r.function)
        rows.append((
            sha, r.function, len(data), db.codec.compress(data, dictionary),
            None if dictionary is None else dictionary.id,
            None if r.fuel is None else int(r.fuel),
            None if r.fitness is None else float(r.fitness),
            None if r.metrics is None else dumps_json(r.metrics),
            now, now,
        ))
        for parent in r.parents:
            edges.append((sha, check_sha(parent), r.operator, r.generation, r.run_id))
    return hashes, rows, edges


def insert(conn: sqlite3.Connection, rows: list[tuple[Any, ...]], edges: list[tuple[Any, ...]]) -> None:
    """The inserts of `prepare`'s rows and lineage edges, inside the caller's write transaction."""
    # Storing bytes already present counts as a use of them: they came back into a population.
    conn.executemany(
        """
        INSERT INTO specimens (sha256, function, size, data, dict_id, fuel, fitness, metrics, created, last_used)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (sha256) DO UPDATE SET
            fuel = COALESCE(excluded.fuel, fuel),
            fitness = COALESCE(excluded.fitness, fitness),
            metrics = COALESCE(excluded.metrics, metrics),
            usage = jeet_decay(usage, last_used, excluded.last_used) + 1,
            last_used = excluded.last_used
        """,
        rows,
    )
    if edges:
        conn.executemany(
            "INSERT OR IGNORE INTO lineage (child, parent, operator, generation, run_id) VALUES (?, ?, ?, ?, ?)",
            edges,
        )


INFO_COLUMNS = "sha256, function, size, length(data), fuel, fitness, metrics, created, last_used"


def info(row: tuple[Any, ...]) -> dict[str, Any]:
    """A row of `INFO_COLUMNS` as the dict `Store.specimen_info` returns."""
    sha, function, size, stored, fuel, fitness, metrics, created, last_used = row
    return {
        "sha256": sha, "function": function, "size": size, "stored_size": stored, "fuel": fuel,
        "fitness": fitness, "metrics": loads_json(metrics), "created": created, "last_used": last_used,
    }


def as_record(item: SpecimenRecord | Mapping[str, Any]) -> SpecimenRecord:
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


def check_sha(sha: str) -> str:
    if not isinstance(sha, str) or len(sha) != 64 or not _HEX.issuperset(sha):
        raise StoreError(f"not a SHA-256 hex digest: {sha!r}")
    return sha
