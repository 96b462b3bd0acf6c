"""What the runtime remembers per module + function between sessions, beside the specimen store.

The store keeps specimens (bytes, lineage, blacklist); this small record says which stored
specimen is the verified champion for one function of one module, its evidence, how many
evolution rounds it had and how often each variant was served. One JSON file per module +
function, replaced atomically, so concurrent runtimes on one data folder never see half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ChampionRecord:
    """`champion_sha256` None: the original is the best known; `settled`: a finished round found nothing better."""

    module_sha256: str
    function: str
    champion_sha256: str | None = None
    champion_fuel: int | None = None
    baseline_fuel: int | None = None
    held_out_cases: int = 0
    rounds: int = 0
    settled: bool = False
    usage: dict[str, int] = field(default_factory=dict)


class RecordBook:
    """Champion records under `root` (the runtime's folder inside the data folder)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, module_sha256: str, function: str) -> Path:
        tag = hashlib.sha256(function.encode("utf-8")).hexdigest()[:16]
        return self.root / f"{module_sha256}-{tag}.json"

    def load(self, module_sha256: str, function: str) -> ChampionRecord | None:
        """The record, or None when there is none (or it is unreadable: it is only a cache of decisions)."""
        try:
            data = json.loads(self.path(module_sha256, function).read_text(encoding="utf-8"))
            record = ChampionRecord(**data)
        except (OSError, ValueError, TypeError):
            return None
        if record.module_sha256 != module_sha256 or record.function != function:
            return None
        return record

    def save(self, record: ChampionRecord) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.path(record.module_sha256, record.function)
        fd, tmp = tempfile.mkstemp(prefix=".record-", dir=self.root)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(asdict(record), fh, sort_keys=True)
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
