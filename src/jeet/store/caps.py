"""The store's limits and what one collection under them did: values shared by the store, `jeet gc` and nodes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import StoreError

MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Caps:
    """The store's limits: at most `max_specimens` specimens, at most `max_store_mb` MiB on disk (None: no limit)."""

    max_specimens: int | None = None
    max_store_mb: float | None = None

    def __post_init__(self) -> None:
        n, mb = self.max_specimens, self.max_store_mb
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
            raise StoreError(f"max_specimens must be a whole number >= 0, not {n!r}")
        if mb is not None and (isinstance(mb, bool) or not isinstance(mb, (int, float)) or not mb >= 0
                               or mb == float("inf")):
            raise StoreError(f"max_store_mb must be a finite number >= 0, not {mb!r}")

    @property
    def max_store_bytes(self) -> int | None:
        return None if self.max_store_mb is None else int(self.max_store_mb * MB)

    @property
    def any(self) -> bool:
        return self.max_specimens is not None or self.max_store_mb is not None

    def to_dict(self) -> dict[str, Any]:
        return {"max_specimens": self.max_specimens, "max_store_mb": self.max_store_mb}


@dataclass(frozen=True, slots=True)
class ForgettingPolicy:
    """How relevance is weighed and how far below its caps a collection takes the db."""

    weight_fitness: float = 0.45
    weight_recency: float = 0.20
    weight_usage: float = 0.15
    weight_lineage: float = 0.20
    recency_half_life_s: float = 86400.0
    grace_s: float = 0.5       # specimens used this recently may be in flight in another process
    low_water: float = 0.85    # a collection goes down to this fraction of the count cap, so the next one waits
    size_low_water: float = 0.7  # ... and of the size cap (a compacted file regrows faster than its data)
    max_rounds: int = 6        # removal rounds when the size estimate falls short of the cap
    # Under a size cap, the tables that otherwise grow forever get a share of it: the forgettable part of
    # the blacklist (see FORGETTABLE_BLACKLIST_REASONS) and finished runs' logbook rows, oldest first.
    # None: never prune that table.
    blacklist_share: float | None = 0.25
    logbook_share: float | None = 0.10

    def __post_init__(self) -> None:
        weights = (self.weight_fitness, self.weight_recency, self.weight_usage, self.weight_lineage)
        if any(w < 0 for w in weights) or not sum(weights) > 0:
            raise StoreError("relevance weights must be >= 0 and not all zero")
        if not self.recency_half_life_s > 0 or self.grace_s < 0:
            raise StoreError("recency_half_life_s must be positive and grace_s >= 0")
        if not 0 < self.low_water <= 1 or not 0 < self.size_low_water <= 1 or self.max_rounds < 1:
            raise StoreError("low_water and size_low_water must be in (0, 1] and max_rounds at least 1")
        for share in (self.blacklist_share, self.logbook_share):
            if share is not None and not 0 <= share <= 1:
                raise StoreError("blacklist_share and logbook_share must be in [0, 1] or None")


@dataclass(frozen=True, slots=True)
class GcReport:
    """What one collection did. Byte figures are the store's size on disk (database + write-ahead log)."""

    caps: Caps
    dry_run: bool
    specimens_before: int
    specimens_after: int
    removed: int
    protected: int                          # protected specimens present in the store
    protected_by: dict[str, int]            # why: pinned, champion, checkpoint, in_flight, recent, given, ancestry
    bytes_before: int
    bytes_after: int
    blob_bytes_removed: int
    lineage_edges_removed: int
    checkpoints_removed: int
    blacklist_forgotten: int                # blacklist entries dropped to keep the blacklist within its share
    logbook_rows_removed: int               # finished runs' logbook rows dropped likewise
    dictionaries_removed: int
    dictionaries_trained: int
    recompressed: int
    vacuum: str                             # none, incremental or full
    rounds: int
    cap_met: bool
    notes: tuple[str, ...]
    removed_by_function: dict[str, int]
    kept_by_function: dict[str, int]
    removed_hashes: tuple[str, ...]
    seconds: float = 0.0

    @property
    def kept(self) -> int:
        return self.specimens_after

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["caps"] = self.caps.to_dict()
        d["kept"] = self.kept
        d["removed_hashes"] = list(self.removed_hashes)
        d["notes"] = list(self.notes)
        return d
