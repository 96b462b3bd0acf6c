"""Robust statistics for interleaved timing samples: medians, and a bootstrap interval on a ratio.

Samples come in rounds: in each round every variant and the empty function were timed once, in a
random order, so a round is a unit of shared conditions (frequency, cache state, neighbours' load).
With `layouts` L > 1, round r ran every variant's copy number r mod L: a copy is the code and data
placed at its own addresses, and where a function lands can move a cheap one's time by more than any
rewrite does (branch predictors and caches index by address). Placement is then a random effect: a
variant's time is the mean over its copies of each copy's median (net of the empty function's same
figure), and the bootstrap resamples copies, then rounds within each copy (paired across variants
by copy and round); the interval is the percentile interval of the replicates' ratios. With L = 1 this
is the ratio of medians and a paired bootstrap over rounds. The generator is a seeded
`numpy.random.Generator`: the same samples and seed give the same interval.
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


def by_layout(samples: Sequence[float], layouts: int = 1) -> np.ndarray:
    """Samples as a (layouts, rounds per layout) array: row j holds rounds j, j + L, j + 2L, ... (rounds past
    the last whole cycle of L are left out, so every copy weighs the same)."""
    x = np.asarray(samples, dtype=float)
    if layouts < 1 or len(x) < layouts:
        raise ValueError(f"need at least one round per layout ({len(x)} rounds, {layouts} layouts)")
    return x[: len(x) // layouts * layouts].reshape(-1, layouts).T


def placed_median(samples: Sequence[float], layouts: int = 1) -> float:
    """The mean over copies of each copy's median (the median itself when there is one copy)."""
    return float(np.median(by_layout(samples, layouts), axis=1).mean())


def net_median(samples: Sequence[float], empty: Sequence[float], layouts: int = 1) -> float:
    """A variant's time net of the empty function's (`placed_median` of each), floored at NET_FLOOR_NS."""
    return max(placed_median(samples, layouts) - placed_median(empty, layouts), NET_FLOOR_NS)


def bootstrap_ratio(a: Sequence[float], b: Sequence[float], empty: Sequence[float] | None = None, *,
                    layouts: int = 1, confidence: float = 0.95, resamples: int = 4000,
                    rng: np.random.Generator) -> Ratio:
    """Ratio of the net times of a and b with a paired percentile bootstrap interval (see the module doc).

    `a`, `b` and `empty` hold one sample per round, in round order (equal lengths); without `empty`
    the ratio is of the plain times."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    if not (len(a) == len(b) == (len(a) if empty is None else len(empty))) or len(a) == 0:
        raise ValueError("a, b and empty need one sample per round each, and at least one round")
    empty = np.zeros(len(a)) if empty is None else empty
    estimate = net_median(a, empty, layouts) / net_median(b, empty, layouts)
    xa, xb, xe = by_layout(a, layouts), by_layout(b, layouts), by_layout(empty, layouts)
    n_lay, n_rounds = xa.shape
    copies = rng.integers(0, n_lay, size=(resamples, n_lay, 1), dtype=np.int32)
    rounds = rng.integers(0, n_rounds, size=(resamples, n_lay, n_rounds), dtype=np.int32)

    def replicate(x: np.ndarray) -> np.ndarray:
        return np.median(x[copies, rounds], axis=2).mean(axis=1)

    med_e = replicate(xe)
    net_a = np.maximum(replicate(xa) - med_e, NET_FLOOR_NS)
    net_b = np.maximum(replicate(xb) - med_e, NET_FLOOR_NS)
    low, high = np.quantile(net_a / net_b, [(1 - confidence) / 2, (1 + confidence) / 2])
    return Ratio(float(estimate), float(low), float(high), confidence)
