"""vectorize_bytes: byte-reduction loops gain a 16-bytes-per-iteration SIMD prologue; the original loop
stays as the scalar tail and the result is unchanged on every buffer."""

from __future__ import annotations

import random

import pytest
from byte_loops_wat import (COMPARE_BYTES, COUNT_SAME, FIND_BYTE, FIND_BYTE_LOOP, MAX_IF, MAX_IF_LOOP, NOT_REDUCTIONS,
                            REDUCTIONS, SEARCHES, SUM_THROUGH_POINTER)
from genetics_support import assert_becomes
from ops_support import (MEMORY_END, applied_over_kernels, assert_only_inserts, assert_same_behaviour, buffer_cases, kernel,
                         promoted, target_cases, two_buffer_cases, wasmtime_valid, wat)

from jeet.genetics import Genome
from jeet.genetics.byte_loops import find_byte_loops
from jeet.genetics.sites import facts
from jeet.genetics.vectorize_bytes import VectorizeBytes, vectorize
from jeet.sandbox import Sandbox
from jeet.wasm import decode, validate

BYTE_KERNELS = {"count_byte": lambda r: (r.choice((0, 7, 255, r.randrange(256), 263, -1)),),
                "sum_bytes": lambda r: (), "max_byte": lambda r: ()}


@pytest.fixture(scope="module")
def box() -> Sandbox:
    return Sandbox(compiler="cranelift")


def test_a_pointer_walk_with_an_if_max_becomes_simd_plus_the_original_tail():
    assert_becomes(VectorizeBytes(), 0, MAX_IF, f"""
(module
  (memory 2)
  (func (export "f") (param $p i32) (param $n i32) (result i32) (local $m i32) (local $b i32)
    (local $data v128) (local $vmax v128) (local $r i32) (local $d i32)
    block
      local.get $n
      i32.eqz
      br_if 0
      ;; run 16 bytes at a time while the original would run 17 more iterations ($d counts them down);
      ;; the last chunk ends below 2^32: the chunks read only bytes the original reads
      local.get $n  local.tee $d  i32.const 16  i32.gt_u
      local.get $p  i64.extend_i32_u
      local.get $d  i32.const 1  i32.sub  i64.extend_i32_u  i64.const -16  i64.and
      i64.add
      i64.const 0x100000000
      i64.le_u
      i32.and
      if
        v128.const i64x2 0 0
        local.set $vmax
        loop
          local.get $p
          v128.load align=1
          local.set $data
          local.get $vmax  local.get $data  i8x16.max_u  local.set $vmax
          local.get $p  i32.const 16  i32.add  local.set $p
          local.get $n  i32.const -16  i32.add  local.set $n
          local.get $d  i32.const 16  i32.sub  local.tee $d  i32.const 16  i32.gt_u
          br_if 0
        end
        ;; horizontal maximum, folded in with the loop's own signed compare
        local.get $vmax local.get $vmax local.get $vmax
        i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7  i8x16.max_u  local.set $vmax
        local.get $vmax local.get $vmax local.get $vmax
        i8x16.shuffle 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3  i8x16.max_u  local.set $vmax
        local.get $vmax local.get $vmax local.get $vmax
        i8x16.shuffle 2 3 0 1 2 3 0 1 2 3 0 1 2 3 0 1  i8x16.max_u  local.set $vmax
        local.get $vmax local.get $vmax local.get $vmax
        i8x16.shuffle 1 0 1 0 1 0 1 0 1 0 1 0 1 0 1 0  i8x16.max_u  local.set $vmax
        local.get $vmax
        i8x16.extract_lane_u 0
        local.tee $r
        local.get $m
        local.get $m
        local.get $r
        i32.lt_s
        select
        local.set $m
      end
{MAX_IF_LOOP}
    end
    local.get $m))
""")


@pytest.mark.parametrize("name", sorted(NOT_REDUCTIONS))
def test_loops_that_are_not_byte_reductions_are_left_alone(name):
    assert_becomes(VectorizeBytes(), 0, NOT_REDUCTIONS[name], None)


