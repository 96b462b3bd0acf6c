"""The proof in the gate: planted bugs that escape every held-out case are refuted, never become
champion, are never adopted by a node nor served by the runtime; their counterexample joins training."""

from __future__ import annotations

import hashlib

import wasmtime

from jeet.evolve import EvolveConfig, Evolution
from jeet.evolve.gate import Candidate, Gate, HeldOutCheck
from jeet.evolve.problem import Problem
from jeet.evolve.proof_check import ProofCheck, judge
from jeet.node.workload import Workload
from jeet.oracle import differential_oracle
from jeet.prove import Verification
from jeet.runtime import Runtime
from jeet.sandbox import Limits, Sandbox

# popcnt the slow way (the original: a detour a search would shorten) and the planted bug, which is
# shorter, so it contends for champion, and wrong only for x == 0x13371337
SLOW_POPCNT = """(module (func (export "f") (param i32) (result i32)
  local.get 0 i32.popcnt i32.const 0 i32.add i32.const 0 i32.add i32.const 0 i32.or i32.const 0 i32.xor))"""
POPCNT = '(module (func (export "f") (param i32) (result i32) local.get 0 i32.popcnt))'
BUG = """(module (func (export "f") (param i32) (result i32)
  local.get 0 i32.const 0x13371337 i32.eq (if (result i32) (then i32.const 99) (else local.get 0 i32.popcnt))))"""
# a store of a different byte at one address only
STORE = """(module (memory (export "memory") 1) (func (export "f") (param i32 i32)
  local.get 0 i32.const 1023 i32.and local.get 1 i32.store8))"""
STORE_BUG = """(module (memory (export "memory") 1) (func (export "f") (param i32 i32)
  local.get 0 i32.const 1023 i32.and
  local.get 1 local.get 0 i32.const 1023 i32.and i32.const 777 i32.eq i32.xor
  i32.store8))"""
LOOP = """(module (func (export "f") (param i32) (result i32) (local i32)
  (block $done (loop $next
    local.get 0 i32.eqz br_if $done
    local.get 0 local.get 0 i32.const 1 i32.sub i32.and local.set 0
    local.get 1 i32.const 1 i32.add local.set 1
    br $next))
  local.get 1))"""


def wasm(wat: str) -> bytes:
    return wasmtime.wat2wasm(wat)


def problem(wat: str, seed: int = 0) -> Problem:
    w = wasm(wat)
    with Sandbox() as sb:
        oracle = differential_oracle(sb, w, "f", seed=seed, train_size=8, held_out_factor=100)
    return Problem("planted", w, "f", oracle, Limits())


def cand(w: bytes) -> Candidate:
    return Candidate(hashlib.sha256(w).hexdigest(), w)


def test_planted_popcnt_bug_passes_held_out_but_is_refuted_with_that_input():
    p = problem(SLOW_POPCNT)
    with Sandbox() as sb:
        held = HeldOutCheck(sb, p.oracle, "f")
        assert held.check(cand(wasm(BUG))).accepted  # the bug escapes every held-out case
        proof = ProofCheck(p.wasm, "f", timeout_s=5.0, sandbox=sb)
        gate = Gate([held, proof], base_train=p.oracle.train)
        verdict = gate.admit(cand(wasm(BUG)))
    r = verdict.rejection
    assert r is not None and r.check == "proof" and r.blacklist
    assert r.counterexample.args == (0x13371337,)
    assert gate.train[-1].args == (0x13371337,)  # fed back into training
    assert cand(wasm(BUG)).key in gate.blacklist
    assert r.evidence["result"] == "refuted" and r.evidence["counterexample"]["args"]


def test_planted_store_bug_is_refuted_at_that_address():
    p = problem(STORE)
    with Sandbox() as sb:
        assert HeldOutCheck(sb, p.oracle, "f").check(cand(wasm(STORE_BUG))).accepted
        r = ProofCheck(p.wasm, "f", timeout_s=5.0, sandbox=sb).check(cand(wasm(STORE_BUG)))
    assert not r.accepted and r.blacklist
    assert r.counterexample.args[0] & 1023 == 777


def test_equivalent_loop_free_variant_is_proved_and_cached():
    proof = ProofCheck(wasm(SLOW_POPCNT), "f", timeout_s=5.0)
    r = proof.check(cand(wasm(POPCNT)))
    assert r.accepted and r.evidence["result"] == "proved"
    proof.check(cand(wasm(POPCNT)))
    assert proof.runs == 1  # cached by content hash


