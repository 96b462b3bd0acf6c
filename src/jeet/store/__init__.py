"""The SQLite specimen store: content-addressed modules, lineage, blacklist, runs, checkpoints, logbook.

It forgets what no longer matters under configured caps (`Caps`, `ForgettingPolicy`, `Store.gc`)
and compresses each function's specimens against a dictionary trained on their population.
"""

from ..errors import StoreError
from .caps import Caps, ForgettingPolicy, GcReport
from .schema import SCHEMA_VERSION
from .store import DB_NAME, SpecimenRecord, Store, default_data_dir, sha256_hex

__all__ = ["DB_NAME", "SCHEMA_VERSION", "Caps", "ForgettingPolicy", "GcReport", "SpecimenRecord", "Store",
           "StoreError", "default_data_dir", "sha256_hex"]
