"""The tuner's pieces: the search space maps onto valid EvolveConfigs, the default is a point of it,
the offspring budget turns into generations, trials report per run so weak settings can be pruned,
and the written file is what `jeet evolve --config` reads."""

from __future__ import annotations

import json
import math

import optuna

from jeet.genetics.registry import DEFAULT_WEIGHTS
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jeet.evolve import EvolveConfig, Evolution, load_problem
from jeet.tune import (EVAL_KERNELS, TRAIN_KERNELS, Objective, TuneError, TuneReport, TuneSetup, at_budget,
                       config_document, default_params, geometric_mean, overrides, parse_kernels, suggest,
                       write_config)
from jeet.kernels import KERNELS


def test_training_and_evaluation_kernels_split_the_suite():
    assert set(TRAIN_KERNELS).isdisjoint(EVAL_KERNELS)
    assert set(TRAIN_KERNELS) | set(EVAL_KERNELS) == {k.name for k in KERNELS}
    for category in ("bits", "arith", "branch", "buffer"):  # both halves see every kind of kernel
        names = {k.name for k in KERNELS if k.category == category}
        assert names & set(TRAIN_KERNELS) and names & set(EVAL_KERNELS)
    assert parse_kernels(" gcd, clamp,gcd ") == ("gcd", "clamp")
    with pytest.raises(TuneError, match="unknown kernel"):
        parse_kernels("gcd,nope")


@pytest.mark.parametrize("islands", [False, True])
def test_the_default_config_is_a_point_of_the_space(islands):
    params = default_params(islands=islands)
    cfg = EvolveConfig(**suggest(optuna.trial.FixedTrial(params), islands=islands))
    d = EvolveConfig()
    for key in ("population", "keep_fraction", "mutate_fraction", "crossover_fraction", "tournament",
                "adaptive_operators", "islands"):
        assert getattr(cfg, key) == pytest.approx(getattr(d, key))
    # the same draw as no weights at all: the registry's starting weights, 1 for the rest
    assert cfg.operator_weights == {n: DEFAULT_WEIGHTS.get(n, 1.0) for n in cfg.operator_weights}


@settings(max_examples=80, deadline=None)
@given(keep=st.floats(0.1, 0.7), share=st.floats(0.0, 1.0), pop=st.integers(2, 12), islands=st.integers(1, 4),
       w=st.floats(0.1, 10.0), mode=st.sampled_from(["off", "matching", "pursuit"]))
def test_every_point_of_the_space_is_a_valid_config(keep, share, pop, islands, w, mode):
    params = {"keep_fraction": keep, "crossover_share": share, "population": pop * 8, "tournament": 3,
              "weight_delete_run": w, "adaptive_operators": mode, "islands": islands, "topology": "ring"}
    cfg = EvolveConfig(**overrides(params))
    assert cfg.keep_fraction + cfg.mutate_fraction + cfg.crossover_fraction == pytest.approx(1.0, abs=1e-6)
    assert cfg.crossover_fraction == pytest.approx((1 - keep) * share, abs=1e-3)
    assert cfg.operator_weights == {"delete_run": round(w, 4)}


def test_the_offspring_budget_is_what_a_run_draws():
    problem = load_problem(None, kernel="sign", seed=1, train_size=8)
    for pop, keep, budget in ((16, 0.5, 300), (24, 0.25, 500)):
        cfg = at_budget(EvolveConfig(population=pop, keep_fraction=keep, mutate_fraction=(1 - keep) / 2,
                                     crossover_fraction=(1 - keep) / 2, workers=1, use_wasm_opt=False, seed=2), budget)
        assert cfg.budget_s is None and cfg.max_evaluations is None and cfg.generations >= 1
        drawn = []
        with Evolution(problem, cfg) as evo:
            submit = evo.evaluator.submit

            def counting(tasks, ctx, submit=submit, drawn=drawn):
                drawn.extend(t for t in tasks if t.operator is not None)
                return submit(tasks, ctx)

            evo.evaluator.submit = counting
            evo.run()
            generations = evo.state.generation
        per_generation = pop - max(1, round(pop * keep))
        counted = 2 * (pop - 1) + generations * per_generation
        assert budget <= counted < budget + per_generation
        # beyond that, only whole generations dropped in flight when a counterexample retrained the population
        assert len(drawn) >= counted and (len(drawn) - counted) % per_generation == 0


