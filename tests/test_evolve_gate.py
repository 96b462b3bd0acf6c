"""The correctness gate: checks run in order and plug in from outside; a rejection blacklists the candidate and
teaches the search its counterexample; a selector chooses among accepted candidates; the final check falls back
to the original."""

from __future__ import annotations

import wasmtime

from jeet.evolve.gate import Blacklist, Candidate, Gate, GateResult, HeldOutCheck, KnownBad
from jeet.evolve.worker import sha256
from jeet.oracle import Case, Oracle
from jeet.sandbox import Sandbox


def wat(body: str) -> bytes:
    return bytes(wasmtime.wat2wasm(f'(module (func (export "f") (param i32) (result i32) {body}))'))


# three times x, three ways: the reference, a right cheaper one, and one right only below 1000
REF = wat("local.get 0 local.get 0 i32.add local.get 0 i32.add")
FAST = wat("local.get 0 i32.const 3 i32.mul")
WRONG = wat("local.get 0 i32.const 1000 i32.lt_u (if (result i32) (then local.get 0 i32.const 3 i32.mul)"
            " (else (i32.const 0)))")
ORACLE = Oracle(("i32",), ("i32",), train=tuple(Case((x,), (3 * x,)) for x in (1, 2, 3)),
                held_out=tuple(Case((x,), ((3 * x) & 0xFFFFFFFF,)) for x in (5, 999, 1000, 70000)), source="tests")


def cand(wasm: bytes, fitness: float = 0.6) -> Candidate:
    return Candidate(sha256(wasm), wasm, fitness)


class Refuse:
    """A stand-in for a proof check: refuses one module and names a counterexample."""

    name = "proof"

    def __init__(self, bad: bytes) -> None:
        self.bad, self.seen = sha256(bad), []

    def check(self, candidate: Candidate) -> GateResult:
        self.seen.append(candidate.key)
        if candidate.key == self.bad:
            return GateResult(False, self.name, "not equivalent", Case((7,), (21,)), {"solver": "stand-in"})
        return GateResult(True, self.name, evidence={"solver": "stand-in"})


class Second:
    """A stand-in for a native-time race: wants two contenders and takes the second."""

    wants = 2

    def choose(self, incumbent, accepted):
        return accepted[-1]


def test_held_out_failure_is_blacklisted_and_its_counterexample_learned():
    with Sandbox() as sb:
        rejected = []
        gate = Gate([HeldOutCheck(sb, ORACLE, "f")], base_train=ORACLE.train, on_reject=rejected.append)
        verdict = gate.admit(cand(WRONG))
        assert not verdict.accepted and verdict.rejection.reason == "fails a held-out case"
        assert verdict.verification.failures == 1 and verdict.verification.cases == 4
        assert sha256(WRONG) in gate.blacklist and gate.blacklist.delta == [sha256(WRONG)]
        assert gate.train == ORACLE.train + (ORACLE.held_out[2],)  # x = 1000 joined the training set
        assert [v.candidate.key for v in rejected] == [sha256(WRONG)]
        ok = gate.admit(cand(FAST))
        assert ok.accepted and ok.verification.failures == 0 and len(gate.blacklist) == 1


def test_a_plugged_in_check_runs_after_the_held_out_cases_and_only_on_survivors():
    with Sandbox() as sb:
        proof = Refuse(FAST)
        gate = Gate([HeldOutCheck(sb, ORACLE, "f"), proof], base_train=ORACLE.train)
        promotion = gate.promote(cand(REF, 0.5), [cand(WRONG, 0.9), cand(FAST, 0.8)])
        assert promotion.champion is None  # one failed the held-out cases, the other the "proof"
        assert proof.seen == [sha256(FAST)]  # the wrong one never reached the second check
        assert [v.rejection.check for v in promotion.rejected] == ["held_out", "proof"]
        assert gate.learned == [ORACLE.held_out[2], Case((7,), (21,))]


def test_a_check_may_refuse_without_condemning():
    class NotFaster:
        name = "native_time"

        def check(self, candidate):
            return GateResult(False, self.name, "not measurably faster", evidence={"ratio": 1.0}, blacklist=False)

    with Sandbox() as sb:
        gate = Gate([HeldOutCheck(sb, ORACLE, "f"), NotFaster()])
        verdict = gate.admit(cand(FAST))
        assert not verdict.accepted and verdict.rejection.evidence == {"ratio": 1.0}
        assert len(gate.blacklist) == 0 and gate.learned == []  # it may come back when it is faster


