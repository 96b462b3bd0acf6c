"""closed_form: straight-line bit tricks into the closed forms they compute (popcnt, clz compares, select,
one 64-bit add), only where a form agrees and is cheaper, and never dropping a local read later."""

from __future__ import annotations

import random

import pytest
from genetics_support import assert_becomes, assert_same_behaviour, is_valid, random_args

from jeet.evolve.seeding import wasm_opt_seeds
from jeet.genetics import Genome
from jeet.genetics.closed_form import FORMS, ClosedForm, find_sites
from jeet.genetics.sites import facts
from jeet.kernels import get_kernel
from jeet.sandbox import Sandbox

OP = ClosedForm()


def _module(params: int, body: str, locals_: int = 0) -> str:
    decl = f"(local {' '.join(['i32'] * locals_)})" if locals_ else ""
    return (f'(module (func (export "f") (param {" ".join(["i32"] * params)}) (result i32) {decl}\n'
            f"{body}))")


# Hacker's Delight p23 as wasm-opt leaves it: the parallel bit count through one reused local
POPCOUNT_SWAR = _module(1, """
  local.get 0 local.get 0 i32.const 1 i32.shr_u i32.const 0x55555555 i32.and i32.sub local.tee 0
  i32.const 2 i32.shr_u i32.const 0x33333333 i32.and local.get 0 i32.const 0x33333333 i32.and i32.add local.tee 0
  i32.const 4 i32.shr_u local.get 0 i32.add i32.const 0x0f0f0f0f i32.and local.tee 0
  i32.const 8 i32.shr_u local.get 0 i32.add local.tee 0
  i32.const 16 i32.shr_u local.get 0 i32.add i32.const 63 i32.and""")

# p22: parity by folding and a multiply
PARITY = _module(1, """
  local.get 0 i32.const 1 i32.shr_u local.get 0 i32.xor local.tee 0 i32.const 2 i32.shr_u local.get 0 i32.xor
  i32.const 0x11111111 i32.and i32.const 0x11111111 i32.mul i32.const 28 i32.shr_u i32.const 1 i32.and""")

# p25: the high word of an unsigned product from 16-bit halves (locals 2..5 are the halves)
MULHI = _module(2, """
  local.get 0 i32.const 0xffff i32.and local.set 2   local.get 0 i32.const 16 i32.shr_u local.set 3
  local.get 1 i32.const 0xffff i32.and local.set 4   local.get 1 i32.const 16 i32.shr_u local.set 5
  local.get 3 local.get 4 i32.mul local.get 2 local.get 4 i32.mul i32.const 16 i32.shr_u i32.add local.set 6
  local.get 3 local.get 5 i32.mul
  local.get 6 i32.const 16 i32.shr_u i32.add
  local.get 2 local.get 5 i32.mul local.get 6 i32.const 0xffff i32.and i32.add i32.const 16 i32.shr_u i32.add""",
                locals_=5)

# p14: the floor of the unsigned average without overflow
AVERAGE = _module(2, "local.get 0 local.get 1 i32.and local.get 0 local.get 1 i32.xor i32.const 1 i32.shr_u i32.add")

# p16: max without a branch, ((x ^ y) & -(x >= y)) ^ y
MAX = _module(2, """
  local.get 0 local.get 1 i32.xor i32.const 0 local.get 0 local.get 1 i32.ge_s i32.sub i32.and local.get 1 i32.xor""")

# p10 as clang -O0 spells it once its frame is promoted: every value through a temporary
NLZ_EQ_TEMPS = _module(2, """
  local.get 0 local.set 2 local.get 1 local.set 3
  local.get 2 local.get 3 i32.and local.set 4
  local.get 2 local.get 3 i32.xor local.set 5
  local.get 5 local.get 4 i32.le_u""", locals_=4)


@pytest.mark.parametrize("before, after", [
    (POPCOUNT_SWAR, _module(1, "local.get 0 i32.popcnt")),
    (PARITY, _module(1, "local.get 0 i32.popcnt i32.const 1 i32.and")),
    (AVERAGE, _module(2, "local.get 0 i64.extend_i32_u local.get 1 i64.extend_i32_u i64.add i64.const 1 i64.shr_u "
                         "i32.wrap_i64")),
    (MAX, _module(2, "local.get 0 local.get 1 local.get 0 local.get 1 i32.gt_s select")),
    (NLZ_EQ_TEMPS, _module(2, "local.get 0 local.set 2 local.get 1 local.set 3 "
                              "local.get 2 i32.clz local.get 3 i32.clz i32.eq", locals_=4)),
], ids=["popcount", "parity", "average", "max", "nlz_eq_through_temporaries"])
def test_a_bit_trick_becomes_its_closed_form(before, after):
    assert_becomes(OP, 0, before, after)


