"""The per-generation record of a run, exportable as CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class GenerationRow:
    generation: int
    best_fitness: float
    median_fitness: float
    best_fuel: int
    champion_fuel: int
    offspring: int
    valid_rate: float
    correct_rate: float
    evaluations: int
    seconds: float
    hypervolume: float
    front_size: int


class Logbook:
    def __init__(self, rows: list[GenerationRow] | None = None) -> None:
        self.rows: list[GenerationRow] = list(rows or [])

    def append(self, row: GenerationRow) -> None:
        self.rows.append(row)

    def as_dicts(self) -> list[dict]:
        return [asdict(r) for r in self.rows]

    def to_csv(self) -> str:
        buf = io.StringIO()
        names = list(GenerationRow.__dataclass_fields__)
        w = csv.DictWriter(buf, fieldnames=names)
        w.writeheader()
        for r in self.rows:
            w.writerow(asdict(r))
        return buf.getvalue()

    def to_json(self) -> str:
        return json.dumps(self.as_dicts(), indent=1)

    def write(self, path: Path) -> None:
        """Write CSV or JSON, chosen by the file's suffix."""
        path = Path(path)
        path.write_text(self.to_json() if path.suffix.lower() == ".json" else self.to_csv())
