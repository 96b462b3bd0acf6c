"""Canonical values: integers modulo 2**width, floats as bit patterns, any NaN equal to any NaN."""

from __future__ import annotations

import math
import struct

import pytest
import wasmtime
from hypothesis import given
from hypothesis import strategies as st

from jeet.oracle import (OracleError, bits_to_float, canonical, float_to_bits, format_value, from_wasmtime,
                         is_nan, results_equal, to_python, to_signed, to_wasmtime, valtype_name, values_equal)
from jeet.wasm import types as codec_types


def test_valtype_names_from_every_representation():
    assert valtype_name("i32") == "i32" and valtype_name(" F64 ") == "f64"
    assert [valtype_name(b) for b in (codec_types.I32, codec_types.I64, codec_types.F32, codec_types.F64)] == \
        ["i32", "i64", "f32", "f64"]
    assert valtype_name(codec_types.V128) == "v128"
    assert [valtype_name(getattr(wasmtime.ValType, t)()) for t in ("i32", "i64", "f32", "f64")] == \
        ["i32", "i64", "f32", "f64"]
    assert valtype_name(wasmtime.ValType.externref()) == "externref"
    for bad in ("i16", 0x00, True, None, 3.0):
        with pytest.raises(OracleError):
            valtype_name(bad)


def test_integers_compare_modulo_width():
    assert canonical("i32", -1) == 4294967295
    assert values_equal("i32", -1 & 0xFFFFFFFF, 4294967295)
    assert values_equal("i32", 1 << 32, 0)
    assert not values_equal("i32", 1, 2)
    assert canonical("i64", -1) == 2 ** 64 - 1
    assert values_equal("i64", 2 ** 64 + 5, 5)
    assert to_signed("i32", 0x80000000) == -(2 ** 31)
    assert to_python("i64", 2 ** 64 - 2) == -2


def test_any_nan_matches_any_nan():
    qnan, snan, neg_nan = 0x7FC00000, 0x7FA00001, 0xFFC12345
    assert is_nan("f32", qnan) and is_nan("f32", snan) and is_nan("f32", neg_nan)
    assert values_equal("f32", qnan, snan) and values_equal("f32", snan, neg_nan)
    assert values_equal("f64", 0x7FF8000000000000, 0xFFF0000000000001)
    assert not values_equal("f32", qnan, 0x7F800000)  # NaN is not infinity
    assert not is_nan("f32", 0x7F800000)
    assert not values_equal("i32", qnan, snan)  # for integers these are just different numbers


def test_floats_compare_bit_for_bit():
    assert not values_equal("f32", float_to_bits("f32", 0.0), float_to_bits("f32", -0.0))
    assert not values_equal("f64", float_to_bits("f64", 0.1), float_to_bits("f64", 0.1 + 2 ** -55))
    assert values_equal("f64", float_to_bits("f64", 1.5), 0x3FF8000000000000)


def test_float_bit_patterns():
    assert float_to_bits("f32", 1.5) == 0x3FC00000
    assert float_to_bits("f32", -0.0) == 0x80000000
    assert float_to_bits("f32", 1e39) == 0x7F800000 and float_to_bits("f32", -1e39) == 0xFF800000
    assert float_to_bits("f32", 0.1) == struct.unpack("<I", struct.pack("<f", 0.1))[0]
    assert float_to_bits("f64", math.inf) == 0x7FF0000000000000
    assert is_nan("f32", float_to_bits("f32", math.nan))
    assert bits_to_float("f32", 0x3FC00000) == 1.5
    assert canonical("f64", 2.5) == 0x4004000000000000
    assert canonical("f32", 0x7FA00001) == 0x7FA00001  # ints are bit patterns already
    with pytest.raises(OracleError):
        canonical("i32", 1.5)
    with pytest.raises(OracleError):
        canonical("i32", True)


@given(st.floats(allow_nan=False, width=32))
def test_f32_bits_round_trip(x):
    y = bits_to_float("f32", float_to_bits("f32", x))
    assert y == x and math.copysign(1.0, y) == math.copysign(1.0, x)


@given(st.integers(0, 2 ** 64 - 1))
def test_f64_bits_round_trip_except_nan_payloads(bits):
    x = bits_to_float("f64", bits)
    assert values_equal("f64", float_to_bits("f64", x), bits)


@given(st.integers(-(2 ** 63), 2 ** 64 - 1))
def test_signed_and_canonical_are_inverse(v):
    c = canonical("i64", v)
    assert 0 <= c < 2 ** 64
    assert canonical("i64", to_signed("i64", c)) == c


def test_wasmtime_value_conversions():
    assert to_wasmtime("i32", 4294967295).value == -1
    assert to_wasmtime("f32", 0x3FC00000).value == 1.5
    assert from_wasmtime("i32", -1) == 4294967295
    assert from_wasmtime("f64", 2.5) == 0x4004000000000000
    assert from_wasmtime("i64", wasmtime.Val.i64(-2)) == 2 ** 64 - 2
    assert from_wasmtime("f32", 1) == 0x3F800000


def test_results_equal_checks_arity():
    assert results_equal(("i32", "f32"), (1, 0x7FC00000), (1, 0x7FA00000))
    assert not results_equal(("i32",), (1,), (1, 2))
    assert not results_equal(("i32", "i32"), (1, 2), (1, 3))


def test_format_value():
    assert format_value("i32", 0xFFFFFFFF) == "-1"
    assert format_value("f32", 0x3FC00000) == "1.5"
    assert format_value("f64", 0x7FF8000000000000) == "nan:0x7ff8000000000000"
