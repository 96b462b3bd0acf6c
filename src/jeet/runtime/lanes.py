"""The call path: one small Python function per (thread, variant) that calls a wasm export directly.

wasmtime-py's `Func.__call__` re-reads the function's type and converts every value through
`Val` objects on each call (tens of microseconds). A lane is generated once for the export's
signature: it packs the arguments into one reusable raw-value buffer with a precompiled
`struct.Struct`, calls `wasmtime_func_call_unchecked` (sound because the buffer layout is
exactly the export's signature, which the lane was built from), and unpacks the results.

A lane returns what wasmtime-py returns: None for no result, the value for one, a list for
several; i32/i64 as signed ints, f32/f64 as Python floats; a trap raises `wasmtime.Trap`.
Arguments it cannot pack directly (anything but a plain int for i32/i64 or a plain float for
f32/f64, or an int out of the signed range) go to `slow`, which the caller supplies: the
runtime reads them as a tests file would (`jeet.runtime.arguments`) and calls the lane again.
The unchecked call itself comes from the sandbox boundary (`jeet.sandbox._wasmtime.lane_parts`); when
that boundary's self-test failed, a lane calls wasmtime-py's public `Func.__call__` instead.
With `deadline` (epoch ticks) the store's epoch deadline is re-armed whenever the last arming is
older than `REARM_S`, and armed `REARM_S` beyond the per-call limit: every call gets at least its
limit (and at most `REARM_S` more) before it traps with an interrupt, and the C call that arms
costs one in ~10^5 calls instead of every call (it is a third of a served call's time).
"""

from __future__ import annotations

import functools
import struct
import time
from collections.abc import Callable, Sequence
from typing import Any

import wasmtime

from ..sandbox import _wasmtime as wt

_CODE = {"i32": "i", "i64": "q", "f32": "f", "f64": "d"}
_PYTYPE = {"i32": "int", "i64": "int", "f32": "float", "f64": "float"}
_RANGE = {"i32": (-(1 << 31), (1 << 31) - 1), "i64": (-(1 << 63), (1 << 63) - 1)}
LANE_TYPES = tuple(_CODE)
REARM_S = 0.1  # how stale an arming may get; the deadline is armed this much beyond the per-call limit


def layout(types: Sequence[str]) -> struct.Struct:
    """The struct format of consecutive raw-value slots holding `types`."""
    return wt.layout("".join(_CODE[t] for t in types))


def _source(params: Sequence[str], results: Sequence[str], timed: bool) -> str:
    names = [f"a{i}" for i in range(len(params))]
    arglist = ", ".join(names)
    lines = [f"def lane({arglist}):"]
    if params:
        check = " or ".join(f"type({n}) is not {_PYTYPE[t]}" for n, t in zip(names, params))
        lines += [f"    if {check}:",
                  f"        return slow({arglist})",
                  "    try:",
                  f"        pack(buf, 0, {arglist})",
                  "    except (StructError, OverflowError):",
                  f"        return slow({arglist})"]
    if timed:
        lines += ["    t = now()",
                  "    if t > due[0]:",
                  "        arm(ctx, ticks)",
                  "        due[0] = t + rearm"]
    lines += ["    err = call(ctx, fref, buf, slots, tref)",
              "    if err or trap:",
              "        fail(err)"]
    if not results:
        lines.append("    return None")
    elif len(results) == 1:
        lines.append("    return unpack(buf)[0]")
    else:
        lines.append("    return list(unpack(buf))")
    return "\n".join(lines) + "\n"


@functools.lru_cache(maxsize=256)
def _code(params: tuple[str, ...], results: tuple[str, ...], timed: bool) -> Any:
    return compile(_source(params, results, timed), f"<jeet lane {params}->{results}>", "exec")


def make_lane(store: wasmtime.Store, func: wasmtime.Func, params: Sequence[str], results: Sequence[str],
              slow: Callable[..., Any], deadline: int | None = None) -> Callable[..., Any]:
    """A callable running `func` in `store` with wasmtime-py's semantics; not thread-safe (one per thread).

    `slow(lane, *args)` takes the calls whose arguments cannot be packed directly; `deadline`
    (epoch ticks, None: no re-arming) bounds each call."""
    params, results = tuple(params), tuple(results)
    bad = [t for t in params + results if t not in _CODE]
    if bad:
        raise ValueError(f"a lane passes only {', '.join(_CODE)} values, not {bad[0]}")
    if not wt.raw_calls():
        return _public_lane(store, func, params, slow, deadline)
    slots = max(1, len(params), len(results))
    namespace = wt.lane_parts(store, func, slots)  # the call, its buffer and trap slot; keeps store and func alive
    namespace.update({
        "slow": None,
        "ticks": deadline,
        "now": time.monotonic,
        "due": [-1.0],
        "rearm": REARM_S,
        "pack": layout(params).pack_into if params else None,
        "unpack": layout(results).unpack_from if results else None,
        "StructError": struct.error,
    })
    exec(_code(params, results, deadline is not None), namespace)
    lane = namespace["lane"]
    namespace["slow"] = functools.partial(slow, lane)
    return lane


def _public_lane(store: wasmtime.Store, func: wasmtime.Func, params: tuple[str, ...], slow: Callable[..., Any],
                 deadline: int | None) -> Callable[..., Any]:
    """The same contract through wasmtime-py's public `Func.__call__` (slower; used when the raw path is unsound)."""
    due = [-1.0]
    kinds = tuple((int, _RANGE[t]) if t in _RANGE else (float, None) for t in params)

    def lane(*args: Any) -> Any:
        if len(args) != len(kinds):
            raise TypeError(f"lane() takes {len(kinds)} positional arguments but {len(args)} were given")
        if any(type(a) is not k or (r is not None and not r[0] <= a <= r[1])
                                          for a, (k, r) in zip(args, kinds)):
            return slow(lane, *args)
        if deadline is not None:
            t = time.monotonic()
            if t > due[0]:
                store.set_epoch_deadline(deadline)
                due[0] = t + REARM_S
        return func(store, *args)

    return lane
