"""while_loop: wasm-opt's loop around an `if` becomes clang's block-and-`br_if` loop, which the loop rewrites know."""

from __future__ import annotations

import random

import pytest
from genetics_support import assert_becomes, wat
from ops_support import assert_same_behaviour, buffer_cases

from jeet.evolve.seeding import wasm_opt_path, wasm_opt_seeds
from jeet.genetics import Genome
from jeet.genetics.registry import OPERATORS
from jeet.genetics.while_loop import WhileLoop, all_to_block_loops
from jeet.kernels import get_kernel
from jeet.sandbox import Sandbox

WL = WhileLoop()

# sum_bytes as wasm-opt -O3 leaves it: while (i < len) { s += p[i]; i++; }
SUM_WHILE = """(module (memory (export "memory") 2)
  (func (export "f") (param i32 i32) (result i32) (local i32 i32)
    loop
      local.get 1 local.get 2 i32.le_s i32.eqz
      if
        local.get 3 local.get 0 local.get 2 i32.add i32.load8_u i32.add local.set 3
        local.get 2 i32.const 1 i32.add local.set 2
        br 1
      end
    end
    local.get 3))"""

SUM_BLOCK_LOOP = """(module (memory (export "memory") 2)
  (func (export "f") (param i32 i32) (result i32) (local i32 i32)
    block
      loop
        local.get 1 local.get 2 i32.le_s br_if 1
        local.get 3 local.get 0 local.get 2 i32.add i32.load8_u i32.add local.set 3
        local.get 2 i32.const 1 i32.add local.set 2
        br 0
      end
    end
    local.get 3))"""


def test_a_while_loop_around_an_if_becomes_a_block_and_br_if_loop():
    child = assert_becomes(WL, 0, SUM_WHILE, SUM_BLOCK_LOOP)
    assert_same_behaviour(wat(SUM_WHILE), child.wasm, "f", buffer_cases(random.Random(0), 60))
    assert OPERATORS["vectorize_bytes"]().apply(random.Random(0), [child]) is not None  # now it is a known shape


def test_branches_in_the_arm_keep_their_targets():
    # br 0 (leave the if, so the loop), br_if 2 (leave the outer block) and a nested block's br 2 (the loop)
    before = """(module (func (export "f") (param i32) (result i32) (local i32)
      block
        loop
          local.get 0
          if
            local.get 0 i32.const 100 i32.eq br_if 2
            local.get 0 i32.const 7 i32.eq br_if 0
            block local.get 0 i32.const 50 i32.gt_u br_if 0 local.get 1 i32.const 1 i32.add local.set 1 end
            local.get 0 i32.const 1 i32.sub local.set 0
            block local.get 0 i32.const 3 i32.eq br_if 2 end
            br 1
          end
        end
      end
      local.get 1))"""
    after = """(module (func (export "f") (param i32) (result i32) (local i32)
      block
        block
          loop
            local.get 0 i32.eqz br_if 1
            local.get 0 i32.const 100 i32.eq br_if 2
            local.get 0 i32.const 7 i32.eq br_if 1
            block local.get 0 i32.const 50 i32.gt_u br_if 0 local.get 1 i32.const 1 i32.add local.set 1 end
            local.get 0 i32.const 1 i32.sub local.set 0
            block local.get 0 i32.const 3 i32.eq br_if 1 end
            br 0
          end
        end
      end
      local.get 1))"""
    child = assert_becomes(WL, 0, before, after)
    with Sandbox() as box:
        for x in (0, 1, 2, 3, 4, 6, 7, 8, 51, 60, 100, 120):
            assert box.call(child.wasm, "f", (x,)).results == box.call(wat(before), "f", (x,)).results, x


def test_other_loops_are_left_alone():
    assert_becomes(WL, 0, SUM_BLOCK_LOOP, None)
    two_armed = SUM_WHILE.replace("        br 1\n      end", "        br 1\n      else\n        nop\n      end")
    assert_becomes(WL, 0, two_armed, None)


def test_seeds_from_an_O0_build_come_also_in_clang_loop_shape():
    if wasm_opt_path() is None:
        pytest.skip("wasm-opt is not installed")
    k = get_kernel("count_byte")
    seeds = wasm_opt_seeds(k.wasm("O0"), k.function)
    shaped = [s for s in seeds if all_to_block_loops(Genome.from_bytes(s, k.function)) is None]
    assert any(OPERATORS["vectorize_bytes"]().apply(random.Random(0), [Genome.from_bytes(s, k.function)])
               for s in shaped)


def test_a_branch_table_in_the_arm_is_relabelled_too():
    before = """(module (func (export "f") (param i32) (result i32) (local i32)
      loop
        local.get 0
        if
          block
            local.get 0 i32.const 3 i32.and
            br_table 0 1 2 0
          end
          local.get 1 i32.const 1 i32.add local.set 1
          local.get 0 i32.const 1 i32.sub local.set 0
          br 1
        end
      end
      local.get 1))"""
    child = WL.apply(random.Random(0), [Genome.from_bytes(wat(before), "f")])
    assert child is not None
    with Sandbox() as box:
        for x in range(40):
            a, b = box.call(wat(before), "f", (x,)), box.call(child.wasm, "f", (x,))
            assert (a.outcome, a.results) == (b.outcome, b.results), x
