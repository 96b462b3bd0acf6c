"""range_reduce: a remainder or quotient by a constant whose dividend is proved small becomes a compare."""

from __future__ import annotations

import random

from genetics_support import assert_becomes, wat
from ops_support import assert_same_behaviour, buffer_cases

from jeet.genetics import Genome
from jeet.genetics._bounds import Bounds
from jeet.genetics.range_reduce import RangeReduce
from jeet.genetics.sites import facts
from jeet.kernels import get_kernel

RR = RangeReduce()

# a = (a + p[i]) % 65521 over a buffer, as adler32 keeps its low half
CHECKSUM = """(module (memory (export "memory") 2)
  (func (export "f") (param i32 i32) (result i32) (local i32)
    i32.const 1 local.set 2
    block
      loop
        local.get 1 i32.eqz br_if 1
        local.get 2 local.get 0 i32.load8_u i32.add i32.const 65521 i32.rem_u local.set 2
        local.get 0 i32.const 1 i32.add local.set 0
        local.get 1 i32.const 1 i32.sub local.set 1
        br 0
      end
    end
    local.get 2))"""

CHECKSUM_REDUCED = """(module (memory (export "memory") 2)
  (func (export "f") (param i32 i32) (result i32) (local i32 i32)
    i32.const 1 local.set 2
    block
      loop
        local.get 1 i32.eqz br_if 1
        local.get 2 local.get 0 i32.load8_u i32.add
        local.tee 3 i32.const 65521 i32.sub local.get 3 local.get 3 i32.const 65521 i32.ge_u select
        local.set 2
        local.get 0 i32.const 1 i32.add local.set 0
        local.get 1 i32.const 1 i32.sub local.set 1
        br 0
      end
    end
    local.get 2))"""


def test_a_running_remainder_plus_a_byte_becomes_a_conditional_subtraction():
    child = assert_becomes(RR, 0, CHECKSUM, CHECKSUM_REDUCED)
    assert_same_behaviour(wat(CHECKSUM), child.wasm, "f", buffer_cases(random.Random(1), 80, max_len=700))


def test_a_dividend_that_can_reach_twice_the_divisor_is_left_alone():
    # a + a byte + a byte can reach 65520 + 510 < 2 * 65521, but a + any i32 cannot be bounded
    assert_becomes(RR, 0, CHECKSUM.replace("local.get 0 i32.load8_u", "local.get 0 i32.load"), None)
    # a parameter is whatever the caller passes
    assert_becomes(RR, 0, """(module (func (export "f") (param i32) (result i32)
      local.get 0 i32.const 10 i32.rem_u))""", None)


def test_a_remainder_of_a_value_already_below_the_divisor_disappears():
    assert_becomes(RR, 0, """(module (func (export "f") (param i32) (result i32)
      local.get 0 i32.const 255 i32.and i32.const 1000 i32.rem_u))""", """(module (func (export "f") (param i32) (result i32)
      local.get 0 i32.const 255 i32.and))""")


def test_quotients_of_small_dividends_are_comparisons():
    assert_becomes(RR, 0, """(module (func (export "f") (param i32) (result i32)
      local.get 0 i32.const 15 i32.and i32.const 10 i32.div_u))""", """(module (func (export "f") (param i32) (result i32)
      local.get 0 i32.const 15 i32.and i32.const 10 i32.ge_u))""")
    assert_becomes(RR, 0, """(module (func (export "f") (param i64) (result i64)
      local.get 0 i64.const 7 i64.and i64.const 9 i64.div_u))""", """(module (func (export "f") (param i64) (result i64)
      local.get 0 i64.const 7 i64.and drop i64.const 0))""")


def test_a_running_sum_widens_to_its_type_and_a_remainder_narrows_it_again():
    f = facts(Genome.from_bytes(wat(CHECKSUM), "f"), 0)
    bounds = Bounds(f)
    assert bounds.local(0) == bounds.local(1) == 0xFFFF_FFFF  # parameters
    assert bounds.local(2) == 65520  # widened by the loop, then narrowed by the remainder


def test_adler32_from_its_production_build_loses_every_division():
    k = get_kernel("adler32")
    parent = Genome.from_bytes(k.wasm("O2opt"), k.function)
    child = RR.apply(random.Random(0), [parent])
    assert child is not None and b"\x70" in parent.wasm  # i32.rem_u
    assert sum(ins.op == 0x70 for ins in facts(child, 0).instrs) == 0
    assert_same_behaviour(k.wasm("O2opt"), child.wasm, k.function, buffer_cases(random.Random(2), 120, max_len=700))
