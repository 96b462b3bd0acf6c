"""Linking a caller to a callee: one store, one fuel budget for both, the sandbox's limits, clear refusals."""

from __future__ import annotations

import subprocess

import pytest
import wasmtime

from jeet.oracle import Case, differential_oracle
from jeet.sandbox import Limits, Outcome
from jeet.symbiosis import (EXAMPLE_CALLER, LinkedSandbox, Pair, SymbiosisError, check_pair, load_pair_problem,
                            pair_limits)

from toolchain_support import needs_wasm_clang

CALLER = wasmtime.wat2wasm('''(module
  (import "m" "f" (func $f (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "g") (param i32) (result i32)
    local.get 0 call $f i32.const 1 i32.add)
  (func (export "peek") (param i32) (result i32)
    local.get 0 i32.load call $f))''')


def callee_loop(n: int) -> bytes:
    """f(x) = 2x after counting to n: n iterations of pure overhead."""
    return wasmtime.wat2wasm(f'''(module
      (func (export "f") (param i32) (result i32) (local i32)
        (block (loop
          local.get 1 i32.const {n} i32.ge_u br_if 1
          local.get 1 i32.const 1 i32.add local.set 1
          br 0))
        local.get 0 i32.const 2 i32.mul))''')


@pytest.fixture(scope="module")
def linked():
    with LinkedSandbox() as ls:
        yield ls


def test_the_caller_computes_through_the_callee(linked):
    r = linked.call(Pair(CALLER, callee_loop(3)), "g", [20])
    assert r.outcome is Outcome.OK and r.results == (41,)


def test_fuel_covers_both_modules_exactly(linked, sandbox):
    # The pair's extra cost for a slower callee is exactly the callee's own extra cost, measured alone.
    cheap, dear = callee_loop(0), callee_loop(100)
    pair_cheap = linked.call(Pair(CALLER, cheap), "g", [7]).fuel
    pair_dear = linked.call(Pair(CALLER, dear), "g", [7]).fuel
    alone_cheap = sandbox.call(cheap, "f", [7]).fuel
    alone_dear = sandbox.call(dear, "f", [7]).fuel
    assert alone_dear - alone_cheap > 500
    assert pair_dear - pair_cheap == alone_dear - alone_cheap
    assert pair_cheap > alone_cheap  # the caller's own instructions are charged too


def test_total_fuel_sums_the_cases(linked):
    pair = Pair(CALLER, callee_loop(10))
    cases = [Case((x,)) for x in range(5)]
    per_case = [r.fuel for r in linked.run(pair, "g", cases)]
    assert linked.total_fuel(pair, "g", cases) == sum(per_case) > 0


def test_one_fuel_budget_for_the_pair():
    with LinkedSandbox(Limits(fuel=2_000)) as ls:
        assert ls.call(Pair(CALLER, callee_loop(10)), "g", [1]).outcome is Outcome.OK
        r = ls.call(Pair(CALLER, callee_loop(10_000)), "g", [1])
        assert r.outcome is Outcome.OUT_OF_FUEL and r.fuel == 2_000


def test_deadline_stops_a_callee_that_never_returns():
    spin = wasmtime.wat2wasm('(module (func (export "f") (param i32) (result i32) (loop br 0) i32.const 0))')
    with LinkedSandbox(Limits(fuel=10**15, deadline_s=0.05)) as ls:
        r = ls.call(Pair(CALLER, spin), "g", [1])
    assert r.outcome is Outcome.TIMEOUT


def test_memory_cap_applies_to_the_callee():
    big = wasmtime.wat2wasm('(module (memory (export "mem") 32) (func (export "f") (param i32) (result i32) local.get 0))')
    grow = wasmtime.wat2wasm('(module (memory 1) (func (export "f") (param i32) (result i32) '
                             'local.get 0 memory.grow))')
    with LinkedSandbox(Limits(memory_bytes=1 << 20)) as ls:
        assert ls.call(Pair(CALLER, big), "g", [0]).outcome is Outcome.OUT_OF_MEMORY
        # growing past the cap fails the way the spec says: memory.grow returns -1
        assert ls.call(Pair(CALLER, grow), "g", [15]).results == (1 + 1,)
        assert ls.call(Pair(CALLER, grow), "g", [16]).results == (0,)


def test_pair_limits_make_room_for_two_instances():
    lim = pair_limits(Limits())
    assert lim.instances >= 2 and lim.memories >= 2 and lim.tables >= 2


def test_a_trap_in_the_callee_is_the_pairs_trap_and_the_next_case_starts_fresh(linked):
    div = wasmtime.wat2wasm('(module (func (export "f") (param i32) (result i32) i32.const 100 local.get 0 i32.div_u))')
    results = linked.run(Pair(CALLER, div), "g", [Case((0,)), Case((4,))])
    assert results[0].outcome is Outcome.TRAP and "divide by zero" in results[0].message
    assert results[1].outcome is Outcome.OK and results[1].results == (26,)


def test_case_memory_goes_into_the_callers_memory(linked):
    case = Case((64,), memory=((64, (21).to_bytes(4, "little")),))
    r = linked.run(Pair(CALLER, callee_loop(0)), "peek", [case])[0]
    assert r.outcome is Outcome.OK and r.results == (42,)
    assert r.peak_pages == 1  # the caller's memory; this callee has none


