"""licm: an expression whose inputs the loop does not change is computed once, before the loop."""

from __future__ import annotations

import random

import pytest
from genetics_support import assert_becomes, assert_same_behaviour, random_args, wat

from jeet.genetics import Genome
from jeet.genetics.licm import Licm

LICM = Licm()

# for (i = 0; i < n; i++) s += i * (k * 3 + 1);   with k * 3 + 1 recomputed every trip
LOOP = """(module (func (export "f") (param i32 i32) (result i32) (local i32 i32)
  block
    loop
      local.get 2 local.get 0 i32.ge_s br_if 1
      local.get 3 local.get 2 local.get 1 i32.const 3 i32.mul i32.const 1 i32.add i32.mul i32.add local.set 3
      local.get 2 i32.const 1 i32.add local.set 2
      br 0
    end
  end
  local.get 3))"""


def test_the_invariant_expression_moves_before_the_loop():
    assert_becomes(LICM, 0, LOOP, """(module (func (export "f") (param i32 i32) (result i32) (local i32 i32 i32)
      block
        local.get 1 i32.const 3 i32.mul i32.const 1 i32.add local.set 4
        loop
          local.get 2 local.get 0 i32.ge_s br_if 1
          local.get 3 local.get 2 local.get 4 i32.mul i32.add local.set 3
          local.get 2 i32.const 1 i32.add local.set 2
          br 0
        end
      end
      local.get 3))""")


def test_every_hoist_computes_the_same(sandbox):
    rng = random.Random(0)
    seen = set()
    for seed in range(40):
        child = LICM.apply(random.Random(seed), [Genome.from_bytes(wat(LOOP), "f")])
        if child is None or child.wasm in seen:
            continue
        seen.add(child.wasm)
        args = [(rng.randrange(-3, 40), b) for (_, b) in random_args(rng, (32, 32), 100)]
        assert_same_behaviour(sandbox, wat(LOOP), child.wasm, args)
    assert len(seen) == 1  # k * 3 + 1, not its part k * 3


@pytest.mark.parametrize("expression", [
    "local.get 2 i32.const 3 i32.mul",            # reads the counter, which the loop writes
    "local.get 1 local.get 0 i32.div_s",          # may trap: on a path the loop might not take
    "global.get 0 i32.const 3 i32.mul",           # the loop sets the global
    "local.get 1",                                # nothing to compute
])
def test_what_must_stay_in_the_loop(expression):
    text = f"""(module (global (mut i32) (i32.const 0)) (func (export "f") (param i32 i32) (result i32) (local i32 i32)
      loop
        local.get 3 {expression} i32.add local.set 3
        global.get 0 i32.const 1 i32.add global.set 0
        local.get 2 i32.const 1 i32.add local.tee 2 local.get 0 i32.lt_s br_if 0
      end
      local.get 3))"""
    assert_becomes(LICM, 0, text, None)


# clang -O0 (after promote_slot): `(unsigned char)c` recomputed every trip through temporaries 4 and 5
O0_LOOP = """(module (func (export "f") (param i32 i32) (result i32) (local i32 i32 i32 i32)
  block
    loop
      local.get 2 local.get 0 i32.ge_s br_if 1
      local.get 1 local.set 4 local.get 4 i32.const 255 i32.and local.set 5
      local.get 3 local.get 5 i32.add local.set 3
      local.get 2 i32.const 1 i32.add local.set 2
      br 0
    end
  end
  local.get 3))"""


def test_an_invariant_computed_through_temporaries_is_hoisted(sandbox):
    child = assert_becomes(LICM, 0, O0_LOOP, """(module (func (export "f") (param i32 i32) (result i32) (local i32 i32 i32 i32 i32)
      block
        local.get 1 i32.const 255 i32.and local.set 6
        loop
          local.get 2 local.get 0 i32.ge_s br_if 1
          local.get 1 local.set 4 local.get 4 i32.const 255 drop drop local.get 6 local.set 5
          local.get 3 local.get 5 i32.add local.set 3
          local.get 2 i32.const 1 i32.add local.set 2
          br 0
        end
      end
      local.get 3))""")
    rng = random.Random(3)
    args = [(rng.randrange(-3, 40), b) for (_, b) in random_args(rng, (32, 32), 200)]
    assert_same_behaviour(sandbox, wat(O0_LOOP), child.wasm, args)


def test_the_leaves_of_a_tree_that_shares_its_subtrees_are_found_node_by_node():
    """A value kept in a local and used twice, sixty times over: 2**60 paths (a walk over paths never ends),
    sixty-one nodes."""
    from jeet.genetics._symbolic import leaves

    tree = ("local", 0)
    for _ in range(60):
        tree = ("i32.add", tree, tree)
    assert leaves(("i32.mul", tree, ("const", 0x7F, 3))) == {("local", 0), ("const", 0x7F, 3)}
