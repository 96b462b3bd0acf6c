"""bit_permute: a function that only moves its argument's bits becomes a network of shifts and masks."""

from __future__ import annotations

import random

import pytest
from genetics_support import assert_becomes

from jeet.genetics import Genome
from jeet.genetics.bit_permute import BitPermute, apply, permutation_of
from jeet.genetics.sites import facts
from jeet.kernels import get_kernel
from jeet.sandbox import Sandbox

BP = BitPermute()

# r = (r << 1) | (x & 1), x >>= 1, 32 times: the bit reversal as written at -O0 (once promoted to locals)
REVERSE_LOOP = """(module (func (export "f") (param i32) (result i32) (local i32 i32)
  i32.const 32 local.set 2
  loop
    local.get 1 i32.const 1 i32.shl local.get 0 i32.const 1 i32.and i32.or local.set 1
    local.get 0 i32.const 1 i32.shr_u local.set 0
    local.get 2 i32.const 1 i32.sub local.tee 2
    br_if 0
  end
  local.get 1))"""


def swap(s: int, m: int) -> str:
    return (f"local.get 0 i32.const {s} i32.shr_u i32.const {m} i32.and "
            f"local.get 0 i32.const {m} i32.and i32.const {s} i32.shl i32.or local.set 0")


def test_a_bit_reversal_loop_becomes_five_swaps():
    assert_becomes(BP, 0, REVERSE_LOOP, f"""(module (func (export "f") (param i32) (result i32) (local i32 i32)
      {swap(1, 0x55555555)} {swap(2, 0x33333333)} {swap(4, 0x0F0F0F0F)} {swap(8, 0x00FF00FF)}
      local.get 0 i32.const 16 i32.rotl local.set 0
      local.get 0))""")


def test_a_byte_swap_is_one_swap_of_bytes_and_a_rotation():
    bswap = """(module (func (export "f") (param i32) (result i32)
      local.get 0 i32.const 24 i32.shl
      local.get 0 i32.const 8 i32.shl i32.const 0xFF0000 i32.and i32.or
      local.get 0 i32.const 8 i32.shr_u i32.const 0xFF00 i32.and i32.or
      local.get 0 i32.const 24 i32.shr_u i32.or))"""
    assert_becomes(BP, 0, bswap, f"""(module (func (export "f") (param i32) (result i32)
      {swap(8, 0x00FF00FF)} local.get 0 i32.const 16 i32.rotl local.set 0 local.get 0))""")


def test_a_gather_of_some_bits_is_a_shift_and_a_mask_and_a_complement_keeps_its_xor():
    assert_becomes(BP, 0, """(module (func (export "f") (param i64) (result i64) (local i64)
      block loop
        local.get 1 i64.const 4 i64.ge_u br_if 1
        local.get 0 i64.const 1 i64.shr_u local.set 0
        local.get 1 i64.const 1 i64.add local.set 1 br 0
      end end
      local.get 0 i64.const 15 i64.and i64.const -1 i64.xor))""", """(module (func (export "f") (param i64) (result i64) (local i64)
      local.get 0 i64.const 4 i64.shr_u i64.const 15 i64.and i64.const -1 i64.xor))""")


@pytest.mark.parametrize("body", [
    "local.get 0 i32.const 1 i32.add",                       # carries: not a permutation
    "local.get 0 local.get 0 i32.mul",
    "local.get 0 i32.const 1 i32.shl local.get 0 i32.or",    # two bits from one
])
def test_functions_that_do_more_than_move_bits_are_left_alone(body):
    assert_becomes(BP, 0, f'(module (func (export "f") (param i32) (result i32) {body}))', None)


def test_functions_with_memory_globals_or_two_arguments_are_not_probed():
    assert_becomes(BP, 0, """(module (memory 1) (func (export "f") (param i32) (result i32)
      i32.const 0 local.get 0 i32.store local.get 0 i32.const 8 i32.rotl))""", None)
    assert_becomes(BP, 0, """(module (func (export "f") (param i32 i32) (result i32)
      local.get 0 i32.const 8 i32.rotl))""", None)


def test_the_permutation_must_explain_random_inputs_too():
    # one-hot inputs alone look like the identity; x & (x - 1) ... differs on most other inputs
    def f(x: int) -> int:
        return x if x & (x - 1) == 0 else 0
    assert permutation_of(f, 32, random.Random(0)) is None
    assert permutation_of(lambda x: x ^ 0xFF, 32, random.Random(0)) == (tuple(range(32)), 0xFF)
    assert apply((tuple(range(31, -1, -1)), 0), 1) == 1 << 31


def test_bit_reverse_from_its_production_build_agrees_on_random_inputs():
    k = get_kernel("bit_reverse")
    child = BP.apply(random.Random(0), [Genome.from_bytes(k.wasm("O2opt"), k.function)])
    assert child is not None and not any(ins.op == 0x03 for ins in facts(child, 0).instrs)  # no loop left
    rng = random.Random(1)
    xs = [0, 1, 0x80000000, 0xFFFFFFFF] + [rng.getrandbits(32) for _ in range(300)]
    with Sandbox() as box:
        for x in xs:
            a, b = box.call(k.wasm("O2opt"), k.function, (x,)), box.call(child.wasm, k.function, (x,))
            assert a.results == b.results, x