def test_adler32_and_other_kernels_without_a_byte_reduction_are_left_alone():
    for name in ("adler32", "fnv1a32", "crc8", "digit_sum"):
        for level in ("O0", "O2"):
            g = Genome.from_bytes(kernel(name, level), name)
            assert VectorizeBytes().apply(random.Random(0), [g]) is None


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_every_recognised_loop_keeps_its_results_and_runs_the_simd_path(name, box):
    before = wat(REDUCTIONS[name])
    g = Genome.from_bytes(before, "f")
    f = facts(g, 0)
    loops = find_byte_loops(f.body, f.local_types)
    assert loops, name
    rng = random.Random(name)
    for loop in loops:
        after = g.with_bodies({0: vectorize(f.body, loop, f.local_types)}).wasm
        assert wasmtime_valid(after)
        assert_same_behaviour(before, after, "f", buffer_cases(rng, 120), box)
        data = [(5003, rng.randbytes(600))]
        assert box.call(after, "f", (5003, 600), data).fuel < 0.3 * box.call(before, "f", (5003, 600), data).fuel


@pytest.mark.parametrize("name", sorted(BYTE_KERNELS))
def test_clang_O2_byte_kernels_vectorize_both_loops_and_agree(name, box):
    before = kernel(name, "O2")
    g = Genome.from_bytes(before, name)
    f = facts(g, 0)
    loops = find_byte_loops(f.body, f.local_types)
    assert len(loops) == 2  # the unrolled main loop and the remainder loop
    rng = random.Random(name)
    extra = BYTE_KERNELS[name]
    for loop in loops:
        after = g.with_bodies({0: vectorize(f.body, loop, f.local_types)}).wasm
        validate(decode(after))
        assert_same_behaviour(before, after, name, buffer_cases(rng, 100, extra), box)
    main = g.with_bodies({0: vectorize(f.body, loops[0], f.local_types)}).wasm
    args, data = (7, 600, 7)[:2 + len(extra(rng))], [(7, rng.randbytes(600))]
    assert box.call(main, name, args, data).fuel < 0.3 * box.call(before, name, args, data).fuel


def test_a_count_against_a_value_above_255_never_matches_in_either_version(box):
    before = kernel("count_byte", "O2")
    g = Genome.from_bytes(before, "count_byte")
    f = facts(g, 0)
    after = g.with_bodies({0: vectorize(f.body, find_byte_loops(f.body, f.local_types)[0], f.local_types)}).wasm
    data = [(100, bytes([7]) * 64)]
    # clang masks the argument to a byte itself: 263 & 255 == 7
    assert box.call(after, "count_byte", (100, 64, 263), data).results == (64,)
    assert box.call(before, "count_byte", (100, 64, 263), data).results == (64,)


def test_the_operator_is_valid_over_the_kernel_suite():
    assert {"count_byte.O2", "sum_bytes.O2", "max_byte.O2"} <= applied_over_kernels(VectorizeBytes())


# -- searches: loops that exit on their bytes -----------------------------------------------------------


def search_cases(name: str, rng: random.Random) -> list:
    if name in ("compare_bytes", "equal_bytes"):
        return two_buffer_cases(rng, 150)
    return target_cases(rng, 150, 32 if name == "skip_spaces" else None)