def _tiny(**kw) -> TuneSetup:
    base = dict(kernels=("sign", "iabs"), seeds=(0,), offspring=120, jobs=1)
    base.update(kw)
    return TuneSetup(**base)


def test_a_trial_reports_each_run_and_scores_the_geometric_mean():
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial(default_params(islands=False))
    objective = Objective(_tiny(), islands=False)
    try:
        study.optimize(objective, n_trials=1)
    finally:
        objective.close()
    t = study.trials[0]
    ratios = t.user_attrs["ratios"]
    assert list(ratios) == ["sign/0", "iabs/0"] and all(0 < r <= 1.0 for r in ratios.values())
    assert sorted(t.intermediate_values) == [0, 1]
    assert t.intermediate_values[0] == pytest.approx(max(ratios["sign/0"], 0.2))  # the score's floor
    assert t.value == pytest.approx(geometric_mean(list(ratios.values()), 0.2)) == t.intermediate_values[1]
    # one jackpot run counts as at most 1/floor times better: it cannot drown the other kernels
    assert geometric_mean([0.003, 0.5], 0.2) == pytest.approx(math.sqrt(0.2 * 0.5))
    assert geometric_mean([0.003, 0.5]) == pytest.approx(math.sqrt(0.003 * 0.5))


def test_a_weak_setting_is_stopped_after_its_first_run():
    """The pruner sees each run's running score; when it says stop, the remaining runs are not made."""
    study = optuna.create_study(direction="minimize", pruner=optuna.pruners.ThresholdPruner(upper=1e-9))
    objective = Objective(_tiny(), islands=False)
    try:
        study.optimize(objective, n_trials=1)
    finally:
        objective.close()
    t = study.trials[0]
    assert t.state == optuna.trial.TrialState.PRUNED
    assert list(t.user_attrs["ratios"]) == ["sign/0"] and list(t.intermediate_values) == [0]


def test_the_written_config_is_what_evolve_reads(tmp_path):
    best = {"keep_fraction": 0.25, "crossover_share": 0.2, "population": 32, "tournament": 5,
            "weight_promote_slot": 4.0, "adaptive_operators": "pursuit", "adaptation_rate": 0.1,
            "min_operator_probability": 0.02}
    report = TuneReport(study="s", storage="sqlite:///x", best_params=best, best_value=0.3, best_trial=4,
                        default_value=0.4, config=overrides(best), importances={}, trials={"complete": 5},
                        new_trials=5, islands_searched=False, setup={"offspring": 100}, seconds=1.0)
    path = write_config(tmp_path / "sub" / "tuned.json", report)
    cfg = EvolveConfig.from_file(path)
    assert (cfg.keep_fraction, cfg.mutate_fraction, cfg.crossover_fraction) == (0.25, 0.6, 0.15)
    assert (cfg.population, cfg.tournament, cfg.adaptive_operators) == (32, 5, "pursuit")
    assert cfg.operator_weights == {"promote_slot": 4.0} and cfg.budget_s == EvolveConfig().budget_s
    doc = json.loads(path.read_text())
    assert doc == json.loads(json.dumps(config_document(report)))
    assert math.isclose(doc["tune"]["improvement_on_training"], 0.25)
    empty = TuneReport(study="s", storage="", best_params={}, best_value=None, best_trial=None, default_value=None,
                       config={}, importances={}, trials={}, new_trials=0, islands_searched=False, setup={},
                       seconds=0.0)
    with pytest.raises(TuneError):
        write_config(tmp_path / "none.json", empty)
