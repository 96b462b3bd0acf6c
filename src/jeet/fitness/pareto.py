"""Pareto ranking for multi-objective selection (NSGA-II) and the hypervolume indicator.

All objectives are minimized, e.g. (fuel, peak memory pages, code size). A point
dominates another when it is no worse in every objective and better in at least one;
equal points do not dominate each other and share a front.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

import numpy as np

from ..errors import FitnessError

_BLOCK = 256


def _matrix(points: Sequence[Sequence[float]]) -> np.ndarray:
    try:
        a = np.asarray(points, dtype=float)
    except (ValueError, TypeError) as e:
        raise FitnessError(f"points must be equal-length numeric objective vectors ({e})") from e
    if a.ndim != 2:
        raise FitnessError("points must be a sequence of equal-length objective vectors")
    if np.isnan(a).any():
        raise FitnessError("objective values must not be NaN")
    return a


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """True when `a` is no worse than `b` everywhere and strictly better somewhere."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def nondominated_sort(points: Sequence[Sequence[float]]) -> list[list[int]]:
    """NSGA-II fast non-dominated sort: indices grouped into fronts, best front first, ascending within a front."""
    if len(points) == 0:
        return []
    a = _matrix(points)
    n = len(a)
    # dom[i, j]: point i dominates point j; built in row blocks to bound the n*n*m temporaries.
    dom = np.empty((n, n), dtype=bool)
    for lo in range(0, n, _BLOCK):
        rows = a[lo : lo + _BLOCK, None, :]
        dom[lo : lo + _BLOCK] = (rows <= a[None, :, :]).all(axis=2) & (rows < a[None, :, :]).any(axis=2)
    dominated_by = dom.sum(axis=0)  # how many points dominate j
    fronts: list[list[int]] = []
    current = np.flatnonzero(dominated_by == 0)
    while current.size:
        fronts.append(current.tolist())
        dominated_by = dominated_by - dom[current].sum(axis=0)
        dominated_by[current] = -1  # placed; never selected again
        current = np.flatnonzero(dominated_by == 0)
    return fronts


def crowding_distance(points: Sequence[Sequence[float]], front: Sequence[int]) -> dict[int, float]:
    """NSGA-II crowding distance of each index in `front` (within that front); boundary points get inf.

    Per objective, the front is sorted by value (ties by index, so the result is
    deterministic) and each interior point adds the normalized gap between its
    neighbours; an objective on which the whole front is equal adds nothing.
    """
    front = list(front)
    if not front:
        return {}
    a = _matrix(points)
    dist = {i: 0.0 for i in front}
    if len(front) <= 2:
        return {i: math.inf for i in front}
    for k in range(a.shape[1]):
        order = sorted(front, key=lambda i: (a[i, k], i))
        col = a[:, k]
        span = float(col[order[-1]] - col[order[0]])
        dist[order[0]] = dist[order[-1]] = math.inf
        if span <= 0 or not math.isfinite(span):
            continue
        for prev, cur, nxt in zip(order, order[1:], order[2:]):
            dist[cur] += float(col[nxt] - col[prev]) / span
    return dist


def nsga2_select(points: Sequence[Sequence[float]], k: int) -> list[int]:
    """Pick `k` indices: whole fronts in rank order, the last one cut by crowding distance (largest first).

    Ties in crowding distance go to the lower index, so selection is deterministic.
    """
    if k <= 0:
        return []
    chosen: list[int] = []
    for front in nondominated_sort(points):
        room = k - len(chosen)
        if len(front) <= room:
            chosen.extend(front)
        else:
            d = crowding_distance(points, front)
            chosen.extend(sorted(front, key=lambda i: (-d[i], i))[:room])
        if len(chosen) >= k:
            break
    return chosen


def hypervolume(points: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """The volume dominated by `points` and bounded by `reference` (exact).

    Points that are not strictly better than the reference in every objective add nothing
    and are ignored. Dedicated sweeps handle 1, 2 and 3 objectives (3-D in O(n^2));
    more objectives are sliced recursively down to 3-D, exact but O(n^(d-2)) slices.
    """
    ref = tuple(float(r) for r in reference)
    d = len(ref)
    if d == 0:
        raise FitnessError("the reference point needs at least one objective")
    pts = []
    for p in points:
        if len(p) != d:
            raise FitnessError(f"point {tuple(p)} has {len(p)} objectives, the reference has {d}")
        q = tuple(float(x) for x in p)
        if any(math.isnan(x) for x in q):
            raise FitnessError("objective values must not be NaN")
        if all(x < r for x, r in zip(q, ref)):
            pts.append(q)
    if not pts:
        return 0.0
    return _hv(pts, ref)


def _hv(pts: list[tuple[float, ...]], ref: tuple[float, ...]) -> float:
    d = len(ref)
    if d == 1:
        return ref[0] - min(p[0] for p in pts)
    if d == 2:
        return _hv2(sorted(pts), ref)
    if d == 3:
        return _hv3(pts, ref)
    # Slice along the last objective: between consecutive values the cross-section is the
    # (d-1)-dimensional hypervolume of every point at or below the slab.
    pts = sorted(pts, key=lambda p: p[-1])
    total = 0.0
    for i, p in enumerate(pts):
        top = pts[i + 1][-1] if i + 1 < len(pts) else ref[-1]
        if top > p[-1]:
            total += _hv([q[:-1] for q in pts[: i + 1]], ref[:-1]) * (top - p[-1])
    return total


def _hv2(pts_by_x: Sequence[tuple[float, ...]], ref: tuple[float, ...]) -> float:
    """2-D sweep over points sorted by x: each point that lowers the staircase adds a rectangle."""
    area = 0.0
    best_y = ref[1]
    for x, y, *_ in pts_by_x:
        if y < best_y:
            area += (ref[0] - x) * (best_y - y)
            best_y = y
    return area


def _hv3(pts: list[tuple[float, ...]], ref: tuple[float, ...]) -> float:
    """3-D slicing along z: the points are added in ascending z to a 2-D non-dominated staircase
    (kept sorted by x), and each slab between consecutive z values contributes the staircase's
    area times the slab's thickness."""
    pts = sorted(pts, key=lambda p: p[2])
    xs: list[float] = []  # staircase, x ascending and y strictly descending
    ys: list[float] = []
    total = 0.0
    for i, (x, y, z) in enumerate(pts):
        j = bisect.bisect_right(xs, x)
        # Dominated (weakly) in the (x, y) projection by a point already on the staircase?
        if not (j > 0 and ys[j - 1] <= y):
            # Remove the staircase points the new one dominates: x >= new x and y >= new y.
            k = j
            while k < len(xs) and ys[k] >= y:
                k += 1
            start = j - 1 if j > 0 and xs[j - 1] == x else j
            del xs[start:k]
            del ys[start:k]
            xs.insert(start, x)
            ys.insert(start, y)
        top = pts[i + 1][2] if i + 1 < len(pts) else ref[2]
        if top > z:
            total += _hv2(list(zip(xs, ys)), ref) * (top - z)
    return total
