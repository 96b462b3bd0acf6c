"""if_convert and select_to_if: branch diamonds into `select`, and expensive selects into branches."""

from __future__ import annotations

import random

import pytest
from genetics_support import assert_becomes, assert_same_behaviour, random_args, wat

from jeet.genetics import Genome
from jeet.genetics.if_convert import IfConvert, branch_free
from jeet.wasm import decode
from jeet.genetics.select_to_if import SelectToIf

IC = IfConvert()
SI = SelectToIf()

VALUE_DIAMOND = """(module (func (export "f") (param i32 i32) (result i32)
  local.get 0 local.get 1 i32.lt_s
  if (result i32) local.get 1 local.get 0 i32.sub else local.get 0 local.get 1 i32.sub end))"""

ASSIGNMENT = """(module (func (export "f") (param i32 i32) (result i32)
  local.get 0 i32.const 0 i32.lt_s
  if local.get 0 i32.const -1 i32.xor local.set 0 end
  local.get 0 local.get 1 i32.add))"""

# clang -O0 (after promote_slot): `if (x < 0) r = 0 - x; else r = x;`, temporaries and all.
O0_DIAMOND = """(module (func (export "f") (param i32 i32) (result i32) (local i32 i32 i32 i32)
  local.get 0 i32.const 0 i32.lt_s local.set 2
  block
    block
      local.get 2 i32.eqz br_if 0
      i32.const 0 local.set 3 local.get 3 local.get 0 i32.sub local.set 4 local.get 4 local.set 5
      br 1
    end
    local.get 0 local.set 5
  end
  local.get 5))"""

O0_ONE_ARM = """(module (func (export "f") (param i32 i32) (result i32) (local i32)
  block
    local.get 1 local.get 0 i32.gt_s local.set 2 local.get 2 i32.eqz br_if 0
    local.get 1 local.set 0
  end
  local.get 0))"""


VALUE_DIAMOND_AFTER = """(module (func (export "f") (param i32 i32) (result i32) (local i32)
  local.get 0 local.get 1 i32.lt_s local.set 2
  local.get 1 local.get 0 i32.sub local.get 0 local.get 1 i32.sub local.get 2 select))"""

ASSIGNMENT_AFTER = """(module (func (export "f") (param i32 i32) (result i32) (local i32)
  local.get 0 i32.const 0 i32.lt_s local.set 2
  local.get 0 i32.const -1 i32.xor local.get 0 local.get 2 select local.set 0
  local.get 0 local.get 1 i32.add))"""

# the branch is taken (to the else part) when the condition holds: that arm is selected then
O0_DIAMOND_AFTER = """(module (func (export "f") (param i32 i32) (result i32) (local i32 i32 i32 i32 i32)
  local.get 0 i32.const 0 i32.lt_s local.set 2
  local.get 2 i32.eqz local.set 6
  local.get 0
  i32.const 0 local.set 3 local.get 3 local.get 0 i32.sub local.set 4 local.get 4
  local.get 6 select local.set 5
  local.get 5))"""

O0_ONE_ARM_AFTER = """(module (func (export "f") (param i32 i32) (result i32) (local i32 i32)
  local.get 1 local.get 0 i32.gt_s local.set 2 local.get 2 i32.eqz local.set 3
  local.get 0 local.get 1 local.get 3 select local.set 0
  local.get 0))"""

# wasm-opt's early exit: `if (x < lo) x = lo; else if ... ` with the first arm leaving the block
EARLY_EXIT = """(module (func (export "f") (param i32 i32) (result i32)
  block
    local.get 0 local.get 1 i32.lt_s
    if local.get 1 local.set 0 br 1 end
    local.get 0 i32.const 100 i32.add local.set 0
  end
  local.get 0))"""

EARLY_EXIT_AFTER = """(module (func (export "f") (param i32 i32) (result i32) (local i32)
  local.get 0 local.get 1 i32.lt_s local.set 2
  local.get 1 local.get 0 i32.const 100 i32.add local.get 2 select local.set 0
  local.get 0))"""

# wasm-opt's chain of early returns, `return x > 0 ? 1 : x ? -1 : 0`: its last link becomes a select, in place
VALUE_CHAIN = """(module (func (export "f") (param i32 i32) (result i32)
  block (result i32)
    i32.const 1 local.get 0 i32.const 0 i32.gt_s br_if 0 drop
    i32.const -1 local.get 0 br_if 0 drop
    local.get 0
  end))"""

VALUE_CHAIN_AFTER = """(module (func (export "f") (param i32 i32) (result i32) (local i32)
  block (result i32)
    i32.const 1 local.get 0 i32.const 0 i32.gt_s br_if 0 drop
    i32.const -1 local.get 0 local.set 2 local.get 0 local.get 2 select
  end))"""

DIAMONDS = {"value": (VALUE_DIAMOND, VALUE_DIAMOND_AFTER), "one-armed if": (ASSIGNMENT, ASSIGNMENT_AFTER),
            "O0 diamond": (O0_DIAMOND, O0_DIAMOND_AFTER), "O0 one-armed": (O0_ONE_ARM, O0_ONE_ARM_AFTER),
            "early exit": (EARLY_EXIT, EARLY_EXIT_AFTER), "value chain": (VALUE_CHAIN, VALUE_CHAIN_AFTER)}


