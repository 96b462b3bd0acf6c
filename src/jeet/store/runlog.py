"""Runs, their checkpoints and their logbooks: what `--resume` reads back and what a report is drawn from."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from .codec import dumps_json, loads_json
from .db import Database, guarded
from ..errors import StoreError

RUN_STATUSES = ("running", "finished", "failed")


class RunLog:
    """The runs table and what hangs off it, on a shared `Database`.

    `after_write` is called after every committed write, so the store's upkeep (caps, dictionaries) sees
    these writes too.
    """

    def __init__(self, db: Database, keep_checkpoints: int, after_write: Callable[[], None]) -> None:
        if keep_checkpoints < 1:
            raise StoreError("keep_checkpoints must be at least 1")
        self.db = db
        self.keep_checkpoints = keep_checkpoints
        self._after_write = after_write

    @property
    def path(self):
        return self.db.path

    @guarded
    def start_run(self, fingerprint: str, config: Mapping[str, Any]) -> int:
        """Record a new run in state 'running' and return its id."""
        with self.db.write() as conn:
            cur = conn.execute(
                "INSERT INTO runs (fingerprint, config, status, started) VALUES (?, ?, 'running', ?)",
                (str(fingerprint), dumps_json(config), time.time()),
            )
            return int(cur.lastrowid)

    @guarded
    def finish_run(self, run_id: int, summary: Mapping[str, Any], status: str = "finished") -> None:
        """Close a run as 'finished' or 'failed' with its summary."""
        if status not in ("finished", "failed"):
            raise StoreError(f"a run finishes as 'finished' or 'failed', not {status!r}")
        with self.db.write() as conn:
            cur = conn.execute(
                "UPDATE runs SET status = ?, finished = ?, summary = ? WHERE id = ?",
                (status, time.time(), dumps_json(summary), int(run_id)),
            )
            if cur.rowcount != 1:
                raise StoreError(f"{self.path}: no run {run_id}")

    @guarded
    def find_resumable_run(self, fingerprint: str) -> int | None:
        """The latest run with this fingerprint still marked 'running' (it was interrupted), or None."""
        row = self.db.conn.execute(
            "SELECT id FROM runs WHERE fingerprint = ? AND status = 'running' ORDER BY id DESC LIMIT 1",
            (str(fingerprint),),
        ).fetchone()
        return None if row is None else int(row[0])

    @guarded
    def run_info(self, run_id: int) -> dict[str, Any] | None:
        row = self.db.conn.execute(
            "SELECT id, fingerprint, config, status, started, finished, summary FROM runs WHERE id = ?",
            (int(run_id),),
        ).fetchone()
        if row is None:
            return None
        return {
            "id": row[0], "fingerprint": row[1], "config": loads_json(row[2]), "status": row[3],
            "started": row[4], "finished": row[5], "summary": loads_json(row[6]),
        }

    @guarded
    def save_checkpoint(self, run_id: int, generation: int, state: Mapping[str, Any]) -> None:
        """Atomically store the loop state after `generation`, keeping only the newest `keep_checkpoints` per run.

        State values may be None, bool, int (any size), float, str, bytes, list, tuple and
        dict; tuples come back as tuples.
        """
        blob = self.db.codec.pack_state(state)
        with self.db.write() as conn:
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
        self._after_write()

    @guarded
    def load_checkpoint(self, run_id: int) -> tuple[int, dict[str, Any]] | None:
        """The newest checkpoint of a run as (generation, state), or None."""
        row = self.db.conn.execute(
            "SELECT generation, state FROM checkpoints WHERE run_id = ? ORDER BY generation DESC LIMIT 1",
            (int(run_id),),
        ).fetchone()
        if row is None:
            return None
        try:
            return int(row[0]), self.db.codec.unpack_state(row[1])
        except StoreError as e:
            raise StoreError(f"{self.path}: checkpoint {run_id}/{row[0]}: {e}") from e.__cause__

    @guarded
    def checkpoint_generations(self, run_id: int) -> list[int]:
        """The generations of the checkpoints kept for a run, ascending."""
        rows = self.db.conn.execute(
            "SELECT generation FROM checkpoints WHERE run_id = ? ORDER BY generation", (int(run_id),)
        ).fetchall()
        return [r[0] for r in rows]

    @guarded
    def log_generation(self, run_id: int, generation: int, row: Mapping[str, Any]) -> None:
        """Record one generation's logbook row; logging a generation again (after a resume) replaces it."""
        with self.db.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO logbook (run_id, generation, row) VALUES (?, ?, ?)",
                (int(run_id), int(generation), dumps_json(row)),
            )
        self._after_write()

    @guarded
    def logbook(self, run_id: int) -> list[dict[str, Any]]:
        """A run's logbook rows in generation order."""
        rows = self.db.conn.execute(
            "SELECT row FROM logbook WHERE run_id = ? ORDER BY generation", (int(run_id),)
        ).fetchall()
        return [loads_json(r[0]) for r in rows]

    @guarded
    def status_counts(self) -> dict[str, int]:
        runs = dict(self.db.conn.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall())
        return {s: runs.get(s, 0) for s in RUN_STATUSES}
