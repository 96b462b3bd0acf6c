"""The SQLite specimen store: content-addressed modules, lineage, blacklist, runs, checkpoints, logbook."""

from .errors import StoreError
from .schema import SCHEMA_VERSION
from .store import DB_NAME, SpecimenRecord, Store, default_data_dir, sha256_hex

__all__ = ["DB_NAME", "SCHEMA_VERSION", "SpecimenRecord", "Store", "StoreError", "default_data_dir", "sha256_hex"]
