"""idiom_bits and idiom_rotate: bit-by-bit loops into popcnt / clz / ctz, shift-or pairs into rotations."""

from __future__ import annotations

import random

import pytest
from genetics_support import POPCOUNT_LOOP, assert_becomes, assert_same_behaviour, edge_values, random_args, wat

from jeet.genetics import Genome
from jeet.genetics.idiom_bits import IdiomBits
from jeet.genetics.idiom_rotate import IdiomRotate
from jeet.sandbox import Limits, Outcome

BITS = IdiomBits()
ROT = IdiomRotate()

POPCOUNT_AFTER = """(module (func (export "f") (param i32) (result i32) (local i32)
  local.get 1 local.get 0 i32.popcnt i32.add local.set 1
  i32.const 0 local.set 0
  local.get 1))"""

# clang -O2's popcount.c: tested last, the test on the unshifted x (x > 1) kept in a temporary.
POPCOUNT_O2 = """(module (func (export "f") (param i32) (result i32) (local i32 i32)
  block local.get 0 br_if 0 i32.const 0 return end
  i32.const 0 local.set 1
  loop
    local.get 1 local.get 0 i32.const 1 i32.and i32.add local.set 1
    local.get 0 i32.const 1 i32.gt_u local.set 2
    local.get 0 i32.const 1 i32.shr_u local.set 0
    local.get 2 br_if 0
  end
  local.get 1))"""

POPCOUNT_O2_AFTER = """(module (func (export "f") (param i32) (result i32) (local i32 i32)
  block local.get 0 br_if 0 i32.const 0 return end
  i32.const 0 local.set 1
  local.get 1 local.get 0 i32.const 1 i32.and i32.add local.set 1
  local.get 0 i32.const 1 i32.gt_u local.set 2
  local.get 0 i32.const 1 i32.shr_u local.set 0
  local.get 2 drop
  local.get 1 local.get 0 i32.popcnt i32.add local.set 1
  i32.const 0 local.set 0
  local.get 1))"""

# ctz.c at -O2 (the x == 0 case returns early; the loop itself would never end on 0).
CTZ_O2 = """(module (func (export "f") (param i32) (result i32) (local i32 i32)
  block local.get 0 br_if 0 i32.const 32 return end
  i32.const 0 local.set 1
  block
    local.get 0 i32.const 1 i32.and br_if 0
    i32.const 0 local.set 1
    loop
      local.get 1 i32.const 1 i32.add local.set 1
      local.get 0 i32.const 2 i32.and local.set 2
      local.get 0 i32.const 1 i32.shr_u local.set 0
      local.get 2 i32.eqz br_if 0
    end
  end
  local.get 1))"""

CTZ_O2_AFTER = """(module (func (export "f") (param i32) (result i32) (local i32 i32)
  block local.get 0 br_if 0 i32.const 32 return end
  i32.const 0 local.set 1
  block
    local.get 0 i32.const 1 i32.and br_if 0
    i32.const 0 local.set 1
    local.get 1 i32.const 1 i32.add local.set 1
    local.get 0 i32.const 2 i32.and local.set 2
    local.get 0 i32.const 1 i32.shr_u local.set 0
    local.get 2 i32.eqz drop
    local.get 0 i32.eqz if loop br 0 end end
    local.get 1 local.get 0 i32.ctz i32.add local.set 1
    local.get 0 local.get 0 i32.ctz i32.shr_u local.set 0
  end
  local.get 1))"""

# leading zeros, counted down from 31 through a temporary, the result used in more arithmetic
CLZ_LOOP = """(module (func (export "f") (param i32) (result i32) (local i32 i32)
  local.get 0 i32.eqz if i32.const -1 return end
  i32.const 31 local.set 1
  block
    loop
      local.get 0 local.set 2 local.get 2 i32.const 0 i32.lt_s br_if 1
      local.get 0 i32.const 1 i32.shl local.set 0
      local.get 1 i32.const -1 i32.add local.set 1
      br 0
    end
  end
  local.get 1 i32.const 3 i32.mul))"""

CLZ_AFTER = """(module (func (export "f") (param i32) (result i32) (local i32 i32)
  local.get 0 i32.eqz if i32.const -1 return end
  i32.const 31 local.set 1
  local.get 0 i32.eqz if loop br 0 end end
  local.get 1 local.get 0 i32.clz i32.const -1 i32.mul i32.add local.set 1
  local.get 0 local.get 0 i32.clz i32.shl local.set 0
  local.get 1 i32.const 3 i32.mul))"""

