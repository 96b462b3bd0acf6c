"""The predictor's costs for this machine, cached as JSON in jeet's data folder and refitted as
native timings accumulate.

One file per machine (`<data>/timing/costs-<machine id>.json`): the machine's description, the
fitted costs, and the observations (class counts per call, measured ns per call) they were fitted
to, newest last and capped at `max_observations`. `observe` appends a measurement and refits once
`refit_every` new ones have arrived since the last fit; the file is replaced atomically, so a
reader never sees half of it and a crash loses at most the unsaved observations.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Sequence

from ..store import default_data_dir
from .counts import FEATURES, ClassCounts
from .predictor import CostModel, fit

FORMAT = 1


def machine_description() -> dict[str, str | int]:
    """What the costs depend on: CPU model, core count, architecture, wasmtime version."""
    model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        wasmtime_version = metadata.version("wasmtime")
    except metadata.PackageNotFoundError:
        wasmtime_version = "unknown"
    return {"machine": platform.machine(), "cpu": model, "cores": os.cpu_count() or 0,
            "system": platform.system(), "wasmtime": wasmtime_version}


def machine_id(description: dict | None = None) -> str:
    text = json.dumps(description or machine_description(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class CostStore:
    """This machine's cost model and the observations behind it, in `data_dir` (default: jeet's)."""

    def __init__(self, data_dir: Path | str | None = None, *, refit_every: int = 16,
                 max_observations: int = 4000) -> None:
        self.machine = machine_description()
        folder = Path(data_dir) if data_dir is not None else default_data_dir()
        self.path = folder / "timing" / f"costs-{machine_id(self.machine)}.json"
        self.refit_every = max(1, refit_every)
        self.max_observations = max(1, max_observations)
        self.observations: list[tuple[tuple[float, ...], float]] = []
        self.model = CostModel.prior()
        self._unfitted = 0
        self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return  # nothing cached yet, or an unreadable file: start from the prior
        if data.get("format") != FORMAT or data.get("features") != list(FEATURES):
            return
        self.observations = [(tuple(map(float, c)), float(ns)) for c, ns in data.get("observations", [])]
        costs = data.get("costs")
        if isinstance(costs, list) and len(costs) == len(FEATURES):
            self.model = CostModel(tuple(map(float, costs)), int(data.get("samples", 0)))
        self._unfitted = len(self.observations) - self.model.samples

    def observe(self, counts: ClassCounts | Sequence[float], ns_per_call: float, *, save: bool = True) -> CostModel:
        """Record one measured variant; refit (and save) when enough new measurements arrived."""
        vector = counts.per_call if isinstance(counts, ClassCounts) else tuple(map(float, counts))
        if len(vector) != len(FEATURES):
            raise ValueError(f"counts need {len(FEATURES)} entries, got {len(vector)}")
        self.observations.append((tuple(vector), float(ns_per_call)))
        del self.observations[:-self.max_observations]
        self._unfitted += 1
        if self._unfitted >= self.refit_every:
            self.refit(save=False)
        if save:
            self.save()
        return self.model

    def refit(self, *, save: bool = True) -> CostModel:
        if self.observations:
            self.model = fit([c for c, _ in self.observations], [ns for _, ns in self.observations])
        self._unfitted = 0
        if save:
            self.save()
        return self.model

    def predict(self, counts: ClassCounts | Sequence[float]) -> float:
        return self.model.predict(counts)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"format": FORMAT, "machine": self.machine, "features": list(FEATURES),
                "costs": list(self.model.costs), "samples": self.model.samples,
                "observations": [[list(c), ns] for c, ns in self.observations]}
        fd, tmp = tempfile.mkstemp(prefix=".costs-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