@pytest.mark.parametrize("shape", DIAMONDS)
def test_a_diamond_becomes_a_select_that_computes_the_same(sandbox, shape):
    before, after = DIAMONDS[shape]
    child = assert_becomes(IC, 0, before, after)
    assert_same_behaviour(sandbox, wat(before), child.wasm, random_args(random.Random(1), (32, 32), 300))


@pytest.mark.parametrize("arm", [
    "local.get 0 local.get 1 i32.div_s",          # may trap
    "local.get 0 i32.load",                       # may trap
    "local.get 0 call $g",                        # an effect
    "local.get 0 local.tee 1",                    # writes a live local
    "local.get 0 i32.const 1 i32.add i32.const 3 i32.mul i32.const 5 i32.xor i32.const 7 i32.shl "
    "i32.popcnt i32.const 9 i32.rotl i32.const 1 i32.sub",  # too dear to run on both paths
])
def test_arms_with_effects_traps_or_cost_stay_branches(arm):
    text = f"""(module (memory 1) (func $g (param i32) (result i32) local.get 0)
      (func (export "f") (param i32 i32) (result i32)
      local.get 1 if (result i32) {arm} else local.get 1 end))"""
    assert_becomes(IC, 0, text, None)


# -- select_to_if ----------------------------------------------------------------------------------

COSTLY_SELECT = """(module (func (export "f") (param i64 i64 i32) (result i64)
  local.get 0 local.get 1 i64.mul local.get 0 i64.const 7 i64.mul i64.add local.get 1 i64.mul
  local.get 1
  local.get 2 i32.const 1 i32.and
  select))"""


def test_a_select_with_an_expensive_arm_becomes_a_branch():
    assert_becomes(SI, 0, COSTLY_SELECT, """(module (func (export "f") (param i64 i64 i32) (result i64)
      local.get 2 i32.const 1 i32.and
      if (result i64) local.get 0 local.get 1 i64.mul local.get 0 i64.const 7 i64.mul i64.add local.get 1 i64.mul
      else local.get 1 end))""")


@pytest.mark.parametrize("text", [
    # cheap arms: the select is better
    """(module (func (export "f") (param i32 i32) (result i32) local.get 0 local.get 1 local.get 0 select))""",
    # an arm that may trap would trap only on one path afterwards
    """(module (func (export "f") (param i32 i32) (result i32)
      local.get 0 local.get 1 i32.div_u i32.const 3 i32.mul i32.const 5 i32.mul local.get 1 local.get 0 select))""",
    # the condition writes a local the arms read
    """(module (func (export "f") (param i32 i32) (result i32)
      local.get 0 local.get 0 i32.mul local.get 0 i32.mul local.get 0 i32.mul local.get 1
      i32.const 3 local.tee 0 select))""",
])
def test_selects_that_must_stay(text):
    assert_becomes(SI, 0, text, None)


def test_the_branch_computes_what_the_select_did(sandbox):
    child = SI.apply(random.Random(0), [Genome.from_bytes(wat(COSTLY_SELECT), "f")])
    assert_same_behaviour(sandbox, wat(COSTLY_SELECT), child.wasm,
                          random_args(random.Random(2), (64, 64, 32), 300))


def test_if_convert_then_select_to_if_keeps_the_meaning(sandbox):
    """The two are inverses in effect: a round trip computes the same."""
    g = Genome.from_bytes(wat(VALUE_DIAMOND.replace(
        "i32.sub else", "i32.const 3 i32.mul i32.const 5 i32.mul local.get 1 i32.mul i32.sub else")), "f")
    once = IC.apply(random.Random(0), [g])
    back = SI.apply(random.Random(0), [once])
    assert back is not None
    assert_same_behaviour(sandbox, g.wasm, back.wasm, random_args(random.Random(3), (32, 32), 200))


def test_branch_free_turns_a_whole_chain_of_early_returns_into_selects(sandbox):
    """Innermost link first, until no diamond is left: no branch remains, and it computes the same."""
    g = branch_free(Genome.from_bytes(wat(VALUE_CHAIN), "f"))
    assert g is not None
    names = [i.name for i in decode(g.wasm).bodies[0].instrs]
    assert "br_if" not in names and names.count("select") == 2
    assert_same_behaviour(sandbox, wat(VALUE_CHAIN), g.wasm, random_args(random.Random(4), (32, 32), 300)
                          + [(0, 0), (1, 0), (-1 & 0xFFFFFFFF, 0)])
    assert branch_free(g) is None  # nothing left to convert


@pytest.mark.parametrize("text", [
    # the early exit's arm may trap: after the rewrite it would run on both paths
    EARLY_EXIT.replace("local.get 1 local.set 0 br 1", "local.get 1 local.get 0 i32.div_s local.set 0 br 1"),
    # the link's value is computed by a call (an effect)
    """(module (func $g (result i32) i32.const 1) (func (export "f") (param i32 i32) (result i32)
      block (result i32) call $g local.get 0 br_if 0 drop local.get 1 end))""",
    # the br_if leaves an outer block: it is no link of the block it sits in
    """(module (func (export "f") (param i32 i32) (result i32)
      block (result i32) block (result i32) i32.const 1 local.get 0 br_if 1 drop local.get 1 end end))""",
])
def test_shapes_that_stay_branches(text):
    assert_becomes(IC, 0, text, None)
