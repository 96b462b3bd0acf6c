"""Oracles from the user's tests, augmentation of the held-out set, and the pass/fail rule."""

from __future__ import annotations

import base64
import json

import pytest
from wasmtime import wat2wasm

from jeet.oracle import Case, Oracle, OracleError, load_tests, tests_oracle
from jeet.sandbox import ExecutionResult, Outcome



def wasm(text: str) -> bytes:
    return bytes(wat2wasm(text))


ABS = wasm('(module (func (export "abs") (param i32) (result i32) '
           'local.get 0 i32.const 0 i32.lt_s if (result i32) i32.const 0 local.get 0 i32.sub '
           'else local.get 0 end))')
# Sums n bytes starting at ptr.
SUM = wasm('(module (memory (export "memory") 1) (func (export "sum") (param i32 i32) (result i32) (local i32) '
           '(block (loop local.get 1 i32.eqz br_if 1 local.get 2 local.get 0 i32.load8_u i32.add local.set 2 '
           'local.get 0 i32.const 1 i32.add local.set 0 local.get 1 i32.const 1 i32.sub local.set 1 br 0)) '
           'local.get 2))')
# Reverses n bytes in place.
REVERSE = wasm('(module (memory (export "memory") 1) (func (export "rev") (param i32 i32) (local i32 i32) '
               'local.get 0 local.get 1 i32.add i32.const 1 i32.sub local.set 2 '
               '(block (loop local.get 0 local.get 2 i32.ge_u br_if 1 '
               'local.get 0 i32.load8_u local.set 3 local.get 0 local.get 2 i32.load8_u i32.store8 '
               'local.get 2 local.get 3 i32.store8 '
               'local.get 0 i32.const 1 i32.add local.set 0 local.get 2 i32.const 1 i32.sub local.set 2 br 0))))')


def jsonl(tmp_path, rows):
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_tests_oracle_without_memory_augments_with_differential_inputs(sandbox, tmp_path):
    rows = [{"args": [v], "expect": [abs(v)]} for v in (-5, 0, 7, -100, 2147483647)]
    tests = load_tests(jsonl(tmp_path, rows), ("i32",), ("i32",))
    oracle = tests_oracle(sandbox, ABS, "abs", tests, seed=1)
    assert oracle.source == "tests" and len(oracle.train) == 5
    assert len(oracle.held_out) >= 100 * len(oracle.train)
    assert list(oracle.held_out[:5]) == list(tests)  # every given case is held out
    assert len({c.args for c in oracle.held_out}) == len(oracle.held_out)
    assert oracle.verify(sandbox, ABS, "abs", oracle.held_out).ok


def test_training_is_a_seeded_sample(sandbox):
    tests = [Case((v,), (abs(v) & 0xFFFFFFFF,)) for v in range(40)]
    a = tests_oracle(sandbox, ABS, "abs", tests, seed=4, held_out_factor=2)
    b = tests_oracle(sandbox, ABS, "abs", tests, seed=4, held_out_factor=2)
    c = tests_oracle(sandbox, ABS, "abs", tests, seed=5, held_out_factor=2)
    assert len(a.train) == 16 and set(a.train) <= set(tests)
    assert a == b and a.train != c.train


def test_original_failing_its_own_tests_is_rejected_naming_the_line(sandbox, tmp_path):
    rows = [{"args": [1], "expect": [1]}, {"args": [-2], "expect": [2]}, {"args": [-3], "expect": [4]}]
    tests = load_tests(jsonl(tmp_path, rows), ("i32",), ("i32",))
    with pytest.raises(OracleError) as info:
        tests_oracle(sandbox, ABS, "abs", tests, seed=0)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 't.jsonl'}:3: the original fails its own test")
    assert "returns [3], the test expects [4]" in message


def test_original_that_does_not_trap_where_the_test_says_so(sandbox):
    with pytest.raises(OracleError, match="test case 0: .*expected a trap"):
        tests_oracle(sandbox, ABS, "abs", [Case((1,), trap=True)], seed=0)


def test_wrong_arity_in_tests(sandbox):
    with pytest.raises(OracleError, match="2 arguments"):
        tests_oracle(sandbox, ABS, "abs", [Case((1, 2), (1,))], seed=0)


def test_missing_expectations_come_from_the_original(sandbox):
    oracle = tests_oracle(sandbox, ABS, "abs", [Case((-9,)), Case((4,))], seed=0, held_out_factor=3)
    assert oracle.held_out[:2] == (Case((0xFFFFFFF7,), (9,)), Case((4,), (4,)))


def test_memory_cases_vary_places_lengths_and_contents(sandbox, tmp_path):
    rows = [{"args": [32, 8], "memory": [[32, base64.b64encode(bytes(range(1, 9))).decode()]], "expect": [36]},
            {"args": [100, 3], "memory": [[100, base64.b64encode(b"abc").decode()]], "expect": [294]}]
    tests = load_tests(jsonl(tmp_path, rows), ("i32", "i32"), ("i32",))
    oracle = tests_oracle(sandbox, SUM, "sum", tests, seed=2)
    assert len(oracle.held_out) >= 200
    augmented = [c for c in oracle.held_out[2:] if not c.trap]
    offsets = {c.memory[0][0] for c in augmented}
    lengths = {len(c.memory[0][1]) for c in augmented}
    assert len(offsets) > 50 and len(lengths) > 10 and any(off % 4 for off in offsets)
    moved = [c for c in augmented if c.args[0] == c.memory[0][0] and c.args[1] <= len(c.memory[0][1])]
    assert len(moved) > len(augmented) // 2  # the pointer follows its block
    for case in moved[:100]:
        (off, data), *halo = case.memory
        assert case.expect == (sum(data[:case.args[1]]),)
        # some blocks come with bytes just before and after them, which a correct variant never reads
        assert not halo or [(o, len(h)) for o, h in halo] == [(off - 16, 16), (off + len(data), 16)]
    assert any(len(c.memory) == 3 for c in moved) and any(len(c.memory) == 1 for c in moved)
    assert len({c.key for c in oracle.held_out}) == len(oracle.held_out)
    assert oracle.verify(sandbox, SUM, "sum", oracle.held_out).ok
    # Sign-extending loads agree on the stated tests (all bytes < 128) but not on augmented contents.
    assert SUM.count(b"\x2d\x00\x00") == 1
    signed = SUM.replace(b"\x2d\x00\x00", b"\x2c\x00\x00")
    assert oracle.verify(sandbox, signed, "sum", list(tests)).ok
    assert not oracle.verify(sandbox, signed, "sum", oracle.held_out).ok


