"""word_at_a_time: byte-sum and byte-count loops gain a prologue reading 8 (or 4) bytes per load with
SWAR arithmetic; the original loop stays as the byte tail and the result is unchanged on every buffer."""

from __future__ import annotations

import random

import pytest
from byte_loops_wat import (COUNT_NE_HEAD, COUNT_NE_LOOP, COUNT_NE_UNROLLED, COUNT_SAME, MAX_IF, MIN_SELECT, NOT_REDUCTIONS,
                            REDUCTIONS, SEARCHES)
from genetics_support import assert_becomes
from ops_support import (applied_over_kernels, assert_only_inserts, assert_same_behaviour, buffer_cases, kernel, promoted,
                         target_cases, two_buffer_cases, wasmtime_valid, wat)

from jeet.genetics import Genome
from jeet.genetics.byte_loops import find_byte_loops
from jeet.genetics.sites import facts
from jeet.genetics.vectorize_bytes import VectorizeBytes
from jeet.genetics.word_at_a_time import WordAtATime, word_at_a_time
from jeet.sandbox import Sandbox
from jeet.wasm import decode, validate

BYTE_KERNELS = {"count_byte": lambda r: (r.choice((0, 7, 255, r.randrange(256), 263, -1)),),
                "sum_bytes": lambda r: ()}


@pytest.fixture(scope="module")
def box() -> Sandbox:
    return Sandbox(compiler="cranelift")


def test_an_unrolled_count_of_non_newlines_becomes_two_i64_words_per_iteration():
    assert_becomes(WordAtATime(), 1, COUNT_NE_UNROLLED, f"""
(module
  (memory 2)
  (func (export "f") (param $p i32) (param $n i32) (result i32) (local $i i32) (local $c i32) (local $end i32)
    (local $w i64) (local $x i64) (local $tens i64) (local $d i32)
{COUNT_NE_HEAD}
    ;; 16 bytes at a time while the original would run 9 more iterations (2 bytes each), the chunks
    ;; below 2^32
    local.get $end  local.get $i  i32.sub  local.tee $d  i32.const 16  i32.gt_u
    local.get $i  local.get $p  i32.add  i64.extend_i32_u
    local.get $d  i32.const 1  i32.sub  i64.extend_i32_u  i64.const -16  i64.and
    i64.add
    i64.const 0x100000000
    i64.le_u
    i32.and
    if
      ;; and the byte compared against fits in a byte
      i32.const 10  i32.const 256  i32.lt_u
      if
        i32.const 10
        i64.extend_i32_u
        i64.const 0x0101010101010101
        i64.mul
        local.set $tens
        loop
          local.get $i  local.get $p  i32.add
          i64.load align=1
          local.set $w
          ;; c += number of bytes of w that differ from 10
          local.get $c
          local.get $w  local.get $tens  i64.xor  local.tee $x
          i64.const 0x7f7f7f7f7f7f7f7f  i64.and  i64.const 0x7f7f7f7f7f7f7f7f  i64.add
          local.get $x  i64.or
          i64.const 0x8080808080808080  i64.and
          i64.popcnt
          i32.wrap_i64
          i32.add
          local.set $c
          local.get $i  local.get $p  i32.add
          i64.load offset=8 align=1
          local.set $w
          local.get $c
          local.get $w  local.get $tens  i64.xor  local.tee $x
          i64.const 0x7f7f7f7f7f7f7f7f  i64.and  i64.const 0x7f7f7f7f7f7f7f7f  i64.add
          local.get $x  i64.or
          i64.const 0x8080808080808080  i64.and
          i64.popcnt
          i32.wrap_i64
          i32.add
          local.set $c
          local.get $i  i32.const 16  i32.add  local.set $i
          local.get $d  i32.const 16  i32.sub  local.tee $d  i32.const 16  i32.gt_u
          br_if 0
        end
      end
    end
{COUNT_NE_LOOP}
    local.get $c))
""")


@pytest.mark.parametrize("text", [MAX_IF, MIN_SELECT, *NOT_REDUCTIONS.values()])
def test_maxima_minima_and_non_reductions_are_left_alone(text):
    assert_becomes(WordAtATime(), 0, text, None)


@pytest.mark.parametrize("name", ["sum_while", "count_ne_unrolled"])
@pytest.mark.parametrize("width", [4, 8])
def test_sums_and_counts_keep_their_results_and_run_the_word_path(name, width, box):
    before = wat(REDUCTIONS[name])
    g = Genome.from_bytes(before, "f")
    f = facts(g, 0)
    (loop,) = find_byte_loops(f.body, f.local_types)
    after = g.with_bodies({0: word_at_a_time(f.body, loop, f.local_types, width)}).wasm
    assert wasmtime_valid(after)
    rng = random.Random(f"{name}{width}")
    assert_same_behaviour(before, after, "f", buffer_cases(rng, 120), box)
    data = [(5001, rng.randbytes(600))]
    assert box.call(after, "f", (5001, 600), data).fuel < 0.7 * box.call(before, "f", (5001, 600), data).fuel


