"""The simulator: the real protocol at small scale, against the baselines; figures as the issue asks."""

from __future__ import annotations

import pytest

from jeet.sim import SimConfig, SimError, build_world, simulate

SHAPE = {"rounds_to_99", "final_coverage", "payload_copies_per_node", "duplicate_overhead", "bad_adopted",
         "honest_ignored", "seconds", "bad_deliveries_until_ignored", "control_messages_per_node", "per_round"}


def strip_seconds(doc):
    if isinstance(doc, dict):
        return {k: strip_seconds(v) for k, v in doc.items() if k != "seconds"}
    if isinstance(doc, list):
        return [strip_seconds(v) for v in doc]
    return doc


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_hundred_nodes_reach_99_percent_within_6_rounds_with_about_one_copy_each(seed):
    r = simulate(SimConfig(nodes=200, rounds=6, seed=seed))
    assert r["rounds_to_99"] is not None and r["rounds_to_99"] <= 6
    assert r["final_coverage"] >= 0.99
    assert r["payload_copies_per_node"] <= 1.5
    assert r["duplicate_overhead"] <= 0.5
    assert r["bad_adopted"] == 0 and r["honest_ignored"] == 0
    assert len(r["per_round"]) == 6 and [row["round"] for row in r["per_round"]] == [1, 2, 3, 4, 5, 6]


def test_with_twenty_percent_liars_nothing_wrong_is_adopted_and_liars_are_ignored_quickly():
    r = simulate(SimConfig(nodes=200, rounds=8, malicious=0.2, seed=4))
    assert r["malicious_nodes"] == 40
    assert r["final_coverage"] >= 0.99
    assert r["bad_adopted"] == 0
    assert r["honest_ignored"] == 0
    assert r["bad_deliveries_until_ignored"] is not None and 1 <= r["bad_deliveries_until_ignored"] <= 3
    assert r["liars_ignored"] >= 30  # nearly every liar reached some honest node and paid for it
    for name in ("flooding", "push"):
        b = r["baselines"][name]
        assert b["bad_adopted"] == 0 and b["bad_deliveries_until_ignored"] is None  # no scores: never ignored


def test_loss_and_churn_slow_the_spread_but_do_not_stop_it():
    r = simulate(SimConfig(nodes=200, rounds=10, loss=0.1, churn=0.02, seed=5), baselines=False)
    assert r["final_coverage"] >= 0.97
    assert r["honest_ignored"] == 0
    assert r["payload_copies_per_node"] <= 1.5


def test_baselines_have_the_same_shape_and_pay_in_copies():
    r = simulate(SimConfig(nodes=150, rounds=5, seed=6))
    assert SHAPE <= set(r)
    assert set(r["baselines"]) == {"flooding", "push"}
    for b in r["baselines"].values():
        assert SHAPE <= set(b) and len(b["per_round"]) == 5
    flood, push = r["baselines"]["flooding"], r["baselines"]["push"]
    assert flood["final_coverage"] == 1.0 and flood["payload_copies_per_node"] > 8 * r["payload_copies_per_node"]
    assert flood["duplicate_overhead"] > 5
    assert push["final_coverage"] < 1.0  # infect-and-die with fanout 3 misses about e^-3 of the nodes


def test_same_seed_same_trace_other_seed_other_trace():
    cfg = SimConfig(nodes=120, rounds=5, malicious=0.2, loss=0.05, churn=0.02, seed=9)
    a, b = simulate(cfg), simulate(cfg)
    assert strip_seconds(a) == strip_seconds(b)
    c = simulate(SimConfig(nodes=120, rounds=5, malicious=0.2, loss=0.05, churn=0.02, seed=10))
    assert strip_seconds(a)["per_round"] != strip_seconds(c)["per_round"]


def test_the_world_is_drawn_from_the_seed():
    cfg = SimConfig(nodes=50, rounds=3, malicious=0.2, churn=0.1, seed=3)
    w1, w2 = build_world(cfg), build_world(cfg)
    assert (w1.liar, w1.source, w1.views, w1.churn, w1.good) == (w2.liar, w2.source, w2.views, w2.churn, w2.good)
    assert sum(w1.liar) == 10 and not w1.liar[w1.source]
    lie = w1.forge(next(i for i, x in enumerate(w1.liar) if x), 0)
    assert w1.verdict(lie.sha256) == (False, None) and w1.verdict(w1.good.sha256) == (True, cfg.good_fitness)


@pytest.mark.parametrize("kwargs", [dict(nodes=1), dict(nodes=10, loss=1.0), dict(nodes=10, malicious=1.0),
                                    dict(nodes=10, rounds=0), dict(nodes=10, degree=0),
                                    dict(nodes=10, latency_ms=0.0), dict(nodes=10, churn=-0.1)])
def test_out_of_range_configurations_are_refused(kwargs):
    with pytest.raises(SimError):
        SimConfig(**kwargs)
