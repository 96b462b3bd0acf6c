"""The pair-fitness table and the symbiosis score, on hand-made tables."""

from __future__ import annotations

from statistics import fmean

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jeet.symbiosis import PairTable


def table(entries: dict[tuple[str, str], float]) -> PairTable:
    t = PairTable()
    for (a, b), f in entries.items():
        t.record(a, b, f)
    return t


HAND = {
    ("a1", "b1"): 0.8, ("a1", "b2"): 0.2, ("a1", "b3"): 0.5,
    ("a2", "b1"): 0.4, ("a3", "b1"): 0.0,
    ("a9", "b9"): 0.6,
}


def test_score_is_fitness_minus_the_mean_of_both_partners_averages():
    s = table(HAND).symbiosis("a1", "b1")
    # a1 with its other partners: 0.2, 0.5 -> 0.35; b1 with its other partners: 0.4, 0.0 -> 0.2
    assert s.caller_mean == pytest.approx(0.35) and s.callee_mean == pytest.approx(0.2)
    assert s.score == pytest.approx(0.8 - (0.35 + 0.2) / 2)
    assert (s.caller_partners, s.callee_partners, s.observations) == (2, 2, 2)


def test_one_sided_evidence_uses_that_side_alone():
    t = table(HAND)
    s = t.symbiosis("a1", "b2")  # b2 met no one else
    assert s.callee_mean is None and s.callee_partners == 0
    assert s.score == pytest.approx(0.2 - fmean([0.8, 0.5]))
    s = t.symbiosis("a2", "b1")  # a2 met no one else
    assert s.score == pytest.approx(0.4 - fmean([0.8, 0.0]))


def test_a_pair_without_other_partners_has_no_score():
    s = table(HAND).symbiosis("a9", "b9")
    assert s.score is None and s.observations == 0 and not s.strong(-1.0, 0)


def test_strong_pairs_need_score_evidence_and_a_positive_fitness():
    t = table(HAND)
    assert [(s.caller, s.callee) for s in t.strongest(threshold=0.3, min_observations=2)] == [("a1", "b1")]
    assert t.strongest(threshold=0.3, min_observations=3) == []
    assert t.strongest(threshold=0.6, min_observations=1) == []
    t.record("a1", "b1", 0.0)  # the same pair, re-evaluated as wrong: never strong
    assert all((s.caller, s.callee) != ("a1", "b1") for s in t.strongest(threshold=-1.0, min_observations=0))


def test_strongest_orders_by_score_and_honours_exclusions():
    t = table({("a", "b"): 0.9, ("a", "c"): 0.1, ("d", "b"): 0.1,
               ("e", "f"): 0.7, ("e", "g"): 0.3, ("h", "f"): 0.3})
    ranked = t.strongest(threshold=0.0, min_observations=1)
    assert [(s.caller, s.callee) for s in ranked[:2]] == [("a", "b"), ("e", "f")]
    assert [(s.caller, s.callee) for s in t.strongest(0.0, 1, exclude=frozenset({("a", "b")}))][0] == ("e", "f")
    assert len(t.strongest(0.0, 1, limit=1)) == 1


def test_record_replaces_and_discard_forgets_both_ways():
    t = table(HAND)
    t.record("a1", "b2", 0.9)
    assert t.get("a1", "b2") == 0.9 and len(t) == len(HAND)
    assert t.best_of_caller("a1") == ("b2", 0.9)
    t.discard("a1", "b2")
    assert ("a1", "b2") not in t and "b2" not in t.partners_of_caller("a1") and t.partners_of_callee("b2") == {}
    t.discard("a1", "b2")  # forgetting twice is harmless
    assert t.best_of_callee("b1") == ("a1", 0.8)
    with pytest.raises(KeyError):
        t.symbiosis("a1", "b2")


names = st.sampled_from(["a", "b", "c", "d"])
entries = st.dictionaries(st.tuples(names, names.map(str.upper)), st.floats(0, 1), min_size=1, max_size=16)


@settings(max_examples=80, deadline=None)
@given(entries)
def test_score_matches_its_definition(es):
    t = table(es)
    for (a, b), f in es.items():
        others_a = [v for (x, y), v in es.items() if x == a and y != b]
        others_b = [v for (x, y), v in es.items() if y == b and x != a]
        means = [fmean(o) for o in (others_a, others_b) if o]
        s = t.symbiosis(a, b)
        if means:
            assert s.score == pytest.approx(f - fmean(means), abs=1e-12)
        else:
            assert s.score is None


@settings(max_examples=50, deadline=None)
@given(entries, st.floats(-0.5, 0.5))
def test_score_ignores_a_common_shift_of_every_fitness(es, c):
    base, shifted = table(es), table({k: v + c for k, v in es.items()})
    for a, b in es:
        s0, s1 = base.symbiosis(a, b).score, shifted.symbiosis(a, b).score
        assert (s0 is None and s1 is None) or s0 == pytest.approx(s1, abs=1e-9)
