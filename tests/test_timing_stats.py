"""Timing statistics: the bootstrap interval covers the truth; the judge never calls a tie a win."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from jeet.timing import (Judgement, TimingReport, UntimeableError, VariantTiming, bootstrap_ratio, judge_report,
                         ratio)
from jeet.timing.stats import net_median


def synthetic(rng: np.random.Generator, rounds: int, ns: list[float], empty_ns: float = 2.0,
              noise: float = 0.05) -> TimingReport:
    """A report as `measure` would give on a machine whose per-round drift hits every variant alike,
    with independent multiplicative noise and occasional outliers (an interrupt) on top."""
    drift = rng.lognormal(0, 0.03, rounds)

    def samples(true_ns: float) -> tuple[float, ...]:
        x = (true_ns + empty_ns) * drift * rng.lognormal(0, noise, rounds)
        outliers = rng.random(rounds) < 0.05
        x[outliers] *= rng.uniform(1.5, 3.0, outliers.sum())
        return tuple(float(v) for v in x)

    variants = tuple(VariantTiming("ok", samples(t), 100, 0) for t in ns)
    return TimingReport("f", 64, int(rng.integers(1 << 31)), variants, VariantTiming("ok", samples(0.0), 1000, 0),
                       rounds, 1.0)


def test_bootstrap_interval_contains_the_true_ratio() -> None:
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(200):
        r = ratio(synthetic(rng, 41, [40.0, 30.0]), 1, 0, resamples=1000)
        covered += r.ci_low <= 0.75 <= r.ci_high
        assert r.ci_low <= r.estimate <= r.ci_high
    assert covered >= 0.9 * 200


def test_bootstrap_is_deterministic_for_a_seed() -> None:
    a, b, e = [10.0, 11.0, 9.5, 10.2], [20.0, 19.0, 21.0, 20.5], [1.0, 1.1, 0.9, 1.0]
    one = bootstrap_ratio(a, b, e, rng=np.random.default_rng(7))
    two = bootstrap_ratio(a, b, e, rng=np.random.default_rng(7))
    assert one == two
    assert one.estimate == pytest.approx((10.1 - 1.0) / (20.25 - 1.0))


def test_net_time_is_floored_not_negative() -> None:
    assert net_median([1.0, 1.0], [2.0, 2.0]) > 0


def test_a_variant_against_itself_is_never_judged_faster() -> None:
    rng = np.random.default_rng(2)
    for _ in range(500):  # 5 % noise per sample: a few times what an idle core shows
        report = synthetic(rng, 25, [35.0, 35.0], noise=0.05)
        j = judge_report(report, 0, 1, resamples=1000)
        assert not j.improved
        assert isinstance(j, Judgement) and j.ci[0] <= j.time_ratio <= j.ci[1]


def test_even_on_a_very_noisy_machine_a_tie_almost_never_wins() -> None:
    rng = np.random.default_rng(9)
    wins = sum(judge_report(synthetic(rng, 25, [35.0, 35.0], noise=0.10), 0, 1, resamples=1000).improved
               for _ in range(500))
    assert wins <= 5  # at most 1 %: the interval must clear 0.97, not only 1


def test_a_clearly_faster_variant_is_judged_improved() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        j = judge_report(synthetic(rng, 25, [60.0, 20.0]), 0, 1)
        assert j.improved and j.time_ratio == pytest.approx(1 / 3, rel=0.1)
        assert j.baseline_ns == pytest.approx(60.0, rel=0.1) and j.best_ns == pytest.approx(20.0, rel=0.1)


def test_a_gain_below_min_gain_is_not_an_improvement_even_when_certain() -> None:
    rng = np.random.default_rng(4)
    report = synthetic(rng, 200, [100.0, 98.5], noise=0.002)
    j = judge_report(report, 0, 1)
    assert j.ci[1] < 1.0 and not j.improved  # certainly faster, but by less than 3 %
    assert judge_report(report, 0, 1, min_gain=0.0).improved


def test_slower_is_never_improved() -> None:
    rng = np.random.default_rng(5)
    assert not judge_report(synthetic(rng, 25, [20.0, 60.0]), 0, 1).improved


def test_an_untimeable_variant_cannot_be_judged() -> None:
    rng = np.random.default_rng(6)
    good = synthetic(rng, 10, [10.0])
    report = TimingReport("f", 64, 0, good.variants + (VariantTiming("trap", message="unreachable"),), good.empty,
                          10, 1.0)
    with pytest.raises(UntimeableError, match="trap") as info:
        judge_report(report, 0, 1)
    assert info.value.index == 1 and info.value.status == "trap"


def test_ranking_orders_the_timeable_variants_fastest_first() -> None:
    rng = np.random.default_rng(11)
    good = synthetic(rng, 15, [30.0, 10.0, 20.0])
    report = TimingReport("f", 64, 0, good.variants + (VariantTiming("timeout"),), good.empty, 15, 1.0)
    assert report.ranking() == [1, 2, 0]


def test_judgement_carries_the_json_fields() -> None:
    j = judge_report(synthetic(np.random.default_rng(8), 15, [30.0, 10.0]), 0, 1)
    d = j.to_dict(samples=False)
    assert {"improved", "baseline_ns", "best_ns", "time_ratio", "time_ratio_ci"} <= d.keys()
    assert len(d["time_ratio_ci"]) == 2 and "samples_ns" not in d["timing"]["variants"][0]


def test_an_a_a_control_that_disagrees_with_the_baseline_raises_the_margin() -> None:
    """When an identical copy measures 10 % apart, an 8 % gain is not resolved, however tight its interval."""
    rng = np.random.default_rng(10)
    biased = synthetic(rng, 60, [50.0, 45.0, 46.0], noise=0.01)  # baseline, its copy (biased), best
    j = judge_report(biased, 0, 2, control=1)
    assert j.ci[1] < 0.97 and j.margin > 0.08 and not j.improved
    assert j.control is not None and j.control.estimate == pytest.approx(0.9, abs=0.02)
    fair = synthetic(rng, 60, [50.0, 50.0, 40.0], noise=0.01)
    j = judge_report(fair, 0, 2, control=1)
    assert j.improved and j.margin == pytest.approx(0.03, abs=0.02)
    assert j.to_dict(samples=False)["control_ratio"]["estimate"] == pytest.approx(1.0, abs=0.02)


def placed(rng: np.random.Generator, layouts: int, per_layout: int, ns: list[float], empty_ns: float = 2.5) -> TimingReport:
    """A report of `layouts` placed copies per variant (round r on copy r mod layouts), each copy of each
    variant (and of the empty function) placed at random: 8 % spread, and a fifth of the copies in a slow
    mode 1.3 times the fast one (about what clamp's copies show on the shared machine), with 2 % noise
    per sample."""
    rounds = layouts * per_layout

    def samples(true_ns: float) -> tuple[float, ...]:
        mode = rng.lognormal(0, 0.08, layouts) * np.where(rng.random(layouts) < 0.2, 1.3, 1.0)
        gross = (true_ns + empty_ns) * mode[np.arange(rounds) % layouts]
        return tuple(float(v) for v in gross * rng.lognormal(0, 0.02, rounds))

    variants = tuple(VariantTiming("ok", samples(t), 100, 0) for t in ns)
    return TimingReport("f", 64, int(rng.integers(1 << 31)), variants, VariantTiming("ok", samples(0.0), 1000, 0),
                        rounds, 1.0, layouts=layouts)


def test_identical_code_placed_at_random_is_not_faster() -> None:
    """Identical copies whose placements differ: the interval, which resamples copies, covers 1 about as
    often as it says, and with the A/A control (as `judge` times it) a tie never wins."""
    rng = np.random.default_rng(11)
    covered = wins = 0
    for _ in range(200):
        report = placed(rng, 16, 3, [3.0, 3.0, 3.0])
        r = ratio(report, 2, 0, resamples=1000)
        covered += r.ci_low <= 1.0 <= r.ci_high
        wins += judge_report(report, 0, 2, control=1, resamples=1000).improved
    assert covered >= 0.85 * 200 and wins == 0


def test_a_faster_variant_is_seen_through_the_placements() -> None:
    """Twice as fast net (3 ns a call against 1.5, on a harness costing 2.5), every copy placed at random:
    judged faster, against the control too."""
    rng = np.random.default_rng(12)
    wins = sum(judge_report(placed(rng, 16, 3, [3.0, 3.0, 1.5]), 0, 2, control=1, resamples=1000).improved
               for _ in range(50))
    assert wins >= 40


def test_one_copy_is_the_median_and_several_copies_average_their_medians() -> None:
    a, b, e = [10.0, 11.0, 9.5, 10.2], [20.0, 19.0, 21.0, 20.5], [1.0, 1.1, 0.9, 1.0]
    assert net_median(a, e, 1) == pytest.approx(10.1 - 1.0)
    two = net_median(a, e, 2)  # copies: rounds 0, 2 -> 9.75; rounds 1, 3 -> 10.6; empty 0.95 and 1.05
    assert two == pytest.approx((9.75 + 10.6) / 2 - 1.0)
    r = bootstrap_ratio(a, b, e, layouts=2, rng=np.random.default_rng(1))
    assert r.estimate == pytest.approx(two / ((20.5 + 19.75) / 2 - 1.0)) and r.ci_low <= r.estimate <= r.ci_high


def test_replicated_judgements_must_all_find_the_variant_faster(monkeypatch) -> None:
    """`judge(replicates=2)`: a gain that only one measurement shows (the machine's state moved) is no gain;
    the least favourable judgement is the answer, and a first measurement that finds nothing settles it."""
    judging = importlib.import_module("jeet.timing.judge")  # the module (the package exports the function)

    rng = np.random.default_rng(12)
    faster = synthetic(rng, 60, [50.0, 50.0, 40.0], noise=0.01)  # baseline, its copy, best
    tie = synthetic(rng, 60, [50.0, 50.0, 50.0], noise=0.01)
    measured: list[int] = []

    def replay(reports):
        def fake_measure(variants, function, cases, *, seed=0, **options):
            measured.append(seed)
            return reports[len(measured) - 1]
        monkeypatch.setattr(judging, "measure", fake_measure)

    replay([faster, faster])
    j = judging.judge(b"a", b"b", "f", (), seed=5, replicates=2)
    assert j.improved and j.replicates == 2 and measured == [5, 6] and j.to_dict(samples=False)["replicates"] == 2
    measured.clear()
    replay([faster, tie])
    j = judging.judge(b"a", b"b", "f", (), replicates=2)
    assert not j.improved and j.replicates == 2 and j.time_ratio == pytest.approx(1.0, abs=0.03)
    measured.clear()
    replay([tie, faster])
    j = judging.judge(b"a", b"b", "f", (), replicates=2)
    assert not j.improved and j.replicates == 1 and len(measured) == 1