@pytest.mark.parametrize("name", sorted(BYTE_KERNELS))
@pytest.mark.parametrize("width", [4, 8])
def test_clang_O2_byte_kernels_agree(name, width, box):
    before = kernel(name, "O2")
    g = Genome.from_bytes(before, name)
    f = facts(g, 0)
    rng = random.Random(f"{name}{width}")
    for loop in find_byte_loops(f.body, f.local_types):
        after = g.with_bodies({0: word_at_a_time(f.body, loop, f.local_types, width)}).wasm
        validate(decode(after))
        assert_same_behaviour(before, after, name, buffer_cases(rng, 100, BYTE_KERNELS[name]), box)


def test_the_operator_is_valid_over_the_kernel_suite():
    # max_byte is left to vectorize_bytes
    assert applied_over_kernels(WordAtATime()) == {"count_byte.O2", "sum_bytes.O2"}


@pytest.mark.parametrize("name", sorted(SEARCHES))
@pytest.mark.parametrize("width", [4, 8])
def test_searches_stop_at_the_same_byte_and_skip_words_without_an_exit(name, width, box):
    before = wat(SEARCHES[name])
    g = Genome.from_bytes(before, "f")
    f = facts(g, 0)
    (loop,) = find_byte_loops(f.body, f.local_types)
    after = g.with_bodies({0: word_at_a_time(f.body, loop, f.local_types, width)}).wasm
    validate(decode(after))
    assert wasmtime_valid(after)
    rng = random.Random(f"{name}{width}")
    cases = (two_buffer_cases(rng, 150) if name in ("compare_bytes", "equal_bytes")
             else target_cases(rng, 150, 32 if name == "skip_spaces" else None))
    assert_same_behaviour(before, after, "f", cases, box)


@pytest.mark.parametrize("name", sorted(BYTE_KERNELS))
def test_clang_O0_byte_loops_agree_once_their_frame_slots_are_locals(name, box):
    g = promoted(name)
    f = facts(g, 0)
    (loop,) = find_byte_loops(f.body, f.local_types)
    after = g.with_bodies({0: word_at_a_time(f.body, loop, f.local_types, 8)}).wasm
    validate(decode(after))
    assert_same_behaviour(g.wasm, after, name, buffer_cases(random.Random(name), 100, BYTE_KERNELS[name]), box)


@pytest.mark.parametrize("width", [4, 8])
def test_a_count_of_equal_bytes_in_two_buffers_compares_words(width, box):
    before = wat(COUNT_SAME)
    g = Genome.from_bytes(before, "f")
    f = facts(g, 0)
    (loop,) = find_byte_loops(f.body, f.local_types)
    after = g.with_bodies({0: word_at_a_time(f.body, loop, f.local_types, width)}).wasm
    validate(decode(after))
    assert_same_behaviour(before, after, "f", two_buffer_cases(random.Random(width), 150), box)


@pytest.mark.parametrize("name", sorted(BYTE_KERNELS))
@pytest.mark.parametrize("first", ["vectorize_bytes", "word_at_a_time"])
def test_after_one_prologue_the_other_operator_only_inserts_and_keeps_the_results(name, first, box):
    """vectorize_bytes and word_at_a_time in either order, over many seeds: each child is its parent with
    one prologue inserted (no instruction of the parent, such as the first loop's exit test, changed) and
    computes what its parent does on random buffers of every length 0..60 and longer ones."""
    ops = {"vectorize_bytes": VectorizeBytes(), "word_at_a_time": WordAtATime()}
    second = next(n for n in ops if n != first)
    g = Genome.from_bytes(kernel(name, "O2"), name)
    pairs: dict[tuple[bytes, bytes], None] = {}
    for seed in range(12):
        rng = random.Random(seed)
        parent = g
        for op in (ops[first], ops[second], ops[first]):
            child = op.apply(rng, [parent])
            if child is None:
                continue
            assert_only_inserts(parent.wasm, child.wasm, name)
            pairs[(parent.wasm, child.wasm)] = None
            parent = Genome.from_bytes(child.wasm, name)
    assert len({c for _, c in pairs}) >= 4
    rng = random.Random(f"{name}{first}")
    for parent, child in pairs:
        validate(decode(child))
        assert_same_behaviour(parent, child, name, buffer_cases(rng, 80, BYTE_KERNELS[name], 60), box)
