"""Arguments the call path cannot pack directly, read exactly as a tests file reads them.

`i32` takes ints in [-2**31, 2**32) (signed or unsigned), `i64` likewise for 64 bits,
`f32`/`f64` take ints and floats in range; anything else is the tests file's own error
(`jeet.oracle.parse_case`), raised as `ArgumentValueError` after the function's signature.
Nothing wraps silently: `popcount(2**40)` is an error, as `{"args": [1099511627776]}` is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..oracle import OracleError, parse_case, to_python
from ..errors import ArgumentValueError


def coerce(function: str, params: Sequence[str], results: Sequence[str], args: tuple) -> tuple:
    """`args` as the canonical Python values the lane packs (signed ints, floats); or ArgumentValueError."""
    try:
        case = parse_case({"args": list(args)}, tuple(params), ())
    except (OracleError, TypeError, ValueError) as exc:
        sig = f"[{' '.join(params)}] -> [{' '.join(results)}]"
        raise ArgumentValueError(f"{function} {sig}: {_reason(exc)}") from None
    return tuple(to_python(t, v) for t, v in zip(params, case.args))


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return text if isinstance(exc, OracleError) else f"cannot pass these arguments ({text})"


def slow_path(function: str, params: Sequence[str], results: Sequence[str]) -> Any:
    """The `slow` a lane takes: coerce the arguments, then call the lane with the exact values."""
    def slow(lane: Any, *args: Any) -> Any:
        return lane(*coerce(function, params, results, args))
    return slow