def test_a_selector_chooses_among_accepted_candidates():
    other = wat("local.get 0 i32.const 1 i32.shl local.get 0 i32.add")
    with Sandbox() as sb:
        gate = Gate([HeldOutCheck(sb, ORACLE, "f")], selector=Second())
        promotion = gate.promote(cand(REF, 0.5), [cand(FAST, 0.9), cand(WRONG, 0.8), cand(other, 0.7)])
        assert promotion.champion.key == sha256(other) and promotion.verdict.accepted
        assert [v.candidate.key for v in promotion.rejected] == [sha256(WRONG)]


def test_a_selector_that_is_not_ready_keeps_the_incumbent_after_checking_only_the_best_contender():
    """A race whose timing budget is spent could only keep the incumbent: the gate does not run the held-out
    cases of every contender it would have raced, only until the best correct one (learning what fails)."""

    class Spent(Second):
        def ready(self) -> bool:
            return False

        def choose(self, incumbent, accepted):
            raise AssertionError("choose is not asked while the selector is not ready")

    other = wat("local.get 0 i32.const 1 i32.shl local.get 0 i32.add")
    with Sandbox() as sb:
        checks = Refuse(b"")
        gate = Gate([HeldOutCheck(sb, ORACLE, "f"), checks], base_train=ORACLE.train, selector=Spent())
        promotion = gate.promote(cand(REF, 0.5), [cand(WRONG, 0.9), cand(FAST, 0.8), cand(other, 0.7)])
    assert promotion.champion is None
    assert [v.candidate.key for v in promotion.rejected] == [sha256(WRONG)] and gate.learned
    assert checks.seen == [sha256(FAST)]  # the third contender was not checked


def test_the_final_check_falls_back_to_the_original(tmp_path):
    from jeet.store import Store

    with Sandbox() as sb, Store(tmp_path) as store:
        gate = Gate([HeldOutCheck(sb, ORACLE, "f")], blacklist=Blacklist(store))
        verdict = gate.confirm([cand(WRONG), cand(REF)], fallback=sha256(REF))
        assert verdict.candidate.key == sha256(REF) and verdict.accepted
        assert store.is_blacklisted(sha256(WRONG)) and "final check" in store.blacklist_reason(sha256(WRONG))
        assert gate.learned == []  # a final check teaches nothing: the run is over


def test_screening_re_scores_arrivals_and_refuses_the_known_bad():
    from jeet.evolve.evaluation import Evaluation, Status

    gate = Gate([], blacklist=Blacklist(known={"bad"}))
    verdicts = {"a": Evaluation(Status.OK, fitness=0.7), "b": Evaluation(Status.WRONG), "bad": Evaluation(Status.OK)}
    judged = []

    def evaluate(k):
        judged.append(k)
        return verdicts[k]

    passed = gate.screen(["a", "b", "bad", "a", "c"], lambda k: None if k == "c" else k, evaluate)
    assert [k for k, _ in passed] == ["a"] and judged == ["a", "b"]
    assert "b" in gate.blacklist  # wrong on the training cases: never evaluated again


def test_a_quiet_selector_chooses_with_idle_workers_and_the_run_is_unchanged():
    from jeet.evolve import EvolveConfig, Evolution, load_problem

    problem = load_problem(None, kernel="popcount", seed=1, train_size=8)
    config = EvolveConfig(population=16, generations=16, budget_s=None, workers=1, use_wasm_opt=False, seed=3,
                          objective="fuel")  # fuel: the reference run's champion must not depend on a measurement

    class QuietFirst:
        wants, quiet = 1, True

        def __init__(self, evo) -> None:
            self.evo, self.busy_at_choice = evo, []

        def choose(self, incumbent, accepted):
            self.busy_at_choice.append(self.evo.pipeline.inflight is not None)
            return accepted[0]

    runs = []
    for quiet in (False, True):
        with Evolution(problem, config) as evo:
            if quiet:
                evo.gate.selector = selector = QuietFirst(evo)
            evo.run()
            runs.append((evo.champion.sha256, [r.best_fuel for r in evo.logbook.rows], evo.state.evaluations))
    assert selector.busy_at_choice and not any(selector.busy_at_choice)
    assert runs[0] == runs[1]


def test_a_stores_blacklist_is_known_to_a_run_as_64_bit_prefixes(tmp_path):
    from jeet.store import Store

    with Store(tmp_path) as store:
        store.blacklist(sha256(WRONG), "wrong")
        known = KnownBad.of(store)
    assert sha256(WRONG) in known and sha256(REF) not in known and len(known) == 1
    assert "bad" not in known and None not in known  # not a module hash: never known bad
    blacklist = Blacklist(None, known)
    assert sha256(WRONG) in blacklist and len(blacklist) == 0  # known before the run, not added by it
    blacklist.add(sha256(WRONG), "again")
    assert blacklist.delta == []  # workers already hold it