def test_a_byte_search_skips_16_bytes_at_a_time_while_none_matches():
    assert_becomes(VectorizeBytes(), 0, FIND_BYTE, f"""
(module
  (memory 2)
  (func (export "f") (param $p i32) (param $n i32) (param $t i32) (result i32) (local $i i32) (local $ts v128)
    (local $d i32)
    block
      ;; 17 more iterations to go; all the 16-byte chunks lie in memory now (the original may stop before
      ;; reading them)
      local.get $i  local.get $n  i32.lt_u
      local.get $n  local.get $i  i32.sub  local.tee $d  i32.const 16  i32.gt_u
      i32.and
      local.get $i  local.get $p  i32.add  i64.extend_i32_u
      local.get $d  i32.const 1  i32.sub  i64.extend_i32_u  i64.const -16  i64.and
      i64.add
      memory.size  i64.extend_i32_u  i64.const 16  i64.shl
      i64.le_u
      i32.and
      if
        ;; the target is a byte value
        local.get $t  i32.const 256  i32.lt_u
        if
          local.get $t
          i8x16.splat
          local.set $ts
          block
            loop
              ;; leave before the first 16 bytes holding the target: the original loop finds it
              local.get $i  local.get $p  i32.add
              v128.load align=1
              local.get $ts
              i8x16.ne
              i8x16.all_true
              i32.eqz
              br_if 1
              local.get $i  i32.const 16  i32.add  local.set $i
              local.get $d  i32.const 16  i32.sub  local.tee $d  i32.const 16  i32.gt_u
              br_if 0
            end
          end
        end
      end
{FIND_BYTE_LOOP}
    end
    local.get $i))
""")


@pytest.mark.parametrize("name", sorted(SEARCHES))
def test_searches_stop_at_the_same_byte_and_skip_equal_chunks(name, box):
    before = wat(SEARCHES[name])
    g = Genome.from_bytes(before, "f")
    f = facts(g, 0)
    (loop,) = find_byte_loops(f.body, f.local_types)
    assert loop.exits
    after = g.with_bodies({0: vectorize(f.body, loop, f.local_types)}).wasm
    validate(decode(after))
    assert wasmtime_valid(after)
    rng = random.Random(name)
    assert_same_behaviour(before, after, "f", search_cases(name, rng), box)
    # a long run without an exit goes 16 bytes at a time
    args, data = {"compare_bytes": ((5000, 9000, 300), [(5000, bytes(300)), (9000, bytes(300))]),
                  "equal_bytes": ((5000, 9000, 300), [(5000, bytes(300)), (9000, bytes(300))]),
                  "find_byte": ((5000, 300, 9), [(5000, bytes(300))]),
                  "skip_spaces": ((5000, 300), [(5000, b" " * 300)])}[name]
    assert box.call(after, "f", args, data).fuel < 0.3 * box.call(before, "f", args, data).fuel


def test_a_byte_comparison_reads_nothing_past_the_memory_the_original_stops_short_of(box):
    """The caller's length runs past the end of memory, but the buffers differ before it: the original
    returns, so the SIMD loop must not load the 16 bytes that cross the end."""
    before = wat(COMPARE_BYTES)
    g = Genome.from_bytes(before, "f")
    f = facts(g, 0)
    after = g.with_bodies({0: vectorize(f.body, find_byte_loops(f.body, f.local_types)[0], f.local_types)}).wasm
    a, b = 5000, MEMORY_END - 10
    memory = [(a, bytes(40)), (b, bytes(9) + b"\x01")]
    assert box.call(before, "f", (a, b, 40), memory).results == (0xFFFFFFFF,)  # 0 - 1
    assert box.call(after, "f", (a, b, 40), memory).results == (0xFFFFFFFF,)


def test_a_loop_is_vectorized_once():
    g = Genome.from_bytes(kernel("sum_bytes", "O2"), "sum_bytes")
    for seed in range(6):
        child = VectorizeBytes().apply(random.Random(seed), [g])
        if child is not None:
            g = child
    assert sum(1 for i in g.body(0).instrs if i.name == "v128.load") == 2  # each of clang's two loops, once
    assert VectorizeBytes().apply(random.Random(0), [g]) is None


@pytest.mark.parametrize("name", sorted(BYTE_KERNELS))
def test_clang_O0_byte_loops_vectorize_once_their_frame_slots_are_locals(name, box):
    """-O0's shapes: `block <test> br_if 0 <arm> end` for `if`, masks on bytes and booleans, and for
    count_byte the target byte still read from the frame every iteration (an invariant load)."""
    g = promoted(name)
    f = facts(g, 0)
    (loop,) = find_byte_loops(f.body, f.local_types)
    after = g.with_bodies({0: vectorize(f.body, loop, f.local_types)}).wasm
    validate(decode(after))
    rng = random.Random(name)
    extra = BYTE_KERNELS[name]
    assert_same_behaviour(g.wasm, after, name, buffer_cases(rng, 100, extra), box)
    args, data = (7, 600, 7)[:2 + len(extra(rng))], [(7, rng.randbytes(600))]
    assert box.call(after, name, args, data).fuel < 0.3 * box.call(g.wasm, name, args, data).fuel


