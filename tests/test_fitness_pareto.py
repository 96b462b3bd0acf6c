"""Pareto ranking (NSGA-II) and the exact hypervolume, all objectives minimized."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jeet.fitness import FitnessError, crowding_distance, dominates, hypervolume, nondominated_sort, nsga2_select


def brute_fronts(points):
    """Peel fronts by the definition: a point is in the next front if nothing left dominates it."""
    left = set(range(len(points)))
    fronts = []
    while left:
        front = sorted(i for i in left if not any(dominates(points[j], points[i]) for j in left))
        fronts.append(front)
        left -= set(front)
    return fronts


def brute_hypervolume(points, ref):
    """Exact union volume on the grid of distinct coordinates: a cell counts if some point dominates its corner."""
    pts = [p for p in points if all(x < r for x, r in zip(p, ref))]
    axes = [sorted({p[k] for p in pts} | {ref[k]}) for k in range(len(ref))]
    total = 0.0
    for cell in itertools.product(*(range(len(a) - 1) for a in axes)):
        lo = [axes[k][c] for k, c in enumerate(cell)]
        if any(all(p[k] <= lo[k] for k in range(len(ref))) for p in pts):
            total += math.prod(axes[k][c + 1] - axes[k][c] for k, c in enumerate(cell))
    return total


# --- non-dominated sorting -------------------------------------------------------------------


def test_fronts_of_a_hand_made_set():
    pts = [
        (1, 5, 1),  # 0 front 0
        (2, 2, 2),  # 1 front 0
        (5, 1, 1),  # 2 front 0
        (3, 3, 3),  # 3 dominated by 1
        (2, 2, 2),  # 4 equal to 1: same front
        (4, 4, 4),  # 5 dominated by 3
        (1, 5, 2),  # 6 dominated by 0 only
    ]
    assert nondominated_sort(pts) == [[0, 1, 2, 4], [3, 6], [5]]


def test_sorting_edge_cases():
    assert nondominated_sort([]) == []
    assert nondominated_sort([(3.0,)]) == [[0]]
    assert nondominated_sort([(3,), (1,), (2,), (1,)]) == [[1, 3], [2], [0]]
    assert nondominated_sort([(1, 2), (2, 1)]) == [[0, 1]]
    assert nondominated_sort([(0, math.inf), (1, 1)]) == [[0, 1]]
    with pytest.raises(FitnessError):
        nondominated_sort([(1, 2), (1,)])
    with pytest.raises(FitnessError):
        nondominated_sort([(math.nan, 1)])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(*[st.integers(0, 5)] * 3), max_size=25))
def test_sorting_matches_the_definition(points):
    assert nondominated_sort(points) == brute_fronts(points)


# --- crowding distance -----------------------------------------------------------------------


def test_crowding_on_a_line():
    pts = [(0, 4), (1, 3), (3, 1), (4, 0), (2, 2)]
    d = crowding_distance(pts, [0, 1, 2, 3, 4])
    assert d[0] == d[3] == math.inf
    # per objective the gap between neighbours over the span 4, summed over two objectives
    assert d[1] == pytest.approx(2 * (2 - 0) / 4)
    assert d[4] == pytest.approx(2 * (3 - 1) / 4)
    assert d[2] == pytest.approx(2 * (4 - 2) / 4)


def test_crowding_small_and_flat_fronts():
    assert crowding_distance([(1, 1), (2, 0)], [0, 1]) == {0: math.inf, 1: math.inf}
    assert crowding_distance([(1, 1)], []) == {}
    flat = [(1, 5), (1, 5), (1, 5), (1, 5)]
    d = crowding_distance(flat, [0, 1, 2, 3])
    assert d[0] == d[3] == math.inf and d[1] == d[2] == 0.0


def test_crowding_only_looks_inside_the_front():
    pts = [(0, 10), (5, 5), (10, 0), (100, 100)]
    assert crowding_distance(pts, [0, 1, 2])[1] == pytest.approx(2.0)


# --- selection -------------------------------------------------------------------------------


def test_nsga2_select_takes_whole_fronts_then_the_least_crowded():
    pts = [
        (0, 10), (1, 9), (2, 8), (6, 4), (10, 0),  # front 0: crowded on the left, sparse on the right
        (11, 11), (12, 12),                         # fronts 1 and 2
    ]
    assert sorted(nsga2_select(pts, 5)) == [0, 1, 2, 3, 4]
    assert nsga2_select(pts, 6) == [0, 1, 2, 3, 4, 5]
    # cutting front 0 to three: both boundaries, then the point with the largest gap around it
    d = crowding_distance(pts, [0, 1, 2, 3, 4])
    assert (d[1], d[2], d[3]) == pytest.approx((0.4, 1.0, 1.6))
    assert nsga2_select(pts, 3) == [0, 4, 3]
    assert nsga2_select(pts, 0) == [] and nsga2_select(pts, 100) == [0, 1, 2, 3, 4, 5, 6]
    assert nsga2_select([], 3) == []


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(*[st.integers(0, 9)] * 3), min_size=1, max_size=30), st.integers(1, 30))
def test_selection_respects_rank(points, k):
    chosen = nsga2_select(points, k)
    assert len(chosen) == min(k, len(points)) and len(set(chosen)) == len(chosen)
    rank = {i: r for r, front in enumerate(nondominated_sort(points)) for i in front}
    worst_chosen = max(rank[i] for i in chosen)
    assert all(rank[i] >= worst_chosen for i in set(range(len(points))) - set(chosen))


def test_sorting_scales_to_a_large_population():
    rng = np.random.default_rng(3)
    pts = rng.integers(0, 1000, size=(1500, 3)).tolist()
    fronts = nondominated_sort(pts)
    assert sorted(i for f in fronts for i in f) == list(range(1500))


# --- hypervolume -----------------------------------------------------------------------------


def test_hypervolume_known_values():
    assert hypervolume([(1, 1, 1)], (2, 2, 2)) == 1.0
    assert hypervolume([(0, 0, 0)], (2, 3, 4)) == 24.0
    # two boxes 2x2x1 and 1x2x2 (x, y, z from the points to the reference 2,2,2) overlapping in 1x2x1
    assert hypervolume([(0, 0, 1), (1, 0, 0)], (2, 2, 2)) == pytest.approx(4 + 4 - 2)
    assert hypervolume([(1, 2), (2, 1)], (3, 3)) == pytest.approx(3.0)
    assert hypervolume([(1,), (0.5,)], (2,)) == 1.5
    assert hypervolume([(1, 2, 3), (2, 1, 3), (3, 3, 1)], (4, 4, 4)) == pytest.approx(10.0)


def test_hypervolume_ignores_points_that_do_not_beat_the_reference():
    assert hypervolume([], (1, 1, 1)) == 0.0
    assert hypervolume([(2, 0, 0), (0, 1, 0)], (1, 1, 1)) == 0.0
    assert hypervolume([(0, 0, 0), (5, 5, 5)], (1, 1, 1)) == 1.0
    with pytest.raises(FitnessError):
        hypervolume([(1, 1)], (2, 2, 2))


def test_dominated_and_duplicate_points_add_nothing():
    base = [(1, 3, 2), (2, 1, 3), (3, 2, 1)]
    hv = hypervolume(base, (4, 4, 4))
    assert hypervolume(base + [(3, 3, 3), (2, 1, 3), (1, 3, 2)], (4, 4, 4)) == pytest.approx(hv)


def test_hypervolume_matches_the_grid_on_random_sets():
    rng = random.Random(2024)
    for dim in (2, 3, 4):
        for _ in range(40):
            n = rng.randint(1, 9)
            pts = [tuple(rng.uniform(0, 10) for _ in range(dim)) for _ in range(n)]
            ref = tuple(rng.uniform(6, 11) for _ in range(dim))
            assert hypervolume(pts, ref) == pytest.approx(brute_hypervolume(pts, ref), rel=1e-9, abs=1e-9)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(*[st.integers(0, 6)] * 3), max_size=12))
def test_hypervolume_3d_property_with_ties(points):
    assert hypervolume(points, (7, 7, 7)) == pytest.approx(brute_hypervolume(points, (7, 7, 7)))


def test_hypervolume_agrees_with_monte_carlo():
    rng = np.random.default_rng(9)
    pts = rng.uniform(0, 1, size=(15, 3))
    ref = np.ones(3)
    samples = rng.uniform(0, 1, size=(200_000, 3))
    covered = np.zeros(len(samples), dtype=bool)
    for p in pts:
        covered |= (samples >= p).all(axis=1)
    assert hypervolume(pts.tolist(), ref.tolist()) == pytest.approx(covered.mean(), abs=0.01)


def test_hypervolume_3d_is_fast_enough_for_a_population():
    rng = random.Random(5)
    # points on a sphere-like front: all mutually non-dominated, the worst case for the sweep
    pts = []
    for _ in range(400):
        v = [rng.random() + 1e-9 for _ in range(3)]
        s = math.sqrt(sum(x * x for x in v))
        pts.append(tuple(1 - x / s for x in v))
    assert len(nondominated_sort(pts)[0]) == 400
    hv = hypervolume(pts, (1, 1, 1))
    assert 0 < hv < 1