# the parity of an i64, tested first, with an i32 result
PARITY64 = """(module (func (export "f") (param i64) (result i32) (local i32)
  block
    loop
      local.get 0 i64.eqz br_if 1
      local.get 1 local.get 0 i64.const 1 i64.and i32.wrap_i64 i32.xor local.set 1
      local.get 0 i64.const 1 i64.shr_u local.set 0
      br 0
    end
  end
  local.get 1))"""

BIT_LOOPS = {
    "popcount, tested first": (POPCOUNT_LOOP, POPCOUNT_AFTER, (32,)),
    "popcount, clang -O2": (POPCOUNT_O2, POPCOUNT_O2_AFTER, (32,)),
    "ctz, clang -O2": (CTZ_O2, CTZ_O2_AFTER, (32,)),
    "clz through a temporary": (CLZ_LOOP, CLZ_AFTER, (32,)),
}


@pytest.mark.parametrize("shape", BIT_LOOPS)
def test_a_bit_loop_becomes_its_closed_form_and_computes_the_same(sandbox, shape):
    before, after, params = BIT_LOOPS[shape]
    child = assert_becomes(BITS, 0, before, after)
    args = [(v,) for v in edge_values(32)] + random_args(random.Random(4), params, 200)
    assert_same_behaviour(sandbox, wat(before), child.wasm, args)


def test_a_loop_that_never_ends_on_zero_still_never_ends(sandbox):
    # ctz with no early return: x == 0 spins in both
    text = CTZ_O2.replace("block local.get 0 br_if 0 i32.const 32 return end", "")
    child = assert_becomes(BITS, 0, text, CTZ_O2_AFTER.replace("block local.get 0 br_if 0 i32.const 32 return end", ""))
    for wasm in (wat(text), child.wasm):
        assert sandbox.call(wasm, "f", [0], limits=Limits(fuel=100_000)).outcome is Outcome.OUT_OF_FUEL
    assert_same_behaviour(sandbox, wat(text), child.wasm, random_args(random.Random(5), (32,), 100))


def test_xor_counters_and_i64_loops(sandbox):
    child = assert_becomes(BITS, 0, PARITY64, """(module (func (export "f") (param i64) (result i32) (local i32)
      local.get 1 local.get 0 i64.popcnt i64.const 1 i64.and i32.wrap_i64 i32.xor local.set 1
      i64.const 0 local.set 0
      local.get 1))""")
    args = [(v,) for v in edge_values(64)] + random_args(random.Random(6), (64,), 200)
    assert_same_behaviour(sandbox, wat(PARITY64), child.wasm, args)


BIT_LOOP = """(module (global (mut i32) (i32.const 0)) (func (export "f") (param i32) (result i32) (local i32)
  block loop {test} {count} {shift} {extra} br 0 end end local.get 1))"""
PARTS = {"test": "local.get 0 i32.eqz br_if 1", "count": "local.get 1 local.get 0 i32.const 1 i32.and i32.add local.set 1",
         "shift": "local.get 0 i32.const 1 i32.shr_u local.set 0", "extra": ""}


def test_the_template_is_a_bit_loop():
    assert_becomes(BITS, 0, BIT_LOOP.format(**PARTS), POPCOUNT_AFTER)


@pytest.mark.parametrize("part, code", [
    ("count", "local.get 1 local.get 0 i32.const 3 i32.and i32.add local.set 1"),   # not one bit
    ("shift", "local.get 0 i32.const 1 i32.shr_s local.set 0"),                     # arithmetic shift
    ("shift", "local.get 0 i32.const 2 i32.shr_u local.set 0"),                     # two bits a trip
    ("extra", "global.get 0 i32.const 1 i32.add global.set 0"),                     # an effect
    ("extra", "local.get 1 local.set 0"),                                           # x written twice
    ("test", "local.get 0 i32.const 5 i32.eq br_if 1"),                             # another test
    ("test", "local.get 0 i32.eqz br_if 1 local.get 1 i32.const 9 i32.gt_u br_if 1"),  # two exits
])
def test_loops_that_are_not_bit_loops_are_left_alone(part, code):
    assert_becomes(BITS, 0, BIT_LOOP.format(**{**PARTS, part: code}), None)


# -- rotations -------------------------------------------------------------------------------------


def test_shift_or_becomes_rotl():
    assert_becomes(ROT, 0, """(module (func (export "f") (param i32) (result i32)
      local.get 0 i32.const 7 i32.shl local.get 0 i32.const 25 i32.shr_u i32.or))""",
                   """(module (func (export "f") (param i32) (result i32) local.get 0 i32.const 7 i32.rotl))""")


