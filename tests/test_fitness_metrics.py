"""Fitness: normalized metrics against the original, the roadmap's weights with its precedence slip fixed, the hard gate."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jeet.fitness import (
    WEIGHTS, FitnessError, FitnessMetrics, Measurement, calculate_fitness, fitness, measure_metrics,
)
from jeet.fitness.metrics import PAGES_SHARE

BASE = Measurement(fuel=1000, peak_pages=2, code_size=400, calls=10, energy=1500.0)


def roadmap_literal(m: FitnessMetrics) -> float:
    """The roadmap's formula exactly as written (Python and Nim share the precedence)."""
    return (m.execution_speed * 0.4) + (m.memory_efficiency * 0.3) + (m.usage_frequency * 0.2) + (
        1.0 - m.energy_consumption * 0.1
    )


def test_weights_are_the_roadmaps_and_sum_to_one():
    assert WEIGHTS == (0.4, 0.3, 0.2, 0.1)
    assert math.isclose(sum(WEIGHTS), 1.0)


def test_the_original_scores_one_half_everywhere():
    m = measure_metrics(BASE, BASE)
    assert m == FitnessMetrics(0.5, 0.5, 0.5, 0.5)
    assert calculate_fitness(m) == 0.5
    assert fitness(BASE, BASE, correct=True) == 0.5


def test_speed_is_a_share_of_fuel():
    assert measure_metrics(replace(BASE, fuel=500), BASE).execution_speed == pytest.approx(2 / 3)
    assert measure_metrics(replace(BASE, fuel=0), BASE).execution_speed == 1.0
    assert measure_metrics(replace(BASE, fuel=2000), BASE).execution_speed == pytest.approx(1 / 3)


def test_known_total_for_a_twice_as_fast_candidate():
    cand = replace(BASE, fuel=500, energy=750.0)  # half the fuel, same mix: half the energy
    m = measure_metrics(cand, BASE)
    assert m.execution_speed == pytest.approx(2 / 3)
    assert m.energy_consumption == pytest.approx(1 / 3)
    expected = 0.4 * (2 / 3) + 0.3 * 0.5 + 0.2 * 0.5 + 0.1 * (1 - 1 / 3)
    assert fitness(cand, BASE, correct=True) == pytest.approx(expected)
    assert expected == pytest.approx(0.58333333)


def test_memory_mixes_peak_pages_and_code_size():
    m = measure_metrics(replace(BASE, peak_pages=1), BASE)
    assert m.memory_efficiency == pytest.approx(PAGES_SHARE * 2 / 3 + (1 - PAGES_SHARE) * 0.5)
    m = measure_metrics(replace(BASE, code_size=200), BASE)
    assert m.memory_efficiency == pytest.approx(PAGES_SHARE * 0.5 + (1 - PAGES_SHARE) * 2 / 3)
    assert measure_metrics(replace(BASE, peak_pages=0, code_size=0), BASE).memory_efficiency == 1.0


def test_usage_counts_calls_and_is_neutral_without_them():
    assert measure_metrics(replace(BASE, calls=30), BASE).usage_frequency == pytest.approx(0.75)
    none = Measurement(fuel=10, peak_pages=1, code_size=10)
    assert measure_metrics(none, none).usage_frequency == 0.5
    assert measure_metrics(replace(none, calls=5), none).usage_frequency == 1.0


def test_zero_figures_on_both_sides_are_neutral():
    zero = Measurement(0, 0, 0, 0, 0.0)
    assert measure_metrics(zero, zero) == FitnessMetrics(0.5, 0.5, 0.5, 0.5)


def test_precedence_fix_the_literal_formula_leaves_the_unit_interval():
    # The literal roadmap formula adds a constant 0.9: the original would score 1.4 and a perfect
    # candidate 1.9. The fixed formula keeps [0, 1] and puts the original at 0.5.
    original = measure_metrics(BASE, BASE)
    assert roadmap_literal(original) == pytest.approx(1.4)
    assert calculate_fitness(original) == 0.5
    perfect = FitnessMetrics(1.0, 1.0, 1.0, 0.0)
    worst = FitnessMetrics(0.0, 0.0, 0.0, 1.0)
    assert calculate_fitness(perfect) == 1.0 and calculate_fitness(worst) == 0.0
    assert roadmap_literal(perfect) == pytest.approx(1.9) and roadmap_literal(worst) == pytest.approx(0.9)
    # energy alone moves the fixed score by exactly its weight, 0.1, across its range
    assert calculate_fitness(FitnessMetrics(0.5, 0.5, 0.5, 0.0)) - calculate_fitness(
        FitnessMetrics(0.5, 0.5, 0.5, 1.0)
    ) == pytest.approx(0.1)


def test_correctness_is_a_hard_gate():
    fast = Measurement(fuel=1, peak_pages=0, code_size=1, calls=1000, energy=0.0)
    assert fitness(fast, BASE, correct=True) > 0.9
    assert fitness(fast, BASE, correct=False) == 0.0


def test_custom_weights_are_normalized_and_checked():
    m = FitnessMetrics(1.0, 0.0, 0.0, 1.0)
    assert calculate_fitness(m, (2, 0, 0, 0)) == 1.0
    assert calculate_fitness(m, (1, 1, 0, 0)) == 0.5
    for bad in [(1, 1, 1), (-1, 1, 1, 1), (0, 0, 0, 0), (math.nan, 1, 1, 1)]:
        with pytest.raises(FitnessError):
            calculate_fitness(m, bad)


def test_measurements_must_be_sane():
    for bad in [dict(fuel=-1), dict(peak_pages=-2), dict(energy=math.nan), dict(energy=math.inf)]:
        with pytest.raises(FitnessError):
            replace(BASE, **bad)
    assert BASE.objectives() == (1000.0, 2.0, 400.0)


figures = st.integers(min_value=0, max_value=10**9)
energies = st.floats(min_value=0.0, max_value=1e12, allow_nan=False, allow_infinity=False)
measurements = st.builds(Measurement, fuel=figures, peak_pages=st.integers(0, 65536), code_size=figures,
                         calls=figures, energy=energies)


@settings(max_examples=300, deadline=None)
@given(measurements, measurements)
def test_every_metric_and_the_score_stay_in_the_unit_interval(cand, base):
    m = measure_metrics(cand, base)
    for v in (m.execution_speed, m.memory_efficiency, m.usage_frequency, m.energy_consumption):
        assert 0.0 <= v <= 1.0
    assert 0.0 <= fitness(cand, base, correct=True) <= 1.0


@settings(max_examples=300, deadline=None)
@given(measurements, measurements, st.sampled_from(["fuel", "peak_pages", "code_size", "energy", "calls"]),
       st.integers(min_value=1, max_value=10**6))
def test_fitness_is_monotone_in_every_raw_figure(cand, base, field, step):
    worse_or_better = replace(cand, **{field: getattr(cand, field) + step})
    before = fitness(cand, base, correct=True)
    after = fitness(worse_or_better, base, correct=True)
    if field == "calls":  # being used more never lowers the score
        assert after >= before
    else:  # costing more never raises it
        assert after <= before
    m0, m1 = measure_metrics(cand, base), measure_metrics(worse_or_better, base)
    if field == "fuel":
        assert m1.execution_speed <= m0.execution_speed
    if field == "energy":
        assert m1.energy_consumption >= m0.energy_consumption
