"""Self-adaptive operator rates: credit moves the odds towards operators whose offspring improve,
no operator falls below the floor, a seeded run adapts the same way every time, and a resumed
run continues from the probabilities it had."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jeet.errors import JeetError
from jeet.evolve import EvolveConfig, Evolution, load_problem
from jeet.evolve.rates import OperatorRates
from jeet.genetics.registry import DEFAULT_WEIGHTS
from jeet.genetics import OPERATORS, SETS
from jeet.store import Store

NAMES = ["a", "b", "c", "d"]


def test_matching_follows_success_rates_above_the_floor():
    r = OperatorRates.initial(NAMES, {}, mode="matching", rate=1.0, floor=0.05)
    assert r.probabilities == [0.25] * 4
    r.update({"a": (10, 6), "b": (10, 2), "c": (10, 0), "d": (10, 0)})
    p = dict(zip(r.names, r.probabilities))
    assert p["c"] == p["d"] == pytest.approx(0.05)
    assert p["a"] == pytest.approx(0.05 + 0.8 * 0.75) and p["b"] == pytest.approx(0.05 + 0.8 * 0.25)


def test_pursuit_moves_towards_the_best_and_ties_change_nothing():
    r = OperatorRates.initial(NAMES, {}, mode="pursuit", rate=0.5, floor=0.1)
    r.update({n: (5, 0) for n in NAMES})  # nobody improved: no operator stands out
    assert r.probabilities == [0.25] * 4
    for _ in range(30):
        r.update({"a": (5, 0), "b": (5, 3), "c": (5, 1), "d": (0, 0)})
    p = dict(zip(r.names, r.probabilities))
    assert p["b"] == pytest.approx(1 - 3 * 0.1, abs=1e-6)  # p_max = 1 - (K-1) p_min
    assert p["a"] == pytest.approx(0.1, abs=1e-6) and p["d"] == pytest.approx(0.1, abs=1e-6)


def test_off_keeps_the_static_weights_and_zero_weight_removes_an_operator():
    r = OperatorRates.initial(NAMES, {"a": 3.0, "d": 0.0}, mode="off")
    assert r.names == ("a", "b", "c") and r.probabilities == pytest.approx([0.6, 0.2, 0.2])
    r.update({"b": (10, 10)})
    assert r.probabilities == pytest.approx([0.6, 0.2, 0.2])
    tiny = OperatorRates.initial(NAMES, {"a": 0.001}, mode="matching", floor=0.05)
    assert min(tiny.probabilities) == pytest.approx(0.05) and sum(tiny.probabilities) == pytest.approx(1.0)


@settings(max_examples=60, deadline=None)
@given(mode=st.sampled_from(["pursuit", "matching"]), rate=st.floats(0.01, 1.0), floor=st.floats(0.0, 0.3),
       rounds=st.lists(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=4, max_size=4),
                       max_size=25))
def test_probabilities_stay_a_distribution_above_the_floor(mode, rate, floor, rounds):
    r = OperatorRates.initial(NAMES, {}, mode=mode, rate=rate, floor=floor)
    for rnd in rounds:
        r.update({n: (made, min(made, imp)) for n, (made, imp) in zip(NAMES, rnd)})
        assert sum(r.probabilities) == pytest.approx(1.0)
        assert min(r.probabilities) >= r.p_min - 1e-9
    assert r.choose(random.Random(1)) in NAMES


def test_config_checks_the_adaptation_settings():
    with pytest.raises(JeetError):
        EvolveConfig(adaptive_operators="sometimes")
    with pytest.raises(JeetError):
        EvolveConfig(adaptation_rate=0)
    with pytest.raises(JeetError):
        EvolveConfig(min_operator_probability=1.0)
    with pytest.raises(JeetError):
        EvolveConfig(operator_weights={"const_perturb": -1})


def _cfg(**kw) -> EvolveConfig:
    base = dict(population=16, generations=12, budget_s=None, workers=1, use_wasm_opt=False, seed=4,
                adaptive_operators="matching", adaptation_rate=0.3,
                objective="fuel")  # reproducible to the byte: no measured native time decides
    base.update(kw)
    return EvolveConfig(**base)


def test_a_run_adapts_deterministically_and_starves_no_operator():
    problem = load_problem(None, kernel="sign", seed=2, train_size=8)
    seen = []
    for _ in range(2):
        with Evolution(problem, _cfg(population=24, generations=20)) as evo:
            evo.run()
            seen.append((evo.operator_probabilities, evo.champion.sha256))
            ledger = evo.ledger
    assert seen[0] == seen[1]
    probs = seen[0][0]
    floor = 0.05  # the configured floor; among the many mutators it is half their uniform share
    mutators = {name: p for name, p in probs.items() if not name.startswith("crossover")}
    assert all(p >= min(floor, 0.5 / len(mutators)) - 1e-4 for p in probs.values())
    # sign is one function: crossover by whole function never applies, so it earns nothing; once splicing
    # has produced an improvement, the whole-function crossover is down at the floor
    assert ledger.get("crossover_function").made == 0 and ledger.get("crossover_splice").improving > 0
    assert probs["crossover_function"] == pytest.approx(floor, abs=1e-4)
    assert probs["crossover_splice"] == pytest.approx(1 - floor, abs=1e-4)
    assert sum(mutators.values()) == pytest.approx(1.0, abs=1e-3)
    best = max(mutators, key=mutators.get)
    # the adapted favourite stands clearly above an even share (20 mutators: 0.05), and it did improve
    assert mutators[best] > 1 / len(mutators) + 0.05 and ledger.get(best).improving > 0


def test_probabilities_are_logged_checkpointed_and_restored(tmp_path):
    problem = load_problem(None, kernel="clamp", seed=2, train_size=8)
    cfg = _cfg(generations=30)
    with Store(tmp_path) as store:
        with Evolution(problem, cfg, store=store) as evo:  # "killed" after 6 generations: never finished
            evo.start()
            for _ in range(6):
                evo.step()
            at_kill = {pool: r.to_state() for pool, r in evo.rates.items()}
            logged = store.logbook(evo.run_id)[-1]["operator_probabilities"]
            assert logged == evo.operator_probabilities
        with Evolution(problem, cfg, store=store, resume=True) as again:
            again.start()
            assert again.state.generation == 6
            assert {pool: r.to_state() for pool, r in again.rates.items()} == at_kill
            again.run()
            assert again.state.generation == 30
            summary = store.conn.execute("SELECT summary FROM runs WHERE id = ?", (again.run_id,)).fetchone()[0]
            assert "operator_probabilities" in summary


def test_off_is_the_old_static_choice():
    """With adaptation off the loop draws exactly as before: the same seeded run whatever the rates object holds."""
    problem = load_problem(None, kernel="clamp", seed=2, train_size=8)
    runs = []
    for weights in ({}, {"const_perturb": 1.0}):
        with Evolution(problem, _cfg(adaptive_operators="off", operator_weights=weights)) as evo:
            evo.run()
            runs.append((evo.champion.sha256, [m.sha256 for m in evo.population], evo.operator_probabilities))
    assert runs[0] == runs[1]
    mutations = [n for n in SETS["structural"] if OPERATORS[n].arity == 1]
    weight = {n: DEFAULT_WEIGHTS.get(n, 1.0) for n in mutations}  # the registry's starting weights
    expected = {n: round(w / sum(weight.values()), 4) for n, w in weight.items()}
    assert {n: p for n, p in runs[0][2].items() if n in expected} == expected
    assert {p for n, p in runs[0][2].items() if n not in expected} == {0.5}