def test_shift_right_first_becomes_rotr_and_xor_joins_too():
    assert_becomes(ROT, 0, """(module (func (export "f") (param i64) (result i64)
      local.get 0 i64.const 13 i64.shr_u local.get 0 i64.const 51 i64.shl i64.xor))""",
                   """(module (func (export "f") (param i64) (result i64) local.get 0 i64.const 13 i64.rotr))""")


def test_a_variable_amount_rotates_too():
    assert_becomes(ROT, 0, """(module (func (export "f") (param i32 i32) (result i32)
      local.get 0 local.get 1 i32.shl local.get 0 i32.const 32 local.get 1 i32.sub i32.shr_u i32.or))""",
                   """(module (func (export "f") (param i32 i32) (result i32) local.get 0 local.get 1 i32.rotl))""")


# clang -O0 after promote_slot: both halves pass through temporaries before the `or`.
ROTATE_O0 = """(module (func (export "f") (param i32) (result i32) (local i32 i32 i32 i32)
  local.get 0 local.set 1
  local.get 1 i32.const 3 i32.shl local.set 2
  local.get 0 i32.const 29 i32.shr_u local.set 3
  local.get 2 local.get 3 i32.or local.set 4
  local.get 4 i32.const 1 i32.add))"""


def test_halves_passed_through_locals_are_recognised():
    assert_becomes(ROT, 0, ROTATE_O0, """(module (func (export "f") (param i32) (result i32) (local i32 i32 i32 i32)
      local.get 0 local.set 1
      local.get 1 i32.const 3 i32.shl local.set 2
      local.get 0 i32.const 29 i32.shr_u local.set 3
      local.get 0 i32.const 3 i32.rotl local.set 4
      local.get 4 i32.const 1 i32.add))""")


def test_halves_that_write_locals_on_the_way_are_dropped_not_removed():
    assert_becomes(ROT, 0, """(module (func (export "f") (param i32) (result i32) (local i32)
      local.get 0 i32.const 3 i32.shl local.get 0 local.tee 1 i32.const 29 i32.shr_u i32.or local.get 1 i32.add))""",
                   """(module (func (export "f") (param i32) (result i32) (local i32)
      local.get 0 i32.const 3 i32.shl local.get 0 local.tee 1 i32.const 29 i32.shr_u
      drop drop local.get 0 i32.const 3 i32.rotl local.get 1 i32.add))""")


@pytest.mark.parametrize("body", [
    "local.get 0 i32.const 7 i32.shl local.get 0 i32.const 24 i32.shr_u i32.or",   # 7 + 24 != 32
    "local.get 0 i32.const 7 i32.shl local.get 1 i32.const 25 i32.shr_u i32.or",   # two values
    "local.get 0 i32.const 7 i32.shl local.get 0 i32.const 25 i32.shr_s i32.or",   # arithmetic shift
    "local.get 0 i32.const 7 i32.shl local.get 0 i32.const 25 i32.shr_u i32.and",  # not a join
    # x changes between the halves
    "local.get 0 i32.const 7 i32.shl local.get 0 i32.const 1 i32.add local.set 0 local.get 0 i32.const 25 i32.shr_u i32.or",
])
def test_what_is_no_rotation(body):
    assert_becomes(ROT, 0, f"""(module (func (export "f") (param i32 i32) (result i32) {body}))""", None)


def test_rotations_compute_the_same(sandbox):
    for text, params in ((ROTATE_O0, (32,)), ("""(module (func (export "f") (param i32 i32) (result i32)
            local.get 0 local.get 1 i32.shl local.get 0 i32.const 32 local.get 1 i32.sub i32.shr_u i32.or))""", (32, 32)),
                         ("""(module (func (export "f") (param i64) (result i64)
            local.get 0 i64.const 13 i64.shr_u local.get 0 i64.const 51 i64.shl i64.add))""", (64,))):
        g = Genome.from_bytes(wat(text), "f")
        child = ROT.apply(random.Random(0), [g])
        assert_same_behaviour(sandbox, g.wasm, child.wasm, random_args(random.Random(7), params, 300))


# parity.c at -O2, with the flag starting from a parameter so that values other than 0 and 1 are tried
PARITY_O2 = """(module (func (export "f") (param i32 i32) (result i32) (local i32)
  block local.get 0 br_if 0 local.get 1 return end
  loop
    local.get 1 i32.eqz local.get 1 local.get 0 i32.const 1 i32.and select local.set 1
    local.get 0 i32.const 1 i32.gt_u local.set 2
    local.get 0 i32.const 1 i32.shr_u local.set 0
    local.get 2 br_if 0
  end
  local.get 1))"""


