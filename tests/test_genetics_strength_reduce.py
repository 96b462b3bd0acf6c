"""strength_reduce: multiplication and division by constants into shifts, masks and multiplies."""

from __future__ import annotations

import random

import numpy as np
import pytest
from genetics_support import assert_becomes, assert_same_behaviour, edge_values, random_args, wat

from jeet.genetics import Genome
from jeet.genetics.sites import facts
from jeet.genetics.strength_reduce import StrengthReduce, find_sites, magic_s32, magic_u32, reduce_site

SR = StrengthReduce()


def unary(op: str, const: int, t: str = "i32", extra: str = "") -> str:
    return f"""(module (func (export "f") (param {t}) (result {t}) {extra}
      local.get 0 {t}.const {const} {t}.{op}))"""


def test_multiplication_by_a_power_of_two_becomes_a_shift():
    assert_becomes(SR, 0, unary("mul", 8), """(module (func (export "f") (param i32) (result i32)
      local.get 0 i32.const 3 i32.shl))""")


def test_multiplication_by_a_power_of_two_plus_one_becomes_shift_and_add():
    assert_becomes(SR, 0, unary("mul", 9), """(module (func (export "f") (param i32) (result i32) (local i32)
      local.get 0 local.tee 1 i32.const 3 i32.shl local.get 1 i32.add))""")


def test_the_constant_may_be_the_first_operand():
    assert_becomes(SR, 0, """(module (func (export "f") (param i64) (result i64)
      i64.const 31 local.get 0 i64.mul))""", """(module (func (export "f") (param i64) (result i64) (local i64)
      local.get 0 local.tee 1 i64.const 5 i64.shl local.get 1 i64.sub))""")


def test_unsigned_division_and_remainder_by_powers_of_two():
    assert_becomes(SR, 0, unary("div_u", 16), """(module (func (export "f") (param i32) (result i32)
      local.get 0 i32.const 4 i32.shr_u))""")
    assert_becomes(SR, 0, unary("rem_u", 16, "i64"), """(module (func (export "f") (param i64) (result i64)
      local.get 0 i64.const 15 i64.and))""")


def test_unsigned_division_by_ten_is_a_multiply_high():
    # 0xCCCCCCCD / 2^35: one i64 multiply and a shift
    assert_becomes(SR, 0, unary("div_u", 10), """(module (func (export "f") (param i32) (result i32)
      local.get 0 i64.extend_i32_u i64.const 3435973837 i64.mul i64.const 35 i64.shr_u i32.wrap_i64))""")


def test_unsigned_division_by_seven_needs_the_add_back():
    assert_becomes(SR, 0, unary("div_u", 7), """(module (func (export "f") (param i32) (result i32) (local i32 i64)
      local.get 0 i64.extend_i32_u local.tee 2 i64.const 613566757 i64.mul i64.const 32 i64.shr_u
      local.get 2 i64.add i64.const 3 i64.shr_u i32.wrap_i64))""")


def test_signed_division_by_a_power_of_two_rounds_toward_zero():
    assert_becomes(SR, 0, unary("div_s", 4), """(module (func (export "f") (param i32) (result i32) (local i32)
      local.get 0 local.tee 1 local.get 1 i32.const 31 i32.shr_s i32.const 30 i32.shr_u i32.add
      i32.const 2 i32.shr_s))""")


def test_clang_O0_constants_in_locals_are_seen_through():
    before = """(module (func (export "f") (param i32) (result i32) (local i32)
      i32.const 10 local.set 1 local.get 0 local.get 1 i32.rem_u))"""
    child = assert_becomes(SR, 0, before, """(module (func (export "f") (param i32) (result i32) (local i32 i32)
      i32.const 10 local.set 1 local.get 0
      local.tee 2 local.get 2
      i64.extend_i32_u i64.const 3435973837 i64.mul i64.const 35 i64.shr_u i32.wrap_i64
      i32.const 10 i32.mul i32.sub))""")
    assert child is not None


@pytest.mark.parametrize("before", [
    unary("div_s", -1), unary("div_u", 0), unary("rem_s", 0), unary("mul", 12345), unary("div_s", 10, "i64"),
    unary("div_u", 10, "i64"),  # no 128-bit multiply in WebAssembly 2.0
    # the local is not always the constant
    """(module (func (export "f") (param i32 i32) (result i32) (local i32)
      i32.const 8 local.set 2 local.get 1 if i32.const 3 local.set 2 end local.get 0 local.get 2 i32.mul))""",
])
def test_never_rewrites_where_the_result_or_the_trap_would_change(before):
    assert_becomes(SR, 0, before, None)


