"""Differential inputs and the differential oracle: the original module is the reference."""

from __future__ import annotations

import random

import pytest
from wasmtime import wat2wasm

from jeet.oracle import (Case, OracleError, differential_oracle, edge_values, generate_inputs, is_nan,
                         random_value)
from jeet.sandbox import Limits, Sandbox



def wasm(text: str) -> bytes:
    return bytes(wat2wasm(text))


def test_integer_edges():
    edges = edge_values("i32")
    assert edges[:3] == [0, 1, 0xFFFFFFFF]
    for v in (0x80000000, 0x7FFFFFFF, 0x80000001, 0x7FFFFFFE, 1 << 16, (1 << 16) - 1, (1 << 16) + 1,
              (-(1 << 16)) & 0xFFFFFFFF):
        assert v in edges
    assert len(edges) == len(set(edges)) and all(0 <= v < 2 ** 32 for v in edges)
    assert 0x8000000000000000 in edge_values("i64") and 0xFFFFFFFF in edge_values(0x7E)


def test_float_edges():
    edges = edge_values("f32")
    for bits in (0x00000000, 0x80000000, 0x3F800000, 0xBF800000, 0x3FC00000, 0x7F800000, 0xFF800000,
                 0x00000001, 0x7F7FFFFF, 0x00800000):
        assert bits in edges, hex(bits)
    assert any(is_nan("f32", b) for b in edges)
    f64 = edge_values("f64")
    assert 0x0000000000000001 in f64 and 0x7FF0000000000000 in f64 and any(is_nan("f64", b) for b in f64)


def test_random_values_cover_the_range():
    rng = random.Random(3)
    ints = [random_value("i32", rng) for _ in range(4000)]
    assert all(0 <= v < 2 ** 32 for v in ints)
    assert any(v < 300 for v in ints) and any(v > 2 ** 31 for v in ints) and any(2 ** 12 < v < 2 ** 20 for v in ints)
    floats = [random_value("f64", rng) for _ in range(4000)]
    exponents = [b >> 52 & 0x7FF for b in floats]
    assert min(exponents) < 1023 - 300 and max(exponents) > 1023 + 300
    assert sum(1023 - 45 <= e <= 1023 + 45 for e in exponents) > 2000  # mostly moderate magnitudes
    assert any(b >> 63 for b in floats) and any(not b >> 63 for b in floats)
    assert [random_value("i64", random.Random(9)) for _ in range(3)] == \
        [random_value("i64", random.Random(9)) for _ in range(3)]


def test_generate_inputs_edges_first_then_random_distinct_and_seeded():
    inputs = generate_inputs(("i32", "f64"), random.Random(1), 200)
    assert len(inputs) == 200 and len(set(inputs)) == 200
    assert inputs[0] == (0, 0)
    edge_i, edge_f = set(edge_values("i32")), set(edge_values("f64"))
    head = inputs[:100]
    assert all(a in edge_i and b in edge_f for a, b in head)
    tail = inputs[100:]
    assert sum(a not in edge_i for a, _ in tail) > 50
    assert generate_inputs(("i32", "f64"), random.Random(1), 200) == inputs
    assert generate_inputs(("i32", "f64"), random.Random(2), 200) != inputs


def test_generate_inputs_respects_exclude_and_tiny_spaces():
    first = generate_inputs(("i64",), random.Random(0), 50)
    again = generate_inputs(("i64",), random.Random(0), 50, exclude=first)
    assert not set(first) & set(again)
    assert generate_inputs((), random.Random(0), 10) == [()]
    assert generate_inputs((), random.Random(0), 10, exclude=[()]) == []
    with pytest.raises(OracleError):
        generate_inputs(("v128",), random.Random(0), 5)


SIGN = wasm('(module (func (export "sign") (param i32) (result i32) '
            'local.get 0 i32.const 0 i32.gt_s local.get 0 i32.const 0 i32.lt_s i32.sub))')
DIV = wasm('(module (func (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s))')


def test_differential_oracle_sizes_and_disjointness(sandbox):
    oracle = differential_oracle(sandbox, SIGN, "sign", seed=7)
    assert oracle.source == "differential" and oracle.params == ("i32",) and oracle.results == ("i32",)
    assert len(oracle.train) == 16
    assert len(oracle.held_out) >= 100 * len(oracle.train)
    train_args = {c.args for c in oracle.train}
    assert not train_args & {c.args for c in oracle.held_out}
    assert len({c.args for c in oracle.held_out}) == len(oracle.held_out)
    for case in oracle.train + oracle.held_out[:50]:
        (x,) = case.args
        signed = x - 2 ** 32 if x >= 2 ** 31 else x
        assert case.expect == (((signed > 0) - (signed < 0)) & 0xFFFFFFFF,)


