"""small_quotient: a division by a variable tests for a quotient of 0 or 1 before it divides."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from genetics_support import assert_becomes, assert_same_behaviour, edge_values, random_args, wat

from jeet.genetics import Genome
from jeet.genetics.small_quotient import SmallQuotient
from jeet.prove import prove

SQ = SmallQuotient()
KERNELS = Path(__file__).resolve().parents[1] / "src" / "jeet" / "kernels" / "wasm"


def _binary(op: str, t: str = "i32") -> str:
    return f"""(module (func (export "f") (param {t} {t}) (result {t})
      local.get 0 local.get 1 {t}.{op}))"""


def _fast_path(op: str, t: str, small: str, one: str) -> str:
    """The function of `_binary(op, t)` after the rewrite: x and y in locals 2 and 3, x - y in local 4."""
    return f"""(module (func (export "f") (param {t} {t}) (result {t})
      (local {t} {t} {t})
      local.get 0 local.get 1
      local.set 3 local.set 2
      local.get 2 local.get 3 {t}.lt_u
      if (result {t}) {small}
      else
        local.get 2 local.get 3 {t}.sub local.tee 4 local.get 3 {t}.lt_u
        if (result {t}) {one} else local.get 2 local.get 3 {t}.{op} end
      end))"""


def test_a_remainder_by_a_variable_returns_the_dividend_or_one_subtraction_before_it_divides():
    assert_becomes(SQ, 0, _binary("rem_u"), _fast_path("rem_u", "i32", "local.get 2", "local.get 4"))


def test_a_quotient_by_a_variable_is_zero_or_one_before_it_divides():
    assert_becomes(SQ, 0, _binary("div_u", "i64"), _fast_path("div_u", "i64", "i64.const 0", "i64.const 1"))


def test_constant_divisors_and_signed_divisions_are_left_to_other_rewrites():
    assert_becomes(SQ, 0, """(module (func (export "f") (param i32) (result i32)
      local.get 0 i32.const 10 i32.rem_u))""", None)
    assert_becomes(SQ, 0, _binary("rem_s"), None)
    assert_becomes(SQ, 0, _binary("div_s"), None)


@pytest.mark.parametrize("op,t", [("rem_u", "i32"), ("div_u", "i32"), ("rem_u", "i64"), ("div_u", "i64")])
def test_the_same_result_or_the_same_trap_on_every_input_tried(sandbox, op, t):
    before = _binary(op, t)
    child = SQ.apply(random.Random(0), [Genome.from_bytes(wat(before), "f")])
    bits = 32 if t == "i32" else 64
    edges = edge_values(bits)
    args = [(a, b) for a in edges[::3] for b in edges[::3]] + random_args(random.Random(1), (bits, bits), 300)
    args += [(a, 0) for a in edges[::5]]  # divide by zero still traps
    assert_same_behaviour(sandbox, wat(before), child.wasm, args)


def test_euclids_loop_with_the_fast_path_is_proved_equal_for_every_input():
    """gcd as clang -O2 and wasm-opt -O3 leave it: the rewritten loop pairs up with the original's."""
    original = (KERNELS / "gcd.O2opt.wasm").read_bytes()
    child = SQ.apply(random.Random(0), [Genome.from_bytes(original, "gcd")])
    assert child is not None
    v = prove(original, child.wasm, "gcd", timeout_s=10.0)
    assert v.result == "proved", v