def test_float_bits_cross_the_link_exactly(linked):
    caller = wasmtime.wat2wasm('(module (import "m" "id" (func $id (param f32) (result f32)))'
                               ' (func (export "g") (param f32) (result f32) local.get 0 call $id))')
    callee = wasmtime.wat2wasm('(module (func (export "id") (param f32) (result f32) local.get 0))')
    r = linked.call(Pair(caller, callee), "g", [0x7FA00001])  # a signalling NaN with a payload
    assert r.results == (0x7FA00001,)


def test_consecutive_cases_share_the_callees_state(linked):
    counter = wasmtime.wat2wasm('(module (global $n (mut i32) (i32.const 0)) (func (export "f") (param i32) '
                                '(result i32) global.get $n i32.const 1 i32.add global.set $n global.get $n))')
    results = linked.run(Pair(CALLER, counter), "g", [Case((0,))] * 3)
    assert [r.results for r in results] == [(2,), (3,), (4,)]


UNLINKABLE = {
    "missing export": ('(module (func (export "h") (param i32) (result i32) local.get 0))',
                       "exports no func 'f'"),
    "wrong type": ('(module (func (export "f") (param i64) (result i32) i32.const 0))',
                   "as [i32] -> [i32], the callee exports 'f' as [i64] -> [i32]"),
    "wrong kind": ('(module (memory (export "f") 1))', "the callee exports 'f' as a memory"),
    "callee imports": ('(module (import "x" "y" (func)) (func (export "f") (param i32) (result i32) local.get 0))',
                       "must be self-contained"),
}


@pytest.mark.parametrize("case", sorted(UNLINKABLE))
def test_an_unlinkable_pair_is_refused_with_the_reason(linked, case):
    wat, reason = UNLINKABLE[case]
    pair = Pair(CALLER, wasmtime.wat2wasm(wat))
    with pytest.raises(SymbiosisError, match="callee") as err:
        check_pair(pair.caller, pair.callee)
    assert reason in str(err.value)
    r = linked.call(pair, "g", [1])  # running it never raises: the refusal is an INVALID result
    assert r.outcome is Outcome.INVALID and reason in r.message
    with pytest.raises(SymbiosisError):
        linked.link(pair)


def test_a_caller_without_imports_has_no_callee(linked):
    lone = wasmtime.wat2wasm('(module (func (export "g") (param i32) (result i32) local.get 0))')
    with pytest.raises(SymbiosisError, match="imports no function"):
        check_pair(lone, callee_loop(0))


def test_memory_imports_follow_the_matching_rules():
    caller = wasmtime.wat2wasm('(module (import "m" "mem" (memory 2 4)) (import "m" "f" (func (param i32) (result i32)))'
                               ' (func (export "g") (param i32) (result i32) i32.const 0 i32.load))')
    fits = wasmtime.wat2wasm('(module (memory (export "mem") 3 4) (func (export "f") (param i32) (result i32) local.get 0))')
    small = wasmtime.wat2wasm('(module (memory (export "mem") 1 4) (func (export "f") (param i32) (result i32) local.get 0))')
    check_pair(caller, fits)
    with pytest.raises(SymbiosisError, match="memory limits do not match"):
        check_pair(caller, small)
    with LinkedSandbox() as ls:
        assert ls.call(Pair(caller, fits), "g", [0]).outcome is Outcome.OK


def test_malformed_modules_are_named(linked):
    with pytest.raises(SymbiosisError, match="caller: malformed module"):
        check_pair(b"\0asm\x01\0\0\0\x01\xff", callee_loop(0))
    r = linked.call(Pair(b"not wasm", callee_loop(0)), "g", [1])
    assert r.outcome is Outcome.INVALID and "caller" in r.message
    r = linked.call(Pair(CALLER, callee_loop(0)), "nope", [1])
    assert r.outcome is Outcome.INVALID and "no function 'nope'" in r.message


def test_the_oracle_of_a_pair_is_built_from_the_original_pair(linked):
    pair = Pair(CALLER, callee_loop(2))
    oracle = differential_oracle(linked, pair, "g", seed=3, train_size=8)
    assert len(oracle.held_out) >= 100 * len(oracle.train)
    assert all(c.expect == (((c.args[0] * 2) + 1) & 0xFFFFFFFF,) for c in oracle.train if not c.trap)
    assert oracle.verify(linked, pair, "g", oracle.held_out).ok
    wrong = Pair(CALLER, callee_loop(2).replace(b"\x41\x02\x6c", b"\x41\x03\x6c"))  # i32.const 2 i32.mul -> 3
    assert wrong.callee != pair.callee
    assert not oracle.verify(linked, wrong, "g", oracle.held_out).ok


def test_the_built_in_example_links_and_has_its_oracle():
    problem = load_pair_problem(None, None, seed=1)
    assert problem.function == "byte_weights" and problem.plan.functions == ("bits_set",)
    assert len(problem.oracle.held_out) >= 100 * len(problem.oracle.train)
    with LinkedSandbox() as ls:
        r = ls.call(problem.pair, "byte_weights", [0x0103070F])
    assert r.results == (1 + 2 + 3 + 4,)


@needs_wasm_clang
def test_the_example_is_built_from_its_sources(tmp_path):
    subprocess.run(["sh", str(EXAMPLE_CALLER.parent / "build.sh"), str(tmp_path)], check=True, capture_output=True,
                   timeout=120)
    rebuilt = Pair((tmp_path / "caller.wasm").read_bytes(), (tmp_path / "callee.wasm").read_bytes())
    problem = load_pair_problem(None, None, seed=2)
    with LinkedSandbox() as ls:
        assert problem.oracle.verify(ls, rebuilt, problem.function, problem.oracle.held_out).ok
