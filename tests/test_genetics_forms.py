"""Whole forms of a function (`jeet.genetics.forms`): one operator's rewrite at every site, for the race."""

from __future__ import annotations

import random
from pathlib import Path

from genetics_support import assert_same_behaviour, bodies, edge_values, random_args, wat

from jeet.genetics import Genome
from jeet.genetics.forms import forms
from jeet.genetics.range_reduce import range_reduced
from jeet.genetics.select_to_if import branchy
from jeet.genetics.small_quotient import with_fast_paths

KERNELS = Path(__file__).resolve().parents[1] / "src" / "jeet" / "kernels" / "wasm"

MIN_MAX = """(module (func (export "f") (param i32 i32 i32) (result i32)
  local.get 0
  if (result i32)
    local.get 1 local.get 2 local.get 1 local.get 2 i32.lt_s select
  else
    local.get 1 local.get 2 local.get 1 local.get 2 i32.gt_s select
  end))"""

MIN_MAX_BRANCHY = """(module (func (export "f") (param i32 i32 i32) (result i32)
  local.get 0
  if (result i32)
    local.get 1 local.get 2 i32.lt_s if (result i32) local.get 1 else local.get 2 end
  else
    local.get 1 local.get 2 i32.gt_s if (result i32) local.get 1 else local.get 2 end
  end))"""

# days_in_month's February at -O2: 29 or 28 by nested selects over remainders by constants
LEAP = """(module (func (export "f") (param i32) (result i32)
  i32.const 28 i32.const 29 i32.const 28 local.get 0 i32.const 100 i32.rem_s select
  local.get 0 i32.const 3 i32.and select
  i32.const 29 local.get 0 i32.const 400 i32.rem_s select))"""

LEAP_BRANCHY = """(module (func (export "f") (param i32) (result i32)
  local.get 0 i32.const 400 i32.rem_s
  if (result i32)
    local.get 0 i32.const 3 i32.and
    if (result i32) i32.const 28
    else local.get 0 i32.const 100 i32.rem_s if (result i32) i32.const 29 else i32.const 28 end
    end
  else i32.const 29
  end))"""


def test_every_select_becomes_a_branch_whatever_its_arms_cost(sandbox):
    g = branchy(Genome.from_bytes(wat(MIN_MAX), "f"))
    assert bodies(g.wasm) == bodies(wat(MIN_MAX_BRANCHY))
    assert branchy(g) is None  # nothing left to convert
    args = random_args(random.Random(1), (32, 32, 32), 300)
    assert_same_behaviour(sandbox, wat(MIN_MAX), g.wasm, args)


def test_nested_selects_over_remainders_by_constants_become_nested_branches(sandbox):
    g = branchy(Genome.from_bytes(wat(LEAP), "f"))
    assert bodies(g.wasm) == bodies(wat(LEAP_BRANCHY))
    assert_same_behaviour(sandbox, wat(LEAP), g.wasm, [(y,) for y in range(-1000, 2500)] + [(v,) for v in edge_values()])


def test_a_select_whose_arm_may_trap_stays_a_select():
    # a division by a variable (0 traps) or by -1 (the minimum overflows) must keep running when not chosen
    for divisor in ("local.get 1", "i32.const -1", "i32.const 0"):
        trapping = f"""(module (func (export "f") (param i32 i32) (result i32)
          local.get 0 {divisor} i32.div_s local.get 0 local.get 1 select))"""
        assert branchy(Genome.from_bytes(wat(trapping), "f")) is None


def test_the_production_builds_forms():
    def names(kernel: str) -> list[str]:
        return [n for n, _ in forms(Genome.from_bytes((KERNELS / f"{kernel}.O2opt.wasm").read_bytes(), kernel))]

    assert names("gcd") == ["small_quotient"]  # Euclid's remainder by a variable
    assert names("adler32") == ["range_reduce"]  # running sums below twice the modulus
    assert names("alu") == ["select_to_if"]  # min and max as selects
    assert names("smoothstep") == ["if_convert"]  # early returns
    assert names("popcount") == []


def test_a_form_applied_again_changes_nothing():
    gcd = Genome.from_bytes((KERNELS / "gcd.O2opt.wasm").read_bytes(), "gcd")
    once = with_fast_paths(gcd)
    assert once is not None and with_fast_paths(once) is None
    adler = Genome.from_bytes((KERNELS / "adler32.O2opt.wasm").read_bytes(), "adler32")
    reduced = range_reduced(adler)
    assert reduced is not None and range_reduced(reduced) is None
