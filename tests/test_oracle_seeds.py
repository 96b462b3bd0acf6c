"""Each run, node and runtime draws its own held-out cases; training stays reproducible from --seed."""

from __future__ import annotations

from jeet.evolve.problem import load_problem, redraw_held_out
from jeet.oracle import fresh_seed


def test_fresh_seeds_differ_even_for_one_identity():
    seeds = {fresh_seed("node:abc") for _ in range(50)}
    assert len(seeds) == 50 and all(0 <= s < 2 ** 63 for s in seeds)


def test_two_runs_draw_different_held_out_cases_but_the_same_training():
    a = load_problem(None, kernel="count_byte", seed=3, held_out_factor=40)
    b = load_problem(None, kernel="count_byte", seed=3, held_out_factor=40)
    assert a.oracle.train == b.oracle.train
    assert a.oracle.held_out_seed != b.oracle.held_out_seed
    given = sum(1 for _ in open(a.tests))  # the tests themselves are held out by both
    assert a.oracle.held_out[:given] == b.oracle.held_out[:given] and len(a.oracle.held_out) > given + 200
    assert {c.key for c in a.oracle.held_out[given:]}.isdisjoint({c.key for c in b.oracle.held_out[given:]})


def test_a_pinned_held_out_seed_rebuilds_the_same_cases():
    a = load_problem(None, kernel="popcount", seed=1, held_out_factor=40, held_out_seed=77)
    b = load_problem(None, kernel="popcount", seed=1, held_out_factor=40, held_out_seed=77)
    assert a.oracle.held_out_seed == 77 and a.oracle.held_out == b.oracle.held_out


def test_a_node_verifier_redraws_its_own_held_out_cases():
    problem = load_problem(None, kernel="count_byte", seed=1, held_out_factor=40, held_out_seed=77)
    mine = redraw_held_out(problem, fresh_seed("node:me"))
    theirs = redraw_held_out(problem, fresh_seed("node:them"))
    assert mine.oracle.train == problem.oracle.train
    assert len({mine.oracle.held_out_seed, theirs.oracle.held_out_seed, 77}) == 3
    assert set(mine.oracle.held_out) != set(theirs.oracle.held_out)


def test_two_node_verifiers_draw_their_own_cases(tmp_path):
    from jeet.node.settings import NodeSettings
    from jeet.node.verifier import _own_held_out
    from jeet.node.workload import Workload

    drawn = []
    for name in ("a", "b"):
        workload = Workload.load("count_byte", None, None, None)
        before = workload.problem.oracle.held_out_seed
        _own_held_out(workload, NodeSettings(data=tmp_path / name))
        assert workload.problem.oracle.held_out_seed != before
        drawn.append(workload.problem.oracle)
    assert drawn[0].train == drawn[1].train and drawn[0].held_out != drawn[1].held_out