def test_loop_variant_is_bounded_with_k():
    proof = ProofCheck(wasm(LOOP), "f", bound=16, timeout_s=30.0)  # the target: bounded(16) within 30 s
    r = proof.check(cand(wasm(POPCNT)))
    assert r.accepted and r.evidence["result"] == "bounded" and r.evidence["bound"] == 16


def test_policy_for_unknown_answers():
    uncovered = Verification("smt:bitwuzla", "unknown", None, 0.0, None, "variant: f32.add is not covered")
    timeout = Verification("smt:bitwuzla", "unknown", None, 5.0, None, "bitwuzla: no answer within 5 s")
    j = judge(uncovered, 16)
    assert j.accepted and j.status == "tested only" and "f32.add" in j.reason
    j = judge(timeout, 16)
    assert not j.accepted and not j.blacklist  # not adopted this time, not condemned (loops or not)
    assert not judge(Verification("smt", "bounded", 8, 0.0), 16).accepted


def test_planted_bug_never_becomes_champion_and_its_counterexample_is_learned():
    p = problem(SLOW_POPCNT)
    # timing_share=0.99: the race is always ready, so the gate checks every contender it wants (a race over its
    # share checks only the best one, which need not be the bug)
    cfg = EvolveConfig(population=8, generations=1, workers=1, use_wasm_opt=False, budget_s=None, prove_timeout_s=5.0,
                       timing_share=0.99)
    with Evolution(p, cfg) as evo:
        evo.start()
        assert evo.immigrate([wasm(BUG)], policy="worst")
        evo.promote(force=True)  # the proof starts in the background: nothing adopted yet
        assert evo.champion.sha256 != cand(wasm(BUG)).key
        evo.proof.final()  # as the run's final check does: wait for the answer
        evo.promote(force=True)
        assert evo.champion.sha256 != cand(wasm(BUG)).key
        assert cand(wasm(BUG)).key in evo.gate.blacklist
        assert any(c.args == (0x13371337,) for c in evo.train)
        assert evo.proof.counterexamples_learned == 1


def test_a_member_proved_after_selection_dropped_it_still_becomes_champion():
    """Proofs run one at a time; by the time one is in, selection may have replaced its member with
    near-equal newcomers. The proved one is still offered (and kept through retraining)."""
    p = problem(SLOW_POPCNT)
    cfg = EvolveConfig(population=4, generations=1, workers=1, use_wasm_opt=False, budget_s=None, prove_timeout_s=5.0,
                       objective="fuel")
    odd = '(module (func (export "f") (param i32) (result i32) local.get 0 i32.popcnt local.get 0 local.get 0 i32.xor i32.or))'
    fast = cand(wasm(odd)).key  # shorter than the original, and not what a one-generation search makes
    with Evolution(p, cfg) as evo:
        evo.start()
        assert evo.immigrate([wasm(odd)], policy="worst")
        assert fast in [m.sha256 for m in evo._contenders()]  # offered while its proof runs
        assert evo.proof.verify(wasm(odd), fast)[1].accepted  # the answer comes in...
        evo.algorithm.drop(fast)  # ...after selection replaced it
        assert fast in [m.sha256 for m in evo._contenders()]
        evo.promote(force=True)
        champion = evo.champion.sha256
        assert champion != cand(p.wasm).key and evo.proof.accepted(champion)
        assert any(m.sha256 == champion for m in evo.population)
        evo._retrain()
        assert evo.champion.sha256 == champion


def test_the_prover_turns_first_to_members_of_operators_whose_proofs_accept():
    """One proof runs at a time. Once an operator's proofs keep being declined this run (constant tweaks
    of a loop, say), a slightly less fit member from an operator with no such record is proved first."""
    import dataclasses
    p = problem(SLOW_POPCNT)
    cfg = EvolveConfig(population=4, generations=1, workers=1, use_wasm_opt=False, budget_s=None, prove_timeout_s=5.0,
                       objective="fuel")
    plus = '(module (func (export "f") (param i32) (result i32) local.get 0 i32.popcnt i32.const 0 i32.add))'
    best, good = cand(wasm(POPCNT)).key, cand(wasm(plus)).key
    with Evolution(p, cfg) as evo:
        evo.start()
        assert evo.immigrate([wasm(POPCNT), wasm(plus)], policy="worst")
        label = {best: "const_perturb", good: "range_reduce"}
        evo.population = [dataclasses.replace(m, operator=label.get(m.sha256, m.operator)) for m in evo.population]
        order = [m.sha256 for m in evo._contenders()]
        assert order.index(best) < order.index(good)  # no record yet: the fitter first
        evo._proof_tally["const_perturb"] = (0, 12)
        order = [m.sha256 for m in evo._contenders()]
        assert order.index(good) < order.index(best)


