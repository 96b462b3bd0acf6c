"""The kernel benchmark's results: one row per kernel, the operator-validity sample, the report and its summary."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field


@dataclass
class KernelResult:
    kernel: str
    category: str
    fuel_O0: int
    fuel_O0_wasm_opt: int | None
    fuel_O2: int
    fuel_O2_wasm_opt: int | None
    fuel_evolved: int
    ratio_evolved: float           # evolved / O0
    beats_O2_wasm_opt: bool | None
    held_out_cases: int
    held_out_failures: int
    evaluations: int
    seconds: float
    evals_per_s_per_core: float     # whole run: evaluations / seconds / workers (repeats not counted)
    pipeline_evals_per_s: float     # one core, evaluation pipeline alone (see pipeline_throughput)
    valid_offspring_rate: float
    wall_O0_us: float
    wall_evolved_us: float
    wall_ratio: float
    net_O0_us: float               # wall time minus an empty function's: time spent in wasm
    net_evolved_us: float
    net_O2_us: float
    net_ratio: float
    size_O0: int
    size_evolved: int
    peak_rss_mb: float             # resident memory of jeet and its workers, largest sample
    logbook: list[dict] = field(default_factory=list)


@dataclass
class OperatorValidity:
    operator_set: str
    made: int
    valid: int

    @property
    def rate(self) -> float:
        return self.valid / self.made if self.made else 0.0


@dataclass
class BenchReport:
    budget_s: float
    workers: int
    kernels: list[KernelResult]
    validity: list[OperatorValidity]
    wasm_opt: bool
    seconds: float

    def summary(self) -> dict:
        ratios = [k.ratio_evolved for k in self.kernels]
        return {
            "median_fuel_ratio": statistics.median(ratios) if ratios else None,
            "held_out_failures": sum(k.held_out_failures for k in self.kernels),
            "kernels_beating_O2_wasm_opt": [k.kernel for k in self.kernels if k.beats_O2_wasm_opt],
            "median_evals_per_s_per_core": statistics.median([k.evals_per_s_per_core for k in self.kernels]) if self.kernels else None,
            "median_pipeline_evals_per_s_per_core": statistics.median([k.pipeline_evals_per_s for k in self.kernels]) if self.kernels else None,
            "valid_rate": {v.operator_set: round(v.rate, 4) for v in self.validity},
            "median_wall_ratio": statistics.median([k.wall_ratio for k in self.kernels]) if self.kernels else None,
            "median_net_wall_ratio": statistics.median([k.net_ratio for k in self.kernels]) if self.kernels else None,
            "max_peak_rss_mb": max((k.peak_rss_mb for k in self.kernels), default=None),
        }

    def to_dict(self) -> dict:
        d = asdict(self)
        d["summary"] = self.summary()
        return d