def test_a_base_read_from_memory_is_read_only_when_the_original_reads_it(box):
    """The buffer's address is loaded every iteration: the prologue may load it too, but only once the
    loop is known to run, so an empty loop with an unreadable base still returns instead of trapping."""
    before = wat(SUM_THROUGH_POINTER)
    g = Genome.from_bytes(before, "f")
    f = facts(g, 0)
    (loop,) = find_byte_loops(f.body, f.local_types)
    assert loop.streams[0].invariants[0][0] == "load"
    after = g.with_bodies({0: vectorize(f.body, loop, f.local_types)}).wasm
    validate(decode(after))
    rng = random.Random(5)
    cases = [((MEMORY_END - 2, 0), ()), ((MEMORY_END - 2, -5), ())]  # never reads *pp
    for n in list(range(41)) + [100, 333]:
        base = rng.choice((5000 + rng.randrange(16), MEMORY_END - n))
        cases.append(((64, n), ((64, base.to_bytes(4, "little")), (base, rng.randbytes(n)))))
    assert_same_behaviour(before, after, "f", cases, box)
    data = [(64, (5000).to_bytes(4, "little")), (5000, rng.randbytes(600))]
    assert box.call(after, "f", (64, 600), data).fuel < 0.3 * box.call(before, "f", (64, 600), data).fuel


def test_a_count_of_equal_bytes_in_two_buffers_compares_16_pairs_at_a_time(box):
    before = wat(COUNT_SAME)
    g = Genome.from_bytes(before, "f")
    f = facts(g, 0)
    (loop,) = find_byte_loops(f.body, f.local_types)
    assert len(loop.streams) == 2 and loop.reductions[0].pair
    after = g.with_bodies({0: vectorize(f.body, loop, f.local_types)}).wasm
    validate(decode(after))
    rng = random.Random(3)
    assert_same_behaviour(before, after, "f", two_buffer_cases(rng, 150), box)
    data = [(5000, bytes(600)), (9000, bytes(300) + bytes([1]) * 300)]
    assert box.call(after, "f", (5000, 9000, 600), data).results == (300,)
    assert box.call(after, "f", (5000, 9000, 600), data).fuel < 0.3 * box.call(before, "f", (5000, 9000, 600), data).fuel


def test_the_tail_loop_of_a_vectorized_kernel_gains_its_prologue_and_the_main_loop_stays_as_it_was(box):
    """count_byte -O2 with its unrolled main loop already vectorized: only the remainder loop is left, and
    every seed inserts its prologue in front of it without touching an instruction of the parent (the
    main loop's exit test `local.get 4 i32.const 4 i32.add local.tee 4 i32.ne br_if 0` included); every
    child counts as the parent does on every length 0..100, unaligned starts and the byte values that matter."""
    g = Genome.from_bytes(kernel("count_byte", "O2"), "count_byte")
    f = facts(g, 0)
    main, tail = find_byte_loops(f.body, f.local_types)
    assert main.bytes_per_iteration == 4 and tail.bytes_per_iteration == 1
    parent = g.with_bodies({0: vectorize(f.body, main, f.local_types)}).wasm
    children = set()
    for seed in range(40):
        child = VectorizeBytes().apply(random.Random(seed), [Genome.from_bytes(parent, "count_byte")])
        assert child is not None
        at = assert_only_inserts(parent, child.wasm, "count_byte")
        assert decode(parent).bodies[0].instrs[at].name == "loop"  # in front of the tail loop
        children.add(child.wasm)
    rng = random.Random(5)
    for child in children:
        validate(decode(child))
        assert_same_behaviour(parent, child, "count_byte", buffer_cases(rng, 130, BYTE_KERNELS["count_byte"], 100), box)
