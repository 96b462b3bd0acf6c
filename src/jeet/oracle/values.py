"""Canonical values: how jeet stores, passes and compares wasm numbers.

Value types are named by strings: "i32", "i64", "f32", "f64". `valtype_name` also accepts
the codec's type bytes (0x7F i32, 0x7E i64, 0x7D f32, 0x7C f64; see `jeet.wasm.types`)
and `wasmtime.ValType`, so every signature in jeet can be normalised to names.

A canonical value is a non-negative int below 2**width: integers modulo 2**width (so -1
and 4294967295 are the same i32), floats as their IEEE-754 bit pattern. Canonical values
are hashable and exact, and they are what `jeet.sandbox` passes and returns.
"""

from __future__ import annotations

import math
import struct
from typing import Any, Sequence

from ..errors import OracleError

VALTYPES = ("i32", "i64", "f32", "f64")
WIDTH = {"i32": 32, "i64": 64, "f32": 32, "f64": 64}
MASK = {t: (1 << w) - 1 for t, w in WIDTH.items()}
_CODEC_BYTES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128", 0x70: "funcref",
                0x6F: "externref"}

F32_EXP = 0x7F800000
F32_FRAC = 0x007FFFFF
F64_EXP = 0x7FF0000000000000
F64_FRAC = 0x000FFFFFFFFFFFFF
F32_CANONICAL_NAN = 0x7FC00000
F64_CANONICAL_NAN = 0x7FF8000000000000


def valtype_name(t: Any) -> str:
    """Normalise a value type (name, codec byte or wasmtime.ValType) to "i32"/"i64"/"f32"/"f64"/...

    Raises OracleError for anything that is not a value type. Names of non-numeric types
    ("v128", "funcref", "externref") are returned as such: callers decide whether they
    can drive them.
    """
    if isinstance(t, str):
        name = t.strip().lower()
        if name in VALTYPES or name in ("v128", "funcref", "externref"):
            return name
        raise OracleError(f"unknown value type {t!r}")
    if isinstance(t, int) and not isinstance(t, bool):
        if t in _CODEC_BYTES:
            return _CODEC_BYTES[t]
        raise OracleError(f"unknown value type byte {t:#x}")
    try:
        import wasmtime
    except ImportError:  # pragma: no cover - wasmtime is a dependency
        wasmtime = None
    if wasmtime is not None and isinstance(t, wasmtime.ValType):
        for name in VALTYPES:
            if t == getattr(wasmtime.ValType, name)():
                return name
        if t == wasmtime.ValType.funcref():
            return "funcref"
        if t == wasmtime.ValType.externref():
            return "externref"
    raise OracleError(f"unknown value type {t!r}")


def valtype_names(types: Sequence[Any]) -> tuple[str, ...]:
    return tuple(valtype_name(t) for t in types)


def is_float(valtype: str) -> bool:
    return valtype in ("f32", "f64")


def is_nan(valtype: str, bits: int) -> bool:
    if valtype == "f32":
        return (bits & F32_EXP) == F32_EXP and (bits & F32_FRAC) != 0
    if valtype == "f64":
        return (bits & F64_EXP) == F64_EXP and (bits & F64_FRAC) != 0
    return False


def float_to_bits(valtype: str, x: float) -> int:
    """The bit pattern of a Python float as f32 (rounded to nearest, overflowing to ±inf) or f64."""
    if valtype == "f64":
        return struct.unpack("<Q", struct.pack("<d", x))[0]
    if valtype == "f32":
        if math.isnan(x):
            # Keep sign and the top payload bits, as the hardware conversion does.
            b64 = struct.unpack("<Q", struct.pack("<d", x))[0]
            return ((b64 >> 32) & 0x80000000) | F32_EXP | 0x400000 | ((b64 >> 29) & F32_FRAC)
        try:
            return struct.unpack("<I", struct.pack("<f", x))[0]
        except OverflowError:
            return F32_EXP | (0x80000000 if x < 0 else 0)
    raise OracleError(f"{valtype} is not a float type")


def bits_to_float(valtype: str, bits: int) -> float:
    """The Python float a bit pattern denotes (NaN payloads of f32 may change on the way)."""
    if valtype == "f64":
        return struct.unpack("<d", struct.pack("<Q", bits & MASK["f64"]))[0]
    if valtype == "f32":
        return struct.unpack("<f", struct.pack("<I", bits & MASK["f32"]))[0]
    raise OracleError(f"{valtype} is not a float type")


def canonical(valtype: str, value: Any) -> int:
    """The canonical value of an int (any sign, reduced modulo 2**width) or a Python float."""
    if isinstance(value, bool):
        raise OracleError(f"a {valtype} value cannot be a bool")
    if valtype not in WIDTH:
        raise OracleError(f"{valtype} has no canonical value")
    if isinstance(value, int):
        return value & MASK[valtype]
    if isinstance(value, float):
        if not is_float(valtype):
            raise OracleError(f"a {valtype} value must be an int, got {value!r}")
        return float_to_bits(valtype, value)
    raise OracleError(f"cannot make a {valtype} value of {value!r}")


def to_signed(valtype: str, value: int) -> int:
    """Two's-complement reading of a canonical integer (floats' bits are read the same way)."""
    w = WIDTH[valtype]
    value &= MASK[valtype]
    return value - (1 << w) if value >> (w - 1) else value


def to_python(valtype: str, value: int) -> int | float:
    """The natural Python value: a signed int for integers, a float for floats."""
    return bits_to_float(valtype, value) if is_float(valtype) else to_signed(valtype, value)


def to_wasmtime(valtype: str, value: int) -> Any:
    """A `wasmtime.Val` for wasmtime-py's public API (f32 NaN payloads may be quieted there)."""
    import wasmtime

    value = canonical(valtype, value)
    if valtype == "i32":
        return wasmtime.Val.i32(to_signed("i32", value))
    if valtype == "i64":
        return wasmtime.Val.i64(to_signed("i64", value))
    if valtype == "f32":
        return wasmtime.Val.f32(bits_to_float("f32", value))
    return wasmtime.Val.f64(bits_to_float("f64", value))


def from_wasmtime(valtype: str, value: Any) -> int:
    """The canonical value of what wasmtime-py returns (an int, a float or a `wasmtime.Val`)."""
    import wasmtime

    if isinstance(value, wasmtime.Val):
        value = value.value
    return canonical(valtype, float(value) if is_float(valtype) and isinstance(value, int) else value)


def values_equal(valtype: str, a: int, b: int) -> bool:
    """Equality of canonical values: integers modulo 2**width, floats bit for bit, any NaN equal to any NaN."""
    mask = MASK[valtype]
    if (a ^ b) & mask == 0:
        return True
    return is_float(valtype) and is_nan(valtype, a & mask) and is_nan(valtype, b & mask)


def results_equal(valtypes: Sequence[str], a: Sequence[int], b: Sequence[int]) -> bool:
    return len(a) == len(b) == len(valtypes) and all(values_equal(t, x, y) for t, x, y in zip(valtypes, a, b))


def format_value(valtype: str, value: int) -> str:
    """Readable form for messages: "-1" for integers, "1.5" / "nan:0x7fc00000" for floats."""
    if is_float(valtype):
        if is_nan(valtype, value):
            return f"nan:{value:#x}"
        return repr(bits_to_float(valtype, value))
    return str(to_signed(valtype, value))
