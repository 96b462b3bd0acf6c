"""Regression tests from issue 9: wrong variants that passed every held-out case must now fail them.

Each test states a variant as a small WAT change of an original, checks that the variant passes the
tests it was evolved against (so only the held-out cases can catch it), and that the held-out cases do.
"""

from __future__ import annotations

import base64
import json
import random

import pytest
from wasmtime import wat2wasm

from jeet.oracle import load_tests, tests_oracle


def wasm(text: str) -> bytes:
    return bytes(wat2wasm(text))


def count_module(address: str = "i32.add", stop: str = "i32.ge_s", prologue: str = "") -> bytes:
    """count(ptr, len, byte): how many of the len bytes at ptr equal the low byte of `byte`."""
    return wasm(f'''(module (memory (export "memory") 1)
      (func (export "count") (param $p i32) (param $n i32) (param $b i32) (result i32) (local $i i32) (local $c i32)
        {prologue}
        (block (loop
          local.get $i local.get $n {stop} br_if 1
          local.get $p local.get $i {address} i32.load8_u
          local.get $b i32.const 255 i32.and i32.eq
          local.get $c i32.add local.set $c
          local.get $i i32.const 1 i32.add local.set $i
          br 0))
        local.get $c))''')


COUNT = count_module()
LENGTHS = (0, 1, 2, 3, 4, 8, 16, 32, 64)


@pytest.fixture(scope="module")
def tests_at_2048(tmp_path_factory):
    """40 cases whose buffers all sit at 2048, searching for bytes other than 0, lengths from LENGTHS."""
    rng = random.Random(9)
    rows = []
    for k in range(40):
        n = LENGTHS[k % len(LENGTHS)]
        data = bytes(rng.randrange(1, 8) for _ in range(n))
        byte = rng.choice(data) if data and rng.random() < 0.7 else rng.randrange(1, 256)
        rows.append({"args": [2048, n, byte], "memory": [[2048, base64.b64encode(data).decode()]],
                     "expect": [data.count(byte)]})
    path = tmp_path_factory.mktemp("count") / "count.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return load_tests(path, ("i32", "i32", "i32"), ("i32",))


@pytest.fixture(scope="module")
def count_oracle(sandbox, tests_at_2048):
    return tests_oracle(sandbox, COUNT, "count", tests_at_2048, seed=1, held_out_seed=12345)


def passes_tests_but_not_held_out(sandbox, oracle, tests, variant: bytes) -> str:
    given = oracle.held_out[:len(tests)]  # the tests themselves, as the oracle runs them
    assert list(given) == list(tests)
    assert oracle.verify(sandbox, variant, "count", given, stop_at_first_failure=False).ok
    verdict = oracle.verify(sandbox, variant, "count", oracle.held_out, stop_at_first_failure=False)
    assert not verdict.ok
    return verdict.message


def test_the_original_passes_its_own_held_out_cases(sandbox, count_oracle):
    assert count_oracle.verify(sandbox, COUNT, "count", count_oracle.held_out).ok
    assert len(count_oracle.held_out) >= 1600


def test_xor_instead_of_add_fails_once_the_buffer_moves(sandbox, count_oracle, tests_at_2048):
    passes_tests_but_not_held_out(sandbox, count_oracle, tests_at_2048, count_module(address="i32.xor"))


def test_reading_one_byte_past_the_buffer_fails(sandbox, count_oracle, tests_at_2048):
    passes_tests_but_not_held_out(sandbox, count_oracle, tests_at_2048, count_module(stop="i32.gt_s"))


def test_miscounting_a_length_the_tests_never_use_fails(sandbox, count_oracle, tests_at_2048):
    # drops the last byte when len % 8 == 7: the tests use lengths 0-4, 8, 16, 32 and 64 only
    variant = count_module(prologue="local.get $n i32.const 7 i32.and i32.const 7 i32.eq "
                                     "if local.get $n i32.const 1 i32.sub local.set $n end")
    passes_tests_but_not_held_out(sandbox, count_oracle, tests_at_2048, variant)


@pytest.mark.parametrize("stop", ["i32.eq", "i32.ge_u"])
def test_a_length_read_as_unsigned_or_counted_to_equality_fails(sandbox, count_oracle, tests_at_2048, stop):
    """Equal to the original on every length a block can have; a negative length (C's `int n`) makes the
    original count nothing and these read on to the end of memory."""
    message = passes_tests_but_not_held_out(sandbox, count_oracle, tests_at_2048, count_module(stop=stop))
    assert "trap" in message, message


def test_a_loop_rotated_to_test_the_length_after_its_body_fails(sandbox, count_oracle, tests_at_2048):
    """At length 0 the rotated loop still reads the byte at the pointer: outside the block, where the
    tests leave zeros (never a searched-for byte) and the held-out halos put the searched-for byte."""
    rotated = wasm('''(module (memory (export "memory") 1)
      (func (export "count") (param $p i32) (param $n i32) (param $b i32) (result i32) (local $i i32) (local $c i32)
        (loop
          local.get $p local.get $i i32.add i32.load8_u
          local.get $b i32.const 255 i32.and i32.eq
          local.get $c i32.add local.set $c
          local.get $i i32.const 1 i32.add local.tee $i
          local.get $n i32.lt_s br_if 0)
        local.get $c))''')
    passes_tests_but_not_held_out(sandbox, count_oracle, tests_at_2048, rotated)


def test_held_out_cases_vary_the_byte_and_read_poisoned_memory(count_oracle):
    cases = count_oracle.held_out[40:]
    assert len({c.args[2] for c in cases}) > 100
    assert {c.args[1] for c in cases} - set(LENGTHS)  # lengths the tests never used
    assert any(c.args[0] % 4 for c in cases) and any(c.args[0] + len(c.memory[0][1]) == 65536 for c in cases)
    poisons = {c.poison for c in cases}
    assert 0 in poisons and len(poisons) > 2  # zeroed and poisoned starting memory


def test_held_out_cases_written_as_a_tests_file_rebuild_an_oracle_the_original_passes(sandbox, count_oracle, tmp_path):
    from jeet.oracle import dump_tests

    path = tmp_path / "held.jsonl"
    dump_tests(path, count_oracle.held_out, count_oracle.params, count_oracle.results)
    assert '"poison": ' in path.read_text()
    again = load_tests(path, count_oracle.params, count_oracle.results)
    assert [c.poison for c in again] == [c.poison for c in count_oracle.held_out]
    rebuilt = tests_oracle(sandbox, COUNT, "count", again, seed=0, held_out_factor=1)  # the original passes them all
    wrong = count_module(address="i32.xor")
    assert not rebuilt.verify(sandbox, wrong, "count", rebuilt.held_out).ok