def test_magic_numbers_are_exact():
    """floor(x / d) for every divisor tried, on every edge value and 50,000 random dividends."""
    rng = np.random.default_rng(5)
    xs = np.concatenate([np.array([v % 2**32 for v in edge_values(32)], dtype=np.uint64),
                         rng.integers(0, 2**32, 50_000, dtype=np.uint64)])
    divisors = [d for d in range(3, 400) if d & (d - 1)]
    divisors += [int(d) for d in rng.integers(3, 2**31, 60)] + [2**31 - 1, 641, 6700417, 1_000_000_007]
    for d in divisors:
        if not d & (d - 1):
            continue
        m, s, add = magic_u32(d)
        assert 0 <= m < 2**32
        if add:
            q = (((xs * np.uint64(m)) >> np.uint64(32)) + xs) >> np.uint64(s)
        else:
            q = (xs * np.uint64(m)) >> np.uint64(s)
        assert np.array_equal(q, xs // np.uint64(d)), d


CONSTANTS = sorted({0, 1, 2, 3, 5, 6, 7, 9, 10, 12, 15, 16, 17, 31, 33, 100, 255, 641, 1000, 65535, 65537,
                    2**30, 2**31 - 1, 2**31 + 1, 3 * 2**30, 2**32 - 1, 2**32 - 2, 2**32 - 16})


def _module(kind: str, t: str, constants: list[int]) -> str:
    funcs = "\n".join(f"""(func (export "f{n}") (param {t}) (result {t}) local.get 0 {t}.const {c} {t}.{kind})"""
                      for n, c in enumerate(constants))
    return f"(module {funcs})"


@pytest.mark.parametrize("t", ["i32", "i64"])
@pytest.mark.parametrize("kind", ["mul", "div_u", "rem_u", "div_s", "rem_s"])
def test_every_form_computes_the_same_as_the_instruction(sandbox, kind, t):
    """Each reduction of each constant, run in the sandbox on edge and random inputs: same results,
    and the same traps."""
    bits = 32 if t == "i32" else 64
    consts = [c if c < 2**31 else c - 2**32 for c in CONSTANTS]
    if t == "i64":
        consts += [2**40, 2**63 - 1, -(2**63), -(2**40), 2**40 + 1, 2**33 - 1]
    before = wat(_module(kind, t, consts))
    g = Genome.from_bytes(before, "f0")
    module = g.decoded()
    args = random_args(random.Random(kind), (bits,), 160)
    checked = 0
    for form in range(3):
        changes = {}
        for index in range(len(consts)):
            f = facts(Genome(before, module, (index,)), index)
            sites = find_sites(f)
            if sites:
                body = reduce_site(f, sites[0], form)
                changes[index] = body
        if not changes:
            continue
        after = g.with_bodies(changes).wasm
        for index in changes:
            assert_same_behaviour(sandbox, before, after, args, f"f{index}")
            checked += 1
    assert checked >= 10


def test_signed_magic_numbers_are_exact():
    """trunc(x / d) for d and -d, on every edge value and 50,000 random signed dividends."""
    rng = np.random.default_rng(6)
    xs = np.concatenate([np.array(edge_values(32), dtype=np.int64),
                         rng.integers(-2**31, 2**31, 50_000, dtype=np.int64)])
    for d in [d for d in range(3, 400) if d & (d - 1)] + [2**31 - 1, 1_000_000_007, 641] + \
            [int(d) for d in rng.integers(3, 2**31, 60)]:
        if not d & (d - 1):
            continue
        m, s = magic_s32(d)
        assert 0 < m < 2**32
        q = ((xs * np.int64(m)) >> np.int64(s)) + (xs < 0)
        truth = np.where(xs < 0, -((-xs) // d), xs // d)
        assert np.array_equal(q, truth), d


def test_signed_division_by_ten():
    assert_becomes(SR, 0, unary("div_s", -10), """(module (func (export "f") (param i32) (result i32) (local i32)
      local.get 0 local.tee 1 i64.extend_i32_s i64.const 3435973837 i64.mul i64.const 35 i64.shr_s i32.wrap_i64
      local.get 1 i32.const 31 i32.shr_u i32.add
      local.set 1 i32.const 0 local.get 1 i32.sub))""")