def test_nothing_cheaper_means_no_child():
    assert_becomes(OP, 0, _module(1, "local.get 0 local.get 0 i32.const 1 i32.sub i32.and"), None)


def test_the_high_word_of_a_product_stays_as_it_is():
    """One i64 multiply would be right, but the proof cannot settle it in time (see the module docstring)."""
    for seed in range(4):
        assert_becomes(OP, seed, MULHI, None)


def test_a_local_the_expression_writes_and_code_reads_later_keeps_the_expression():
    kept = POPCOUNT_SWAR.replace("i32.const 63 i32.and))", "i32.const 63 i32.and local.get 0 i32.add))")
    for seed in range(8):
        assert_becomes(OP, seed, kept, None)


def test_forms_are_cheapest_first_and_each_site_reads_at_most_two_locals():
    costs = [f.cost() for f in FORMS]
    assert costs == sorted(costs) and len({f.name for f in FORMS}) == len(FORMS)
    g = Genome.from_bytes(get_kernel("p25").wasm("O2opt"), "p25")
    sites = find_sites(facts(g, g.targets[0]))
    assert sites and all(1 <= len(s.inputs) <= 2 and s.stop - s.start >= 3 for s in sites)


@pytest.mark.parametrize("name", ["p10", "p11", "p12", "p14", "p16", "p18", "p22", "p23", "p25", "p13", "p24"])
def test_children_of_the_hacker_programs_are_valid_and_agree(sandbox, name):
    k = get_kernel(name)
    args = random_args(random.Random(name), (32,) * len(k.params), 300)
    for wasm in (k.wasm("O2opt"), *wasm_opt_seeds(k.wasm("O0"), k.function)):
        parent = Genome.from_bytes(wasm, k.function)
        for seed in range(3):
            child = OP.apply(random.Random(seed), [parent])
            if child is not None:
                assert is_valid(child.wasm)
                assert_same_behaviour(sandbox, wasm, child.wasm, args, k.function)


# a parity loop unrolled by two, in a shape no compiler emits (evolution left it so): only probing sees popcnt & 1
EVOLVED_PARITY = """(module (func (export "f") (param i32) (result i32) (local i32)
  loop
    local.get 0
    if
      local.get 1 i32.eqz local.get 0 i32.and local.get 1 local.get 0 i32.const 1 i32.and select local.set 1
      local.get 0 i32.const 1 i32.shr_u local.set 0
      local.get 1 i32.eqz i32.const 13 i32.and local.get 1 local.get 0 i32.const 1 i32.and select local.set 1
      local.get 0 i32.const 1 i32.shr_u local.set 0
      br 1
    end
  end
  local.get 1))"""


def test_a_whole_loop_function_is_probed_and_replaced_by_its_form():
    assert_becomes(ClosedForm(), 0, EVOLVED_PARITY, """(module (func (export "f") (param i32) (result i32) (local i32)
      local.get 0 i32.popcnt i32.const 1 i32.and))""")


def test_a_loop_function_that_touches_memory_is_not_probed():
    with_store = EVOLVED_PARITY.replace("(module (func", "(module (memory 1) (func").replace(
        "local.get 1))", "i32.const 0 local.get 1 i32.store local.get 1))")
    assert_becomes(ClosedForm(), 0, with_store, None)


def test_a_next_power_of_two_loop_becomes_one_clz_and_a_shift():
    # p = 1; while (p < x) { p <<= 1; if (p == 0) return 0; } return p;
    assert_becomes(ClosedForm(), 0, """(module (func (export "f") (param i32) (result i32) (local i32)
      i32.const 1 local.set 1
      block loop
        local.get 1 local.get 0 i32.ge_u br_if 1
        local.get 1 i32.const 1 i32.shl local.tee 1 i32.eqz
        if i32.const 0 return end
        br 0
      end end
      local.get 1))""", """(module (func (export "f") (param i32) (result i32) (local i32)
      i64.const 1 i64.const 64 local.get 0 i64.extend_i32_u i64.const 1 i64.sub i64.clz i64.sub i64.shl
      i32.wrap_i64))""")


def test_the_production_next_pow2_compare_chain_agrees_with_its_closed_form():
    k = get_kernel("next_pow2")
    child = ClosedForm().apply(random.Random(0), [Genome.from_bytes(k.wasm("O2opt"), k.function)])
    assert child is not None and len(child.wasm) < len(k.wasm("O2opt")) // 2
    rng = random.Random(3)
    xs = [0, 1, 2, 3, 0x7FFFFFFF, 0x80000000, 0x80000001, 0xFFFFFFFF] + [rng.getrandbits(32) >> rng.randrange(32)
                                                                         for _ in range(300)]
    with Sandbox() as box:
        for x in xs:
            assert box.call(k.wasm("O2opt"), k.function, (x,)).results == box.call(child.wasm, k.function, (x,)).results
