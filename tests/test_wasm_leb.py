"""LEB128 as the binary format defines it: size limits and unused bits are enforced."""

import pytest
from hypothesis import given, strategies as st

from jeet.wasm import WasmError
from jeet.wasm.reader import (
    Reader, read_s32, read_s33, read_s64, read_u32, write_sleb, write_u32, write_uleb,
)


def u32(b: bytes) -> int:
    v, pos = read_u32(b, 0, len(b))
    assert pos == len(b)
    return v


def s32(b: bytes) -> int:
    v, pos = read_s32(b, 0, len(b))
    assert pos == len(b)
    return v


def s33(b: bytes) -> int:
    v, pos = read_s33(b, 0, len(b))
    assert pos == len(b)
    return v


def s64(b: bytes) -> int:
    v, pos = read_s64(b, 0, len(b))
    assert pos == len(b)
    return v


@pytest.mark.parametrize("data, value", [
    (b"\x00", 0), (b"\x7f", 127), (b"\x80\x01", 128), (b"\x80\x00", 0),
    (b"\x80\x80\x80\x80\x00", 0), (b"\xff\xff\xff\xff\x0f", 0xFFFFFFFF),
    (b"\xe5\x8e\x26", 624485),
])
def test_u32_accepts_minimal_and_padded_encodings(data, value):
    assert u32(data) == value


@pytest.mark.parametrize("data, reason", [
    (b"\x80\x80\x80\x80\x80\x00", "integer representation too long"),
    (b"\xff\xff\xff\xff\x1f", "integer too large"),
    (b"\x80\x80\x80\x80\x10", "integer too large"),
    (b"\x80\x80\x80\x80\x70", "integer too large"),
    (b"\x80", "unexpected end"),
    (b"", "unexpected end"),
])
def test_u32_rejects_like_the_spec(data, reason):
    with pytest.raises(WasmError, match=reason):
        u32(data)


@pytest.mark.parametrize("data, value", [
    (b"\x7f", -1), (b"\x3f", 63), (b"\x40", -64), (b"\xc0\x00", 64), (b"\xff\x7f", -1),
    (b"\x80\x80\x80\x80\x78", -(2**31)), (b"\xff\xff\xff\xff\x07", 2**31 - 1),
    (b"\xff\xff\xff\xff\x7f", -1),
])
def test_s32_values(data, value):
    assert s32(data) == value


@pytest.mark.parametrize("data", [
    b"\xff\xff\xff\xff\x0f",  # bit 31 clear but bits 32.. set
    b"\x80\x80\x80\x80\x70",  # bit 31 clear, high bits set
    b"\xff\xff\xff\xff\x4f",
    b"\x80\x80\x80\x80\x08",  # sign bit set, high bits clear
])
def test_s32_rejects_unused_bits_that_are_not_sign_copies(data):
    with pytest.raises(WasmError, match="integer too large"):
        s32(data)


def test_s32_rejects_six_bytes():
    with pytest.raises(WasmError, match="too long"):
        s32(b"\xff\xff\xff\xff\xff\x7f")


def test_s33_covers_type_indices_and_block_types():
    assert s33(b"\x40") == -64
    assert s33(b"\x7f") == -1
    assert s33(b"\xff\xff\xff\xff\x0f") == 2**32 - 1
    assert s33(b"\x80\x80\x80\x80\x70") == -(2**32)
    with pytest.raises(WasmError, match="integer too large"):
        s33(b"\xff\xff\xff\xff\x2f")
    with pytest.raises(WasmError, match="integer too large"):
        s33(b"\x80\x80\x80\x80\x50")


def test_s64_last_byte_rules():
    assert s64(b"\xff" * 9 + b"\x7f") == -1
    assert s64(b"\x80" * 9 + b"\x7f") == -(2**63)
    assert s64(b"\xff" * 9 + b"\x00") == 2**63 - 1
    for last in (b"\x01", b"\x02", b"\x7e", b"\x41"):
        with pytest.raises(WasmError, match="integer too large"):
            s64(b"\x80" * 9 + last)
    with pytest.raises(WasmError, match="too long"):
        s64(b"\x80" * 10 + b"\x00")


def test_reader_never_reads_past_its_end():
    r = Reader(b"\x05\xff\xff", 0, 2)
    assert r.u32() == 5
    with pytest.raises(WasmError):
        r.u32()  # 0xff continues into the byte beyond `end`


def test_vector_count_is_checked_against_remaining_bytes():
    r = Reader(b"\xff\xff\xff\xff\x0f" + b"\x00" * 10)
    with pytest.raises(WasmError, match="length out of bounds") as e:
        r.count()
    assert e.value.offset == 0


def test_name_must_be_utf8():
    assert Reader(b"\x03abc").name() == "abc"
    with pytest.raises(WasmError, match="malformed UTF-8"):
        Reader(b"\x02\xc0\x80").name()  # overlong NUL
    with pytest.raises(WasmError, match="malformed UTF-8"):
        Reader(b"\x03\xed\xa0\x80").name()  # surrogate


@given(st.integers(0, 2**32 - 1))
def test_u32_round_trip(v):
    assert u32(write_u32(v)) == v


@given(st.integers(-(2**31), 2**31 - 1))
def test_s32_round_trip(v):
    assert s32(write_sleb(v)) == v


@given(st.integers(-(2**63), 2**63 - 1))
def test_s64_round_trip(v):
    assert s64(write_sleb(v)) == v


@given(st.integers(0, 2**64))
def test_uleb_is_minimal(v):
    b = write_uleb(v)
    assert b[-1] != 0x80 and (len(b) == 1 or b[-1] != 0)


@given(st.binary(max_size=12))
def test_readers_raise_only_wasm_errors(data):
    for fn in (read_u32, read_s32, read_s33, read_s64):
        try:
            fn(data, 0, len(data))
        except WasmError:
            pass
