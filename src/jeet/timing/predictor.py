"""A cheap predictor of native time: per-class execution counts weighted by fitted costs.

Fuel prices a `local.get` like an `i32.div_u`; under Cranelift most local traffic vanishes into
registers while a divide costs tens of cycles, so fuel gains often do not show up natively. The
predictor keeps fuel's cheapness (one counted run in the sandbox, see `counts`) but weighs each
instruction class by a cost in ns per execution, fitted per machine by non-negative least squares
to native times jeet measured. The fit is shrunk (a small ridge) toward `PRIOR`, jeet's static
energy table scaled to ns, so that with few measurements a class the data say nothing about keeps
a plausible price instead of an arbitrary one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..fitness.energy import CLASS_COSTS
from .counts import FEATURES, ClassCounts

_PRIOR_NS_PER_UNIT = 0.3  # an ALU op ~ one cycle at ~3 GHz
PRIOR = np.array([2.0 if f == "entry" else 0.3 if f == "loop" else
                  CLASS_COSTS.get("control" if f == "branch" else f, 1.0) * _PRIOR_NS_PER_UNIT for f in FEATURES])
"""Costs in ns per execution before any fit (entry: the call itself; loop: an iteration's epoch check)."""


@dataclass(frozen=True, slots=True)
class CostModel:
    """ns per execution for each class in FEATURES; `samples` measurements went into the fit."""

    costs: tuple[float, ...]
    samples: int = 0

    @classmethod
    def prior(cls) -> "CostModel":
        return cls(tuple(float(c) for c in PRIOR), 0)

    def predict(self, counts: ClassCounts | Sequence[float]) -> float:
        """Predicted native ns per call."""
        vector = counts.vector if isinstance(counts, ClassCounts) else np.asarray(counts, dtype=float)
        return float(vector @ np.asarray(self.costs))

    def as_dict(self) -> dict[str, float]:
        return dict(zip(FEATURES, self.costs))


def fit(counts: Sequence[Sequence[float]], ns: Sequence[float], *, shrink: float = 1e-3) -> CostModel:
    """Non-negative costs minimising relative squared error of predicted vs measured ns per call.

    Rows are weighted by 1/ns, so a 10 ns kernel counts as much as a 10 µs one (the search ranks
    variants of one function, and their times differ by ratios, not by absolute amounts). `shrink`
    is the ridge toward PRIOR, relative to the data's scale."""
    a = np.asarray(counts, dtype=float)
    b = np.asarray(ns, dtype=float)
    if a.ndim != 2 or a.shape[1] != len(FEATURES) or len(a) != len(b) or len(a) == 0:
        raise ValueError(f"need one row of {len(FEATURES)} counts per measured time")
    keep = b > 0
    a, b = a[keep], b[keep]
    if len(a) == 0:
        return CostModel.prior()
    w = 1.0 / b
    aw, bw = a * w[:, None], b * w
    scale = np.sqrt(shrink * len(aw)) * np.maximum(np.abs(aw).max(axis=0), 1e-9)
    design = np.vstack([aw, np.diag(scale)])
    target = np.concatenate([bw, scale * PRIOR])
    from scipy.optimize import nnls  # here, not at import: scipy costs every jeet command a second of start-up

    costs, _ = nnls(design, target, maxiter=50 * design.shape[1])
    return CostModel(tuple(float(c) for c in costs), int(len(a)))


def spearman(predicted: Sequence[float], measured: Sequence[float]) -> float:
    """Spearman rank correlation of predicted and measured times (NaN with fewer than 3 pairs)."""
    if len(predicted) != len(measured):
        raise ValueError("predicted and measured need the same length")
    if len(predicted) < 3:
        return float("nan")
    from scipy.stats import spearmanr  # here, not at import (see fit)

    return float(spearmanr(predicted, measured).statistic)


def cross_validated_predictions(counts: Sequence[Sequence[float]], ns: Sequence[float], groups: Sequence[str],
                                **fit_options) -> list[float]:
    """Each sample's ns predicted by a model fitted without its group (say, its kernel); the prior
    predicts when there is only one group."""
    a, b, g = np.asarray(counts, dtype=float), np.asarray(ns, dtype=float), np.asarray(groups)
    predicted = np.empty(len(b))
    for group in np.unique(g):
        out = g == group
        model = fit(a[~out], b[~out], **fit_options) if (~out).any() else CostModel.prior()
        predicted[out] = a[out] @ np.asarray(model.costs)
    return [float(v) for v in predicted]


def cross_validated_spearman(counts: Sequence[Sequence[float]], ns: Sequence[float], groups: Sequence[str],
                             **fit_options) -> float:
    """Spearman over all samples of their cross-validated predictions: how well the predictor ranks
    code it has not been fitted on."""
    return spearman(cross_validated_predictions(counts, ns, groups, **fit_options), ns)
