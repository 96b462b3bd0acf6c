"""The timing harness computes what the function computes, for every case, every repetition."""

from __future__ import annotations

import pytest
import wasmtime

from jeet import wasm as w
from jeet.kernels import get_kernel
from jeet.oracle import Case, load_tests
from jeet.timing import TimingError, build_harness, empty_variant
from jeet.timing.clock import Clock

POPCOUNT_LOOP = bytes(wasmtime.wat2wasm("""
(module (func (export "f") (param $x i32) (result i32) (local $n i32)
  (block $done (loop $l
    (br_if $done (i32.eqz (local.get $x)))
    (local.set $n (i32.add (local.get $n) (i32.and (local.get $x) (i32.const 1))))
    (local.set $x (i32.shr_u (local.get $x) (i32.const 1)))
    (br $l)))
  (local.get $n)))"""))

# Two results of different types: the harness folds both, f64 by its bits.
PAIR = bytes(wasmtime.wat2wasm("""
(module (func (export "g") (param i64 f64) (result i64 f64)
  (i64.mul (local.get 0) (i64.const 3)) (f64.add (local.get 1) (f64.const 0.5))))"""))

# Reads its input from memory: each case's block must be in place before its own call.
FIRST_BYTE = bytes(wasmtime.wat2wasm("""
(module (memory (export "memory") 1)
  (func (export "h") (param i32) (result i32) (i32.load8_u (local.get 0))))"""))


def run_harness(wasm: bytes, function: str, cases: list[Case], reps: int) -> int:
    h = build_harness(wasm, function, cases)
    with Clock() as clock:
        return clock.load(h)[0].run(reps)[1]


def sandbox_results(sandbox, wasm: bytes, function: str, cases: list[Case]) -> list[tuple[int, ...]]:
    out = []
    for case in cases:
        r = sandbox.run(wasm, function, [case])[0]
        assert r.ok, r.message
        out.append(r.results)
    return out


@pytest.mark.parametrize("reps", [1, 2, 7])
def test_harness_sums_the_functions_results_each_repetition(sandbox, reps: int) -> None:
    cases = [Case((x,)) for x in (0, 1, 0xFF, 0xFFFFFFFF, 12345)]
    expected = build_harness(POPCOUNT_LOOP, "f", cases).expected_sink(
        sandbox_results(sandbox, POPCOUNT_LOOP, "f", cases), reps)
    assert expected == reps * (0 + 1 + 8 + 32 + 6)
    assert run_harness(POPCOUNT_LOOP, "f", cases, reps) == expected


def test_harness_folds_every_result_of_every_type(sandbox) -> None:
    cases = [Case((5, 0x3FF0000000000000)), Case((2**64 - 1, 0x4000000000000000))]  # 1.0 and 2.0 as bits
    expected = build_harness(PAIR, "g", cases).expected_sink(sandbox_results(sandbox, PAIR, "g", cases), 3)
    assert run_harness(PAIR, "g", cases, 3) == expected


def test_each_case_gets_its_own_memory_before_its_call(sandbox) -> None:
    cases = [Case((100,), memory=((100, bytes([b])),)) for b in (7, 200, 0, 42)]
    assert run_harness(FIRST_BYTE, "h", cases, 5) == 5 * (7 + 200 + 0 + 42)


def test_kernel_with_buffers_matches_the_sandbox(sandbox) -> None:
    k = get_kernel("sum_bytes")
    cases = list(load_tests(k.tests_path(), k.params, k.results))[:40]
    wasm = k.wasm("O2opt")
    expected = build_harness(wasm, k.function, cases).expected_sink(sandbox_results(sandbox, wasm, k.function, cases), 4)
    assert run_harness(wasm, k.function, cases, 4) == expected


def test_the_sink_depends_on_every_call() -> None:
    """A variant that differs on one input only gives another sink: no call's result is dead."""
    other = bytes(wasmtime.wat2wasm("""
    (module (func (export "f") (param i32) (result i32)
      (select (i32.const 99) (i32.popcnt (local.get 0)) (i32.eq (local.get 0) (i32.const 12345)))))"""))
    cases = [Case((x,)) for x in (0, 1, 0xFF, 12345)]
    assert run_harness(POPCOUNT_LOOP, "f", cases, 1) != run_harness(other, "f", cases, 1)


def test_harness_keeps_the_candidates_code_and_adds_one_export() -> None:
    k = get_kernel("popcount")
    original = w.decode(k.wasm("O0"))
    h = w.decode(build_harness(k.wasm("O0"), k.function, [Case((3,))]).wasm)
    assert h.bodies[: len(original.bodies)] == original.bodies
    assert {e.name for e in h.exports} == {e.name for e in original.exports} | {"__jeet_time"}


def test_empty_variant_returns_zeros_with_the_same_signature() -> None:
    cases = [Case((5, 0x3FF0000000000000))]
    assert run_harness(empty_variant(PAIR, "g"), "g", cases, 9) == 0
    assert w.decode(empty_variant(PAIR, "g")).types == w.decode(PAIR).types


def test_trap_cases_are_not_timed_and_bad_inputs_are_clear_errors() -> None:
    with pytest.raises(TimingError, match="no cases"):
        build_harness(POPCOUNT_LOOP, "f", [Case((1,), trap=True)])
    with pytest.raises(TimingError, match="no exported function 'nope'"):
        build_harness(POPCOUNT_LOOP, "nope", [Case((1,))])
    with pytest.raises(TimingError, match="defines or imports none"):
        build_harness(POPCOUNT_LOOP, "f", [Case((1,), memory=((0, b"x"),))])
    with pytest.raises(TimingError, match="cannot read"):
        build_harness(b"\0asm junk", "f", [Case((1,))])