def test_node_does_not_adopt_a_planted_bug():
    w = Workload(problem(SLOW_POPCNT, seed=3))
    try:
        bad = w.check(wasm(BUG))
        good = w.check(wasm(POPCNT))
    finally:
        w.close()
    assert not bad.ok and bad.reason.startswith("proof: refuted")
    assert good.ok


def test_runtime_never_serves_a_planted_bug(tmp_path):
    with Runtime(tmp_path, hot=0, shadow=0.0) as rt:
        fn = rt.load(SLOW_POPCNT, "f")
        assert not fn.offer(wasm(BUG), require_better=False)
        assert hashlib.sha256(wasm(BUG)).hexdigest() in fn.record.blacklist
        assert fn(0x13371337) == 16
        assert fn.offer(wasm(POPCNT), require_better=False)


def test_dropping_an_unexported_stack_pointer_the_original_restores_is_proved():
    from jeet.evolve.seeding import wasm_opt_variant
    from jeet.kernels import get_kernel
    from jeet.prove import prove

    original = get_kernel("sign").wasm_path("O0").read_bytes()
    optimized = wasm_opt_variant(original)  # wasm-opt drops the stack-pointer global sign never needs
    assert prove(original, optimized, "sign", timeout_s=5.0).result == "proved"


def test_dropping_a_global_the_original_changes_is_not_proved():
    from jeet.prove import prove

    counts = wasm("""(module (global $n (mut i32) (i32.const 0)) (func (export "f") (param i32) (result i32)
      global.get $n i32.const 1 i32.add global.set $n local.get 0))""")
    v = prove(counts, wasm('(module (func (export "f") (param i32) (result i32) local.get 0))'), "f", timeout_s=5.0)
    assert v.result == "unknown" and "different globals" in v.reason


def test_a_check_that_overruns_its_wall_clock_limit_costs_that_check_only():
    proof = ProofCheck(wasm(SLOW_POPCNT), "f", timeout_s=1.0, limit_s=0.001)
    try:
        r = proof.check(cand(wasm(POPCNT)))  # loop-free: a proof was possible and did not finish
        assert not r.accepted and not r.blacklist and "limit" in r.reason
        proof.limit_s = proof._process.limit_s = 30.0
        proof._cache.clear()
        assert proof.check(cand(wasm(POPCNT))).accepted  # a fresh child process answers
    finally:
        proof.close()


def test_a_check_that_grows_past_its_memory_cap_costs_that_check_only():
    proof = ProofCheck(wasm(SLOW_POPCNT), "f", timeout_s=5.0, limit_s=30.0)
    try:
        proof._process.memory_cap = 1  # below any process: the watchdog stops the child at once
        r = proof.check(cand(wasm(POPCNT)))
        assert not r.accepted and not r.blacklist and "limit of 0 MB" in r.reason
        proof._process.memory_cap = 1 << 40
        proof._cache.clear()
        assert proof.check(cand(wasm(POPCNT))).accepted  # a fresh child process answers
    finally:
        proof.close()


def test_a_background_proof_does_not_hold_up_the_search_and_is_collected_later():
    proof = ProofCheck(wasm(SLOW_POPCNT), "f", timeout_s=2.0, limit_s=30.0, background=True)
    try:
        r = proof.check(cand(wasm(POPCNT)))
        assert not r.accepted and not r.blacklist and "background" in r.reason
        proof.final()
        assert proof.check(cand(wasm(POPCNT))).accepted
        assert proof.runs == 1
    finally:
        proof.close()


def test_the_gate_compares_a_tweak_with_the_variants_it_adopted_before():
    """A restructured loop is adopted as bounded; a later contender with the same new skeleton and a
    compare wrong only after hundreds of iterations is not, though bounded unrolling alone would pass it."""
    from checksum_wat import CHECKSUM, SUBTRACT, WRONG_COMPARE, module, restructured
    from jeet.prove import DOUBT

    check = ProofCheck(module(CHECKSUM), "f", bound=8, timeout_s=5.0)
    _, adopted = check.verify(restructured(SUBTRACT))
    assert adopted.accepted and adopted.status == "bounded"
    v, j = check.verify(restructured(WRONG_COMPARE))
    assert not j.accepted and j.blacklist and DOUBT in v.reason, (v, j)
