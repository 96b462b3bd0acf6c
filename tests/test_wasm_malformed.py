"""Hostile input: the codec either succeeds or raises WasmError, quickly, naming an offset."""

from __future__ import annotations

import random
import time

import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings, strategies as st

from jeet.wasm import WasmError, analyze, decode, validate
from jeet.wasm.reader import read_u32

HEADER = b"\x00asm\x01\x00\x00\x00"
SLOW_CALL = 0.25  # seconds: far above any honest decode of these inputs

RICH = bytes(wasmtime.wat2wasm("""
  (module
    (type $bin (func (param i32 i32) (result i32)))
    (import "env" "log" (func $log (param i32)))
    (import "env" "g" (global $g i32))
    (table $t 4 funcref) (table $x 1 externref)
    (memory 1 4)
    (global $c (mut i64) (i64.const -1))
    (global $r funcref (ref.func $add))
    (func $add (export "add") (type $bin) (i32.add (local.get 0) (local.get 1)))
    (func $loop (export "loop") (param i32) (result i32) (local i64 f64)
      (block $out (result i32)
        (loop $l
          (br_if $out (i32.eqz (local.get 0)) (local.get 0))
          (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
          (br_table $l $l (local.get 0)))
        (i32.const 0)))
    (func $misc (param f32) (result f64)
      (call $log (i32.trunc_sat_f32_s (local.get 0)))
      (memory.fill (i32.const 0) (i32.const 0) (i32.const 8))
      (memory.init $d (i32.const 0) (i32.const 0) (i32.const 1))
      (drop (select (result i32) (i32.const 1) (i32.const 2) (i32.const 3)))
      (drop (call_indirect (type $bin) (i32.const 1) (i32.const 2) (i32.const 0)))
      (f64.promote_f32 (f32.load offset=4 (i32.const 0))))
    (elem (i32.const 0) $add $loop)
    (elem $e funcref (ref.func $misc) (ref.null func))
    (data (i32.const 8) "\\00\\01\\02")
    (data $d "passive")
    (start $s) (func $s)
    (@custom "meta" "some bytes"))
"""))


def outcome(data: bytes) -> str:
    """Decode and, on success, validate and analyze; only WasmError may escape."""
    t = time.perf_counter()
    try:
        m = decode(data)
    except WasmError as e:
        assert "offset" in str(e) and isinstance(e.offset, int)
        result = "error"
    else:
        assert m.encode() == data
        try:
            validate(m)
        except WasmError:
            pass
        for d, body in enumerate(m.bodies):
            if body.instrs is not None:
                try:
                    analyze(m, d)
                except WasmError:
                    pass
        result = "ok"
    assert time.perf_counter() - t < SLOW_CALL
    return result


def section_ends(data: bytes) -> set[int]:
    ends = {8}
    pos = 8
    while pos < len(data):
        size, pos = read_u32(data, pos + 1, len(data))
        pos += size
        ends.add(pos)
    return ends


def test_every_truncation():
    ends = section_ends(RICH)
    decoded = [n for n in range(len(RICH) + 1) if outcome(RICH[:n]) == "ok"]
    assert len(RICH) in decoded  # the whole module decodes: the check below can fail
    for n in decoded:
        assert n in ends, f"a module cut at {n} bytes decoded"


def test_every_truncation_of_the_code_section_body_sizes():
    # shorten the section size by one: the last body then reads past its section
    m = decode(RICH)
    s, e = m._origin.ranges[10]
    data = bytearray(RICH)
    data[s + 1] -= 1
    assert outcome(bytes(data)) == "error"


def test_bit_flips():
    rng = random.Random(7)
    results = {"ok": 0, "error": 0}
    for _ in range(3000):
        data = bytearray(RICH)
        pos = rng.randrange(8, len(data))
        data[pos] ^= 1 << rng.randrange(8)
        results[outcome(bytes(data))] += 1
    assert results["error"] > 500 and results["ok"] > 100  # both kinds of outcome are exercised


def test_byte_insertions_and_deletions():
    rng = random.Random(11)
    for _ in range(1500):
        data = bytearray(RICH)
        pos = rng.randrange(8, len(data))
        if rng.random() < 0.5:
            del data[pos : pos + rng.randint(1, 4)]
        else:
            data[pos:pos] = rng.randbytes(rng.randint(1, 4))
        outcome(bytes(data))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_after_the_header(tail):
    outcome(HEADER + tail)


@st.composite
def sections(draw):
    out = bytearray(HEADER)
    for _ in range(draw(st.integers(0, 6))):
        sid = draw(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]))
        payload = draw(st.binary(max_size=40))
        out += bytes((sid, len(payload))) + payload
    return bytes(out)


@settings(max_examples=400, deadline=None)
@given(sections())
def test_random_section_sequences(data):
    outcome(data)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_random_edits_of_a_valid_module(data):
    buf = bytearray(RICH)
    for _ in range(data.draw(st.integers(1, 5))):
        pos = data.draw(st.integers(8, len(buf) - 1))
        buf[pos] = data.draw(st.integers(0, 255))
    outcome(bytes(buf))


CODE_PREFIX = HEADER + b"\x01\x04\x01\x60\x00\x00" + b"\x03\x02\x01\x00"


def code(body: bytes) -> bytes:
    inner = bytes((len(body),)) + body
    return CODE_PREFIX + b"\x0a" + bytes((len(inner) + 1, 1)) + inner


@pytest.mark.parametrize("data", [
    HEADER + b"\x01\x86\x80\x80\x80\x80\x00" + b"\x00" * 6,  # section size: 6-byte u32
    HEADER + b"\x01\x05\xff\xff\xff\xff\x1f",  # count with unused bits set
    HEADER + b"\x03\x06\x01\xff\xff\xff\xff\x7f",  # type index too large
    code(b"\x00\x41\xff\xff\xff\xff\x0f\x1a\x0b"),  # s32 with bit 31 clear, bits 32+ set
    code(b"\x00\x41\x80\x80\x80\x80\x80\x00\x1a\x0b"),  # s32 over-long
    code(b"\x00\x42" + b"\x80" * 9 + b"\x02\x1a\x0b"),  # s64 unused bits
    code(b"\x00\x02\xc0\xbf\x7f\x0b\x0b"),  # s33 block type with a value that is not a type
    code(b"\x01\x80\x80\x80\x80\x10\x7f\x0b"),  # local count too large
    code(b"\x00\x0e\xff\xff\xff\xff\x0f\x00\x0b"),  # br_table with 2^32-1 labels
    code(b"\x00\x1c\xff\xff\xff\xff\x0f\x0b"),  # typed select with 2^32-1 types
    code(b"\x00\xfc\x80\x80\x80\x80\x80\x00\x0b"),  # prefixed sub-opcode over-long
    code(b"\x00\x28\x00"),  # memarg cut short
    code(b"\x00\x44\x00\x00\x00\x0b"),  # f64.const cut short
    code(b"\x00\xfd\x0c" + b"\x00" * 10 + b"\x0b"),  # v128.const cut short
])
def test_bad_integers_and_huge_counts(data):
    assert outcome(data) == "error"
