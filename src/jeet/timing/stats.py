"""Robust statistics for interleaved timing samples: medians, and a bootstrap interval on a ratio.

Samples come in rounds: in each round every variant and the empty function were timed once, in a
random order, so a round is a unit of shared conditions (frequency, cache state, neighbours' load).
The bootstrap therefore resamples whole rounds (paired), and recomputes the ratio of net medians
(variant median minus empty median) on each resample; the interval is the percentile interval of
those replicates. The generator is a seeded `numpy.random.Generator`: the same samples and seed
give the same interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

NET_FLOOR_NS = 1e-3
"""Net times are floored here, so a variant no slower than the empty function has a tiny positive
time instead of a zero or negative one that would make a ratio meaningless."""


@dataclass(frozen=True, slots=True)
class Ratio:
    """time(a) / time(b), net of the empty function: below 1 means a is faster. The interval is
    two-sided at `confidence`."""

    estimate: float
    ci_low: float
    ci_high: float
    confidence: float

    def as_dict(self) -> dict:
        return {"estimate": self.estimate, "ci": [self.ci_low, self.ci_high], "confidence": self.confidence}


def net_median(samples: Sequence[float], empty: Sequence[float]) -> float:
    """Median time of a variant minus the empty function's median, floored at NET_FLOOR_NS."""
    return max(float(np.median(samples)) - float(np.median(empty)), NET_FLOOR_NS)


def bootstrap_ratio(a: Sequence[float], b: Sequence[float], empty: Sequence[float] | None = None, *,
                    confidence: float = 0.95, resamples: int = 4000, rng: np.random.Generator) -> Ratio:
    """Ratio of net medians of a and b with a paired (by round) percentile bootstrap interval.

    `a`, `b` and `empty` hold one sample per round, in round order (equal lengths); without `empty`
    the ratio is of the plain medians."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    xe = np.zeros_like(xa) if empty is None else np.asarray(empty, dtype=float)
    if not (len(xa) == len(xb) == len(xe)) or len(xa) == 0:
        raise ValueError("a, b and empty need one sample per round each, and at least one round")
    estimate = net_median(xa, xe) / net_median(xb, xe)
    idx = rng.integers(0, len(xa), size=(resamples, len(xa)))
    med_e = np.median(xe[idx], axis=1)
    net_a = np.maximum(np.median(xa[idx], axis=1) - med_e, NET_FLOOR_NS)
    net_b = np.maximum(np.median(xb[idx], axis=1) - med_e, NET_FLOOR_NS)
    low, high = np.quantile(net_a / net_b, [(1 - confidence) / 2, (1 + confidence) / 2])
    return Ratio(float(estimate), float(low), float(high), confidence)
