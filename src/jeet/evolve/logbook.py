"""The per-generation record of a run, exportable as CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence


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


def merge_logbooks(islands: Sequence[tuple[float, Sequence[GenerationRow]]]) -> list[GenerationRow]:
    """One row per generation over the islands that logged it: sums of work, the best figures, and the
    time (since the archipelago started) at which the last of them finished that generation."""
    by_gen: dict[int, list[tuple[float, GenerationRow]]] = {}
    for started_at, rows in islands:
        for r in rows:
            by_gen.setdefault(r.generation, []).append((started_at, r))
    out = []
    for g in sorted(by_gen):
        rs = [r for _, r in by_gen[g]]
        made = sum(r.offspring for r in rs)
        out.append(GenerationRow(
            generation=g,
            best_fitness=max(r.best_fitness for r in rs),
            median_fitness=round(statistics.median(r.median_fitness for r in rs), 6),
            best_fuel=min(r.best_fuel for r in rs),
            champion_fuel=min(r.champion_fuel for r in rs),
            offspring=made,
            valid_rate=round(sum(r.valid_rate * r.offspring for r in rs) / made, 4) if made else 0.0,
            correct_rate=round(sum(r.correct_rate * r.offspring for r in rs) / made, 4) if made else 0.0,
            evaluations=sum(r.evaluations for r in rs),
            seconds=round(max(s + r.seconds for s, r in by_gen[g]), 3),
            hypervolume=max(r.hypervolume for r in rs),
            front_size=max(r.front_size for r in rs),
        ))
    return out