def test_differential_oracle_is_deterministic_per_seed(sandbox):
    a = differential_oracle(sandbox, DIV, "div", seed=11, train_size=8, held_out_factor=20)
    b = differential_oracle(sandbox, DIV, "div", seed=11, train_size=8, held_out_factor=20)
    c = differential_oracle(sandbox, DIV, "div", seed=12, train_size=8, held_out_factor=20)
    assert a == b
    assert a.train != c.train


def test_trap_cases_are_kept_but_bounded(sandbox):
    oracle = differential_oracle(sandbox, DIV, "div", seed=3)
    traps = [c for c in oracle.held_out if c.trap]
    assert traps and len(traps) <= 0.25 * len(oracle.held_out)
    assert all(c.args[1] == 0 or c.args == (0x80000000, 0xFFFFFFFF) for c in traps)
    assert sum(c.trap for c in oracle.train) <= 4
    assert oracle.verify(sandbox, DIV, "div", oracle.held_out).ok


def test_original_that_never_finishes_is_rejected():
    loop = wasm('(module (func (export "f") (param i32) (result i32) (loop $l (br $l)) local.get 0))')
    with Sandbox(limits=Limits(fuel=10_000)) as sb:
        with pytest.raises(OracleError, match="the original finishes on no input within the cycle budget"):
            differential_oracle(sb, loop, "f", seed=0)


def test_original_that_always_traps_is_rejected(sandbox):
    trap = wasm('(module (func (export "f") (param i64) (result i64) unreachable))')
    with pytest.raises(OracleError, match="finishes on no input"):
        differential_oracle(sandbox, trap, "f", seed=0)


@pytest.mark.parametrize("text,needle", [
    ('(module (func (export "f") (param v128) (result i32) i32.const 0))', "v128"),
    ('(module (func (export "f") (param i32) (result externref) ref.null extern))', "externref"),
    ('(module (func (export "f") (param funcref)))', "funcref"),
])
def test_undrivable_signatures_are_rejected(sandbox, text, needle):
    with pytest.raises(OracleError, match=f"cannot drive f .*{needle}"):
        differential_oracle(sandbox, wasm(text), "f", seed=0)


def test_missing_function_and_invalid_original(sandbox):
    with pytest.raises(OracleError, match="exports no function 'nope'"):
        differential_oracle(sandbox, SIGN, "nope", seed=0)
    with pytest.raises(OracleError, match="cannot be used"):
        differential_oracle(sandbox, b"\0asm\x01\0\0\0\x0c", "f", seed=0)


def test_function_without_parameters_has_one_exhaustive_case(sandbox):
    const = wasm('(module (func (export "answer") (result i64) i64.const 42))')
    oracle = differential_oracle(sandbox, const, "answer", seed=0)
    assert oracle.train == oracle.held_out == (Case((), (42,)),)


def test_oracle_catches_a_wrong_candidate_on_held_out_only(sandbox):
    # Wrong only above 1,000,000: a slice of the range that random held-out inputs are sure to hit.
    oracle = differential_oracle(sandbox, SIGN, "sign", seed=1)
    wrong = wasm('(module (func (export "sign") (param i32) (result i32) '
                 'local.get 0 i32.const 1000000 i32.gt_s '
                 'if (result i32) i32.const 2 else '
                 'local.get 0 i32.const 0 i32.gt_s local.get 0 i32.const 0 i32.lt_s i32.sub end))')
    verdict = oracle.verify(sandbox, wrong, "sign", oracle.held_out)
    assert not verdict.ok and verdict.first_failure is not None
    assert "expected [1]" in verdict.message and "returned [2]" in verdict.message


def test_float_functions_with_nan_results(sandbox):
    fdiv = wasm('(module (func (export "fdiv") (param f64 f64) (result f64) local.get 0 local.get 1 f64.div))')
    oracle = differential_oracle(sandbox, fdiv, "fdiv", seed=5, train_size=8, held_out_factor=20)
    assert any(is_nan("f64", c.expect[0]) for c in oracle.held_out if c.expect)
    # A candidate that produces a different NaN bit pattern is still correct.
    other_nan = wasm('(module (func (export "fdiv") (param f64 f64) (result f64) local.get 0 local.get 1 f64.div '
                     'local.tee 0 local.get 0 f64.ne if (result f64) f64.const -nan:0x1234 else local.get 0 end))')
    assert oracle.verify(sandbox, other_nan, "fdiv", oracle.held_out).ok
    # But a sign flip of zero is not.
    negzero = wasm('(module (func (export "fdiv") (param f64 f64) (result f64) local.get 0 local.get 1 f64.div '
                   'f64.const 0 f64.add))')
    assert not oracle.verify(sandbox, negzero, "fdiv", oracle.held_out + (Case((0x8000000000000000,
                                                                                  0x3FF0000000000000),
                                                                                 (0x8000000000000000,)),),
                             stop_at_first_failure=False).ok
