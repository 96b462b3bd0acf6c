"""Co-evolution of a caller and a callee: the pair gets cheaper, the held-out gate holds, strong pairs are kept."""

from __future__ import annotations

import random

import pytest
import wasmtime

from jeet.oracle import Case, Oracle
from jeet.sandbox import Limits
from jeet.store import Store
from jeet.symbiosis import (CoevolveConfig, Coevolution, LinkedSandbox, Pair, PairBundle, PairProblem, check_pair,
                            load_pair_problem, member_function)
from jeet.symbiosis.result import bundle_of, persist_run, summarize

M32 = 0xFFFFFFFF


@pytest.fixture(scope="module")
def example_run():
    """The built-in example, co-evolved for 30 generations."""
    problem = load_pair_problem(None, None, seed=4)
    co = Coevolution(problem, CoevolveConfig(generations=30, budget_s=None, seed=4))
    champions = []
    co.start()
    co.run(lambda c, stats: champions.append(c.champion))
    yield problem, co, champions
    co.close()


def test_coevolution_makes_the_example_pair_much_cheaper(example_run):
    _, co, _ = example_run
    assert co.champion.evaluation.fuel * 1.5 <= co.baseline.fuel  # at least 1.5x cheaper on the training cases
    assert co.champion.fitness > co.original.fitness == pytest.approx(0.5)


def test_the_champion_passes_every_held_out_case(example_run):
    problem, co, champions = example_run
    held = problem.oracle.held_out
    assert len(held) >= 100 * len(problem.oracle.train)
    with LinkedSandbox(problem.limits) as fresh:  # re-checked independently of the run's own sandbox
        for champ in {c.key: c for c in champions}.values():
            assert problem.oracle.verify(fresh, champ.pair, problem.function, held).ok
            check_pair(champ.pair.caller, champ.pair.callee)
    assert co.champion.verification.cases == len(held) and co.champion.verification.failures == 0


def test_both_modules_evolved_as_a_pair(example_run):
    _, co, _ = example_run
    changed = {co.champion.caller.sha256 != co.original.caller.sha256,
               co.champion.callee.sha256 != co.original.callee.sha256}
    assert True in changed
    assert len(co.table) > 50 and co.state.evaluations > 100
    rows = {side: ledger.as_rows() for side, ledger in co.ledgers.items()}
    assert all(sum(r["made"] for r in rows[side]) > 0 for side in rows)


def test_kept_pairs_are_strong_verified_and_better_than_the_original(example_run):
    _, co, _ = example_run
    kept = co.kept_pairs()
    assert kept, "the example run keeps at least one strong pair"
    c = co.config
    for sp in kept:
        s = co.table.symbiosis(*sp.key)
        assert s.score >= c.symbiosis_threshold and s.observations >= c.min_observations
        assert sp.fitness > c.keep_min_fitness and sp.verification.failures == 0
        back = PairBundle.from_bytes(bundle_of(co, sp).to_bytes())
        assert (back.caller, back.callee, back.fuel) == (sp.caller.wasm, sp.callee.wasm, sp.evaluation.fuel)


def test_strong_pairs_are_kept_in_the_store_and_pinned(example_run, tmp_path):
    problem, co, _ = example_run
    result = summarize(co, "generations", 1.0)
    with Store(tmp_path / "data") as store:
        info = persist_run(co, store, result)
        pinned = store.pinned()
        for entry in info["persisted"]:
            for role in ("caller", "callee"):
                sha = entry[role]
                assert store.get_specimen(sha) is not None and sha in pinned
                meta = store.specimen_info(sha)
                assert meta["function"].startswith(f"symbiosis:{role}:")
                partners = [p["partner"] for p in meta["metrics"]["partners"]]
                assert entry["callee" if role == "caller" else "caller"] in partners
        champ = co.champion
        # the lineage reaches back to the original modules
        assert co.original.caller.sha256 in store.ancestry(champ.caller.sha256) | {champ.caller.sha256}
        assert co.original.callee.sha256 in store.ancestry(champ.callee.sha256) | {champ.callee.sha256}
        assert store.specimen_info(champ.caller.sha256)["function"] == member_function("caller", problem.function)


def test_a_seed_reproduces_the_run():
    problem = load_pair_problem(None, None, seed=2)

    def run() -> tuple:
        with Coevolution(problem, CoevolveConfig(generations=4, budget_s=None, seed=9)) as co:
            co.run()
            return co.champion.key, len(co.table), co.state.evaluations

    assert run() == run()


