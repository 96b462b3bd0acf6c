"""Tests files: JSON Lines, one case per line.

    {"args": [3, -1], "expect": [2]}
    {"args": [1, 0], "trap": true}
    {"args": [16, 4], "memory": [[16, "AQIDBA=="]], "expect": [10]}
    {"args": [0, 4], "memory": [[0, "BAMCAQ=="]], "expect_memory": [[0, "AQIDBA=="]]}

Integers are JSON ints, signed or unsigned, range-checked for their width, or "0x..."
strings. Floats are JSON numbers, "nan", "inf", "-inf", or "0x..." bit patterns.
`memory` blocks are written before the call; `expect_memory` blocks must be in memory
after it. `expect` may be left out: the case then only has to return normally (an
oracle built from tests fills it in from the original). A case runs on the module's
memory as instantiation leaves it (zeroed outside its data segments) unless it names a
`"poison": SEED` (a positive int): every byte outside the data segments then starts as
random bytes drawn from that seed (how jeet's held-out cases catch reads of memory the
original does not read). "name" and "comment" keys are ignored. Blank lines are skipped.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
from typing import Any, Iterable, Sequence

from .cases import Case
from ..errors import OracleError
from .values import MASK, VALTYPES, WIDTH, float_to_bits, is_float, is_nan, to_python, valtype_names

_KEYS = {"args", "expect", "memory", "trap", "expect_memory", "poison", "name", "comment"}
_NAN_WORDS = {"nan", "+nan", "-nan"}
_INF_WORDS = {"inf": 1, "+inf": 1, "infinity": 1, "+infinity": 1, "-inf": -1, "-infinity": -1}


class TestCases(list):
    """A list of `Case` that remembers where each case came from (`source`, `lines`)."""

    __test__ = False  # not a pytest class

    def __init__(self, cases: Iterable[Case] = (), source: str = "<tests>", lines: Sequence[int] = ()) -> None:
        super().__init__(cases)
        self.source = source
        self.lines = list(lines) if lines else list(range(1, len(self) + 1))

    def where(self, index: int) -> str:
        """"file:line" of case `index`."""
        line = self.lines[index] if 0 <= index < len(self.lines) else index + 1
        return f"{self.source}:{line}"


class _LineError(Exception):
    pass


def parse_value(valtype: str, raw: Any) -> int:
    """One JSON value as a canonical value of `valtype`; raises ValueError with the reason."""
    width = WIDTH[valtype]
    if isinstance(raw, bool):
        raise _LineError(f"expected a number for {valtype}, got {json.dumps(raw)}")
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text.startswith("0x"):
            try:
                bits = int(text, 16)
            except ValueError:
                raise _LineError(f"bad hex value {raw!r} for {valtype}") from None
            if bits > MASK[valtype]:
                raise _LineError(f"{raw} does not fit in {width} bits for {valtype}")
            return bits
        if is_float(valtype):
            if text in _NAN_WORDS:
                return float_to_bits(valtype, -math.nan if text.startswith("-") else math.nan)
            if text in _INF_WORDS:
                return float_to_bits(valtype, math.inf * _INF_WORDS[text])
        raise _LineError(f"expected a number for {valtype}, got {raw!r}")
    if is_float(valtype):
        if not isinstance(raw, (int, float)):
            raise _LineError(f"expected a number for {valtype}, got {json.dumps(raw)}")
        try:
            x = float(raw)
        except OverflowError:
            raise _LineError(f"{raw} is out of range for {valtype}") from None
        bits = float_to_bits(valtype, x)
        if math.isfinite(x) and not math.isfinite(to_python(valtype, bits)):
            raise _LineError(f"{raw} is out of range for {valtype}")
        return bits
    if isinstance(raw, float):
        if raw.is_integer():
            raw = int(raw)
        else:
            raise _LineError(f"expected an integer for {valtype}, got {raw!r}")
    if not isinstance(raw, int):
        raise _LineError(f"expected an integer for {valtype}, got {json.dumps(raw)}")
    if not -(1 << (width - 1)) <= raw <= MASK[valtype]:
        raise _LineError(f"{raw} is out of range for {valtype}")
    return raw & MASK[valtype]


def _values(what: str, raw: Any, types: tuple[str, ...]) -> tuple[int, ...]:
    if not isinstance(raw, list):
        raise _LineError(f"{what}: expected a list, got {json.dumps(raw)[:40]}")
    if len(raw) != len(types):
        raise _LineError(f"{what}: expected {len(types)} values for ({', '.join(types)}), got {len(raw)}")
    out = []
    for i, (t, v) in enumerate(zip(types, raw)):
        try:
            out.append(parse_value(t, v))
        except _LineError as exc:
            raise _LineError(f"{what}[{i}]: {exc}") from None
    return tuple(out)


def _blocks(what: str, raw: Any) -> tuple[tuple[int, bytes], ...]:
    if not isinstance(raw, list):
        raise _LineError(f"{what}: expected a list of [offset, base64] pairs")
    out = []
    for i, block in enumerate(raw):
        if not (isinstance(block, list) and len(block) == 2):
            raise _LineError(f"{what}[{i}]: expected [offset, base64]")
        offset, text = block
        if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MASK["i32"]:
            raise _LineError(f"{what}[{i}]: offset must be an int in [0, 2**32), got {json.dumps(offset)}")
        if not isinstance(text, str):
            raise _LineError(f"{what}[{i}]: expected a base64 string")
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise _LineError(f"{what}[{i}]: bad base64 {text[:24]!r}") from None
        out.append((offset, data))
    return tuple(out)


def parse_case(obj: Any, params: tuple[str, ...], results: tuple[str, ...]) -> Case:
    """One decoded JSON object as a Case; raises OracleError (without location) on bad input."""
    try:
        return _parse_case(obj, params, results)
    except _LineError as exc:
        raise OracleError(str(exc)) from None


def _parse_case(obj: Any, params: tuple[str, ...], results: tuple[str, ...]) -> Case:
    if not isinstance(obj, dict):
        raise _LineError(f"expected a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - _KEYS)
    if unknown:
        raise _LineError(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
    if "args" not in obj:
        raise _LineError("missing \"args\"")
    args = _values("args", obj["args"], params)
    trap = obj.get("trap", False)
    if not isinstance(trap, bool):
        raise _LineError(f"trap: expected true or false, got {json.dumps(trap)}")
    expect = None
    if "expect" in obj:
        if trap:
            raise _LineError("a trap case cannot have \"expect\"")
        expect = _values("expect", obj["expect"], results)
    memory = _blocks("memory", obj.get("memory", []))
    expect_memory = _blocks("expect_memory", obj.get("expect_memory", []))
    if trap and expect_memory:
        raise _LineError("a trap case cannot have \"expect_memory\"")
    poison = obj.get("poison", 0)
    if isinstance(poison, bool) or not isinstance(poison, int) or not 0 <= poison < 1 << 63:
        raise _LineError(f"poison: expected a seed, an int in [0, 2**63), got {json.dumps(poison)}")
    return Case(args, expect, memory, trap, expect_memory, poison=poison)


def parse_tests(lines: Iterable[str], params: Sequence[Any], results: Sequence[Any],
                source: str = "<tests>") -> TestCases:
    """Parse JSON Lines text (an iterable of lines) into cases; errors name source:line."""
    params_t, results_t = _signature(params, results, source)
    cases, numbers = [], []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise OracleError(f"{source}:{lineno}: not JSON ({exc.msg} at column {exc.colno})") from None
        try:
            cases.append(_parse_case(obj, params_t, results_t))
        except _LineError as exc:
            raise OracleError(f"{source}:{lineno}: {exc}") from None
        numbers.append(lineno)
    if not cases:
        raise OracleError(f"{source}: no test cases (the file is empty)")
    return TestCases(cases, source, numbers)


def load_tests(path: str | os.PathLike, params: Sequence[Any], results: Sequence[Any]) -> TestCases:
    """Read a JSON Lines tests file for a function with the given parameter and result types."""
    source = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise OracleError(f"{source}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise OracleError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_tests(text.splitlines(), params, results, source)


def _signature(params: Sequence[Any], results: Sequence[Any], source: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    p, r = valtype_names(params), valtype_names(results)
    bad = [t for t in p + r if t not in VALTYPES]
    if bad:
        raise OracleError(f"{source}: tests cannot describe {bad[0]} values (only i32, i64, f32, f64)")
    return p, r


def json_value(valtype: str, value: int) -> Any:
    """The JSON form `parse_value` reads back to exactly `value`."""
    if not is_float(valtype):
        return to_python(valtype, value)
    x = to_python(valtype, value)
    if is_nan(valtype, value):
        canonical_nan = 0x7FC00000 if valtype == "f32" else 0x7FF8000000000000
        return "nan" if value == canonical_nan else f"{value:#x}"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def case_to_json(case: Case, params: Sequence[Any], results: Sequence[Any]) -> dict:
    p, r = valtype_names(params), valtype_names(results)
    obj: dict[str, Any] = {"args": [json_value(t, v) for t, v in zip(p, case.args)]}
    if case.memory:
        obj["memory"] = [[off, base64.b64encode(data).decode("ascii")] for off, data in case.memory]
    if case.trap:
        obj["trap"] = True
    elif case.expect is not None:
        obj["expect"] = [json_value(t, v) for t, v in zip(r, case.expect)]
    if case.expect_memory:
        obj["expect_memory"] = [[off, base64.b64encode(data).decode("ascii")] for off, data in case.expect_memory]
    if case.poison:
        obj["poison"] = case.poison
    return obj


def dump_tests(path: str | os.PathLike, cases: Iterable[Case], params: Sequence[Any], results: Sequence[Any]) -> None:
    """Write cases as JSON Lines that `load_tests` reads back to equal cases."""
    with open(path, "w", encoding="utf-8") as fh:
        for case in cases:
            fh.write(json.dumps(case_to_json(case, params, results), separators=(", ", ": ")) + "\n")
