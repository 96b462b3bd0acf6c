"""The store's schema, versioned with ``PRAGMA user_version`` and upgraded by ordered migrations.

A migration is a list of SQL statements that takes the schema from version ``n - 1`` to
``n``; `migrate` applies the missing ones inside a single ``BEGIN IMMEDIATE`` transaction,
so two processes opening a fresh store at once cannot both build it.
"""

from __future__ import annotations

import sqlite3

from ..errors import StoreError

# Written into the database header so a jeet store is recognisable ("JEET").
APPLICATION_ID = 0x4A454554

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # version 1
    (
        """
        CREATE TABLE specimens (
            sha256    TEXT PRIMARY KEY,
            function  TEXT NOT NULL,
            size      INTEGER NOT NULL,
            data      BLOB NOT NULL,
            fuel      INTEGER,
            fitness   REAL,
            metrics   TEXT,
            created   REAL NOT NULL,
            last_used REAL NOT NULL
        )
        """,
        "CREATE INDEX specimens_by_fitness ON specimens (fitness DESC)",
        "CREATE INDEX specimens_by_function_fitness ON specimens (function, fitness DESC)",
        """
        CREATE TABLE runs (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            fingerprint TEXT NOT NULL,
            config      TEXT NOT NULL,
            status      TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed')),
            started     REAL NOT NULL,
            finished    REAL,
            summary     TEXT
        )
        """,
        "CREATE INDEX runs_by_fingerprint ON runs (fingerprint, status, id)",
        """
        CREATE TABLE lineage (
            child      TEXT NOT NULL,
            parent     TEXT NOT NULL,
            operator   TEXT,
            generation INTEGER,
            run_id     INTEGER REFERENCES runs (id)
        )
        """,
        # NULLs are distinct in a plain UNIQUE constraint; IFNULL makes re-recording the
        # same edge (same operator, generation and run) a no-op under INSERT OR IGNORE.
        """
        CREATE UNIQUE INDEX lineage_edge ON lineage (
            child, parent, IFNULL(operator, ''), IFNULL(generation, -1), IFNULL(run_id, -1)
        )
        """,
        "CREATE INDEX lineage_by_parent ON lineage (parent)",
        """
        CREATE TABLE blacklist (
            sha256  TEXT PRIMARY KEY,
            reason  TEXT NOT NULL,
            created REAL NOT NULL
        )
        """,
        """
        CREATE TABLE checkpoints (
            run_id     INTEGER NOT NULL REFERENCES runs (id),
            generation INTEGER NOT NULL,
            state      BLOB NOT NULL,
            created    REAL NOT NULL,
            PRIMARY KEY (run_id, generation)
        )
        """,
        """
        CREATE TABLE logbook (
            run_id     INTEGER NOT NULL REFERENCES runs (id),
            generation INTEGER NOT NULL,
            row        TEXT NOT NULL,
            PRIMARY KEY (run_id, generation)
        )
        """,
    ),
    # version 2: compression dictionaries, decayed usage, pins, remembered settings
    (
        # Dictionaries are immutable once written; a function's newest version is the one new blobs use.
        """
        CREATE TABLE dictionaries (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            function    TEXT NOT NULL,
            version     INTEGER NOT NULL,
            zstd_id     INTEGER NOT NULL,
            data        BLOB NOT NULL,
            samples     INTEGER NOT NULL,
            plain_bytes INTEGER NOT NULL,
            dict_bytes  INTEGER NOT NULL,
            created     REAL NOT NULL,
            UNIQUE (function, version)
        )
        """,
        # NULL: a plain zstd frame. The foreign key makes deleting a dictionary some blob needs fail.
        "ALTER TABLE specimens ADD COLUMN dict_id INTEGER REFERENCES dictionaries (id)",
        # Exponentially decayed count of uses, as of last_used (see store.USAGE_HALF_LIFE_S).
        "ALTER TABLE specimens ADD COLUMN usage REAL NOT NULL DEFAULT 0",
        "CREATE INDEX specimens_by_dict ON specimens (dict_id)",
        "CREATE INDEX specimens_by_function_created ON specimens (function, created)",
        """
        CREATE TABLE pins (
            sha256  TEXT NOT NULL,
            reason  TEXT NOT NULL,
            created REAL NOT NULL,
            PRIMARY KEY (sha256, reason)
        )
        """,
        """
        CREATE TABLE settings (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        ) WITHOUT ROWID
        """,
        # The blacklist is never pruned, so it should be compact: keyed by the hash itself instead
        # of a rowid plus a second index holding the hash again (about half the bytes per entry).
        """
        CREATE TABLE blacklist_v2 (
            sha256  TEXT PRIMARY KEY,
            reason  TEXT NOT NULL,
            created REAL NOT NULL
        ) WITHOUT ROWID
        """,
        "INSERT INTO blacklist_v2 (sha256, reason, created) SELECT sha256, reason, created FROM blacklist",
        "DROP TABLE blacklist",
        "ALTER TABLE blacklist_v2 RENAME TO blacklist",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, where: str) -> int:
    """Bring the schema of an autocommit connection up to `SCHEMA_VERSION`; return the version.

    Raises `StoreError` for a database that belongs to something else or to a newer jeet.
    """
    conn.execute("BEGIN")  # one snapshot: another process may be creating the schema right now
    try:
        version = _check(conn, where)
    finally:
        conn.execute("COMMIT")
    if version == SCHEMA_VERSION:
        return version
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _check(conn, where)  # another process may have migrated meanwhile
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[target - 1]:
                conn.execute(statement)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return SCHEMA_VERSION


def _check(conn: sqlite3.Connection, where: str) -> int:
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if app_id not in (0, APPLICATION_ID):
        raise StoreError(f"{where}: not a jeet store (SQLite application_id {app_id:#x})")
    if app_id == 0:
        tables = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        ).fetchone()[0]
        if tables:
            raise StoreError(f"{where}: not a jeet store (a SQLite database with {tables} foreign objects)")
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{where}: store schema version {version} is newer than this jeet understands ({SCHEMA_VERSION})"
        )
    return version