# --- the held-out gate, on a hand-made pair -------------------------------------------------------------

CALLER = wasmtime.wat2wasm('(module (import "m" "triple" (func $t (param i32) (result i32)))'
                           ' (func (export "g") (param i32) (result i32) local.get 0 call $t i32.const 1 i32.add))')
# triple(x) by adding x three times in a loop: correct and slow
SLOW = wasmtime.wat2wasm('''(module (func (export "triple") (param i32) (result i32) (local i32 i32)
  (block (loop local.get 1 i32.const 3 i32.ge_u br_if 1
    local.get 2 local.get 0 i32.add local.set 2
    local.get 1 i32.const 1 i32.add local.set 1 br 0))
  local.get 2))''')
FAST = wasmtime.wat2wasm('(module (func (export "triple") (param i32) (result i32) local.get 0 i32.const 3 i32.mul))')
# right below 1000 only: passes small training cases, fails the held-out ones
WRONG = wasmtime.wat2wasm('(module (func (export "triple") (param i32) (result i32)'
                          ' local.get 0 i32.const 1000 i32.lt_u (if (result i32) (then local.get 0 i32.const 3 i32.mul)'
                          ' (else i32.const 0))))')


def triple_problem() -> PairProblem:
    rng = random.Random(5)

    def expect(x: int) -> tuple[int]:
        return ((3 * x + 1) & M32,)

    train = tuple(Case((x,), expect(x)) for x in (0, 1, 2, 7))
    held = tuple(Case((x,), expect(x)) for x in [rng.getrandbits(32) for _ in range(400)] + [5000, 2 ** 31])
    oracle = Oracle(("i32",), ("i32",), train, held, "tests")
    return PairProblem("triple", CALLER, SLOW, "g", oracle, Limits(), check_pair(CALLER, SLOW))


def test_a_wrong_pair_is_never_champion():
    problem = triple_problem()
    with Coevolution(problem, CoevolveConfig(generations=None, budget_s=None, population=4, seed=1)) as co:
        co.start()
        wrong = Pair(CALLER, WRONG)
        offered = PairBundle.from_bytes(PairBundle(CALLER, WRONG, "g", 1.0, 1).to_bytes())  # a peer's claim
        [arrived] = co.immigrate([offered.pair])  # correct on every training case, and cheaper than anything else
        assert arrived.fitness > co.champion.fitness
        trained = len(co.train)
        co.step()
        assert co.champion.key != wrong.key
        assert wrong.key in co.rejected_pairs and co.table.get(*wrong.key) == 0.0
        assert len(co.train) == trained + 1  # the counterexample joined the training set
        assert all(sp.key != wrong.key for sp in co.kept_pairs())
        # re-offered, it is now wrong on the training cases too
        assert co.immigrate([wrong]) == []


def test_a_right_cheaper_pair_becomes_champion_after_the_held_out_cases():
    problem = triple_problem()
    with Coevolution(problem, CoevolveConfig(generations=None, budget_s=None, population=4, seed=1)) as co:
        co.start()
        [fast] = co.immigrate([Pair(CALLER, FAST)])
        assert co.champion.key != fast.key  # not before it has passed the held-out cases
        co.step()
        assert co.champion.fitness >= fast.fitness > co.original.fitness
        assert co.champion.verification.failures == 0 and co.champion.verification.cases == 402
        assert co.champion.evaluation.fuel < co.original.evaluation.fuel


def test_tiny_training_sets_do_not_let_wrong_pairs_through():
    # One training case: many wrong pairs look right during the search; none may become champion.
    problem = load_pair_problem(None, None, seed=6, train_size=1)
    champions = []
    with Coevolution(problem, CoevolveConfig(generations=15, budget_s=None, seed=6, train_size=1)) as co:
        co.start()
        co.run(lambda c, _: champions.append(c.champion))
        assert co.rejected_pairs, "with one training case some wrong pair should have reached the held-out gate"
        with LinkedSandbox(problem.limits) as fresh:
            for champ in {c.key: c for c in champions}.values():
                assert champ.key not in co.rejected_pairs
                assert problem.oracle.verify(fresh, champ.pair, problem.function, problem.oracle.held_out).ok