def test_a_flag_toggled_per_set_bit_becomes_popcnt_parity(sandbox):
    # one trip runs as written, the trips after it become popcnt (no loop is left)
    child = assert_becomes(BITS, 0, PARITY_O2, """(module (func (export "f") (param i32 i32) (result i32) (local i32)
      block local.get 0 br_if 0 local.get 1 return end
      local.get 1 i32.eqz local.get 1 local.get 0 i32.const 1 i32.and select local.set 1
      local.get 0 i32.const 1 i32.gt_u local.set 2
      local.get 0 i32.const 1 i32.shr_u local.set 0
      local.get 2 drop
      local.get 1 i32.eqz
      local.get 1 i32.const 0 i32.ne local.get 0 i32.popcnt i32.const 1 i32.and select
      local.get 1 local.get 0 i32.popcnt select
      local.set 1
      i32.const 0 local.set 0
      local.get 1))""")
    rng = random.Random(8)
    args = [(x, p) for x in edge_values(32)[::3] for p in (0, 1, 2, -1)] + random_args(rng, (32, 32), 200)
    assert_same_behaviour(sandbox, wat(PARITY_O2), child.wasm, args)


@pytest.mark.parametrize("test, stops", [
    ("local.get 0 i32.eqz", True),
    ("local.get 0 i32.const 0 i32.ne i32.const -1 i32.xor i32.const 1 i32.and", True),   # clang -O0's !(x != 0)
    ("local.get 0 i32.const 0 i32.eq i32.const 1 i32.and", True),
    ("local.get 0 i32.const 0 i32.ne i32.const 1 i32.xor", True),
    ("local.get 0 i32.const 0 i32.ne i32.const -1 i32.xor", False),  # ~(x != 0) is never 0: no such loop
])
def test_conditions_wrapped_the_way_clang_O0_does_are_seen_through(sandbox, test, stops):
    text = BIT_LOOP.format(**{**PARTS, "test": f"{test} br_if 1"})
    child = assert_becomes(BITS, 0, text, POPCOUNT_AFTER if stops else None)
    if stops:
        assert_same_behaviour(sandbox, wat(text), child.wasm, [(v,) for v in edge_values(32)])


# clang -O0's popcount.c as built: x and the count live in the stack frame (local 1), not in locals
POPCOUNT_FRAME = """(module (memory 1) (func (export "f") (param i32) (result i32) (local i32 i32 i32)
  i32.const 64 local.set 1
  local.get 1 local.get 0 i32.store offset={x}
  local.get 1 i32.const 0 i32.store offset={c}
  block
    loop
      local.get 1 i32.load offset={x} local.set 2 local.get 2 i32.eqz br_if 1
      local.get 1 local.get 1 i32.load offset={c} local.get 1 i32.load offset={x} i32.const 1 i32.and i32.add
      i32.store offset={c}
      local.get 1 i32.load offset={x} local.set 3
      local.get 1 local.get 3 i32.const 1 i32.shr_u i32.store offset={x}
      br 0
    end
  end
  local.get 1 i32.load offset={c}))"""


def test_a_bit_loop_over_frame_slots_becomes_popcnt_on_the_slots(sandbox):
    before = POPCOUNT_FRAME.format(x=12, c=8)
    child = assert_becomes(BITS, 0, before, """(module (memory 1) (func (export "f") (param i32) (result i32) (local i32 i32 i32)
      i32.const 64 local.set 1
      local.get 1 local.get 0 i32.store offset=12
      local.get 1 i32.const 0 i32.store offset=8
      local.get 1 local.get 1 i32.load offset=8 local.get 1 i32.load offset=12 i32.popcnt i32.add i32.store offset=8
      local.get 1 i32.const 0 i32.store offset=12
      local.get 1 i32.load offset=8))""")
    assert_same_behaviour(sandbox, wat(before), child.wasm, [(v,) for v in edge_values(32)])


@pytest.mark.parametrize("x, c", [
    (8, 12),   # the count's slot lies past the one the test reads: it might be out of bounds alone
    (8, 10),   # overlapping slots
])
def test_frame_slots_that_could_trap_or_alias_are_left_alone(x, c):
    assert_becomes(BITS, 0, POPCOUNT_FRAME.format(x=x, c=c), None)