def test_expect_memory_is_checked_and_effects_are_compared(sandbox):
    data = bytes([1, 2, 3, 4, 5])
    tests = [Case((10, 5), (), ((10, data),), False, ((10, data[::-1]),))]
    oracle = tests_oracle(sandbox, REVERSE, "rev", tests, seed=0, held_out_factor=30)
    assert len(oracle.held_out) >= 30
    assert oracle.verify(sandbox, REVERSE, "rev", oracle.held_out).ok
    identity = wasm('(module (memory (export "memory") 1) (func (export "rev") (param i32 i32)))')
    verdict = oracle.verify(sandbox, identity, "rev", oracle.held_out)
    assert not verdict.ok and "memory at 10" in verdict.message
    verdict = oracle.verify(sandbox, identity, "rev", oracle.held_out[1:], stop_at_first_failure=False)
    assert verdict.failed > 0 and "left memory as it was" in verdict.message
    with pytest.raises(OracleError, match="memory at 10 differs"):
        tests_oracle(sandbox, identity, "rev", tests, seed=0)


def test_check_rules():
    oracle = Oracle(("i32",), ("i32", "f32"), (), (), "tests")
    ok = ExecutionResult(Outcome.OK, (5, 0x7FC00000))
    assert oracle.check(Case((1,), (5, 0x7FA00000)), ok)  # any NaN matches
    assert oracle.check(Case((1,), (5 + 2 ** 32, 0x7FC00000)), ok)  # modulo 2**32
    assert not oracle.check(Case((1,), (6, 0x7FC00000)), ok)
    assert oracle.check(Case((1,)), ok)  # no expectation: finishing is enough
    trap = ExecutionResult(Outcome.TRAP, message="unreachable")
    assert oracle.check(Case((1,), trap=True), trap)
    assert not oracle.check(Case((1,), trap=True), ok)
    for outcome in (Outcome.OUT_OF_FUEL, Outcome.TIMEOUT, Outcome.OUT_OF_MEMORY, Outcome.INVALID):
        assert not oracle.check(Case((1,), trap=True), ExecutionResult(outcome))
        assert not oracle.check(Case((1,), (5, 0)), ExecutionResult(outcome))
    assert oracle.first_failure([Case((1,)), Case((1,), (6, 0))], [ok, ok]) == 1
    assert oracle.first_failure([Case((1,)), Case((1,))], [ok]) == 1  # the run stopped early
    assert oracle.first_failure([Case((1,))], [ok]) is None


def test_verify_reports_counts_fuel_and_signature_changes(sandbox):
    oracle = tests_oracle(sandbox, ABS, "abs", [Case((-3,), (3,)), Case((3,), (3,))], seed=0, held_out_factor=50)
    verdict = oracle.verify(sandbox, ABS, "abs", oracle.train)
    assert verdict.ok and verdict.passed == 2 and verdict.fuel > 0 and verdict.outcome_counts == {Outcome.OK: 2}
    i64 = wasm('(module (func (export "abs") (param i64) (result i64) local.get 0))')
    verdict = oracle.verify(sandbox, i64, "abs", oracle.train)
    assert not verdict.ok and "signature" in verdict.message
    verdict = oracle.verify(sandbox, b"garbage", "abs", oracle.train)
    assert not verdict.ok and verdict.outcome_counts == {Outcome.INVALID: 1}
    looping = wasm('(module (func (export "abs") (param i32) (result i32) (loop $l (br $l)) local.get 0))')
    verdict = oracle.verify(sandbox, looping, "abs", oracle.held_out, stop_at_first_failure=False)
    assert verdict.failed == len(oracle.held_out) == verdict.outcome_counts[Outcome.OUT_OF_FUEL]
    assert verdict.first_failure == 0 and "ran out of fuel" in verdict.message
    assert oracle.verify(sandbox, looping, "abs", oracle.held_out).total == 1


def test_a_run_stopped_at_its_first_failure_reports_the_cases_before_it_as_passed(sandbox):
    oracle = Oracle(("i32",), ("i32",), (), (), "tests")
    cases = [Case((-3,), (3,)), Case((4,), (4,)), Case((-5,), (6,)), Case((1,), (1,))]  # the third is wrong
    stopped = oracle.verify(sandbox, ABS, "abs", cases)
    assert (stopped.passed, stopped.failed, stopped.first_failure) == (2, 1, 2)
    assert stopped.message.startswith("case 2: returned [5], expected [6]")
    full = oracle.verify(sandbox, ABS, "abs", cases, stop_at_first_failure=False)
    assert (full.passed, full.failed, full.first_failure) == (3, 1, 2)


def test_oracle_is_picklable(sandbox):
    import pickle

    oracle = tests_oracle(sandbox, ABS, "abs", [Case((-3,), (3,))], seed=0, held_out_factor=10)
    assert pickle.loads(pickle.dumps(oracle)) == oracle
