"""Comparing what two variants returned, the way the oracle does, and turning a mismatch into a case."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from ..oracle import Case, OracleError, canonical

_D = struct.Struct("<d")


def same_value(a: Any, b: Any) -> bool:
    """Integers by value; floats bit for bit (so 0.0 differs from -0.0), any NaN equal to any NaN."""
    if type(a) is float or type(b) is float:
        if type(a) is not float or type(b) is not float:
            return False
        if a != a and b != b:
            return True
        return _D.pack(a) == _D.pack(b)
    return a == b


def same_results(a: Any, b: Any) -> bool:
    """Equality of two wasmtime-py style results (None, one value, or a list of values)."""
    if type(a) is list or type(b) is list:
        return type(a) is list and type(b) is list and len(a) == len(b) and all(map(same_value, a, b))
    return same_value(a, b)


def counterexample(params: Sequence[str], results: Sequence[str], args: tuple, value: Any,
                   trapped: bool) -> Case | None:
    """The call as a test case with the original's answer, or None when its values have no canonical form."""
    try:
        cargs = tuple(canonical(t, v) for t, v in zip(params, args))
        if len(cargs) != len(params):
            return None
        if trapped:
            return Case(cargs, None, (), True)
        values = [] if value is None else (value if isinstance(value, list) else [value])
        expect = tuple(canonical(t, v) for t, v in zip(results, values))
        return Case(cargs, expect) if len(expect) == len(results) else None
    except (OracleError, TypeError, ValueError):
        return None
