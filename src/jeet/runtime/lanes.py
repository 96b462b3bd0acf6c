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
With `deadline` (epoch ticks) the store's epoch deadline is re-armed whenever the last arming is
older than `REARM_S`, and armed `REARM_S` beyond the per-call limit: every call gets at least its
limit (and at most `REARM_S` more) before it traps with an interrupt, and the C call that arms
costs one in ~10^5 calls instead of every call (it is a third of a served call's time).
"""

from __future__ import annotations

import ctypes
import functools
import struct
import time
from collections.abc import Callable, Sequence
from typing import Any

import wasmtime
from wasmtime import _bindings as _b
from wasmtime import _ffi as ffi

_SLOT = ctypes.sizeof(_b.wasmtime_val_raw_t)
_CODE = {"i32": "i", "i64": "q", "f32": "f", "f64": "d"}
_PYTYPE = {"i32": "int", "i64": "int", "f32": "float", "f64": "float"}
_TrapPtr = ctypes.POINTER(ffi.wasm_trap_t)
LANE_TYPES = tuple(_CODE)
REARM_S = 0.1  # how stale an arming may get; the deadline is armed this much beyond the per-call limit


def layout(types: Sequence[str]) -> struct.Struct:
    """The struct format of consecutive raw-value slots holding `types`."""
    return struct.Struct("<" + "".join(f"{_CODE[t]}{_SLOT - struct.calcsize(_CODE[t])}x" for t in types))


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
    slots = max(1, len(params), len(results))
    buf = (_b.wasmtime_val_raw_t * slots)()
    trap = _TrapPtr()
    trap_cell = ctypes.addressof(trap)

    def fail(err: Any) -> None:
        # as wasmtime-py: an error first, then a trap; both own (and free) what they point to
        if trap:
            address = ctypes.cast(trap, ctypes.c_void_p).value
            ctypes.memset(trap_cell, 0, ctypes.sizeof(trap))  # the lane's trap slot is reused
            caught = wasmtime.Trap._from_ptr(ctypes.cast(address, _TrapPtr))
            if err:
                raise wasmtime.WasmtimeError._from_ptr(err)
            raise caught
        raise wasmtime.WasmtimeError._from_ptr(err)

    namespace = {
        "slow": None,
        "arm": ffi.wasmtime_context_set_epoch_deadline,
        "ticks": deadline,
        "now": time.monotonic,
        "due": [-1.0],
        "rearm": REARM_S,
        "pack": layout(params).pack_into if params else None,
        "unpack": layout(results).unpack_from if results else None,
        "StructError": struct.error,
        "call": _b._wasmtime_func_call_unchecked,
        "ctx": store._context(),
        "fref": ctypes.byref(func._func),
        "buf": buf,
        "slots": slots,
        "trap": trap,
        "tref": ctypes.byref(trap),
        "fail": fail,
        # kept alive as long as the lane: the store owns the instance the function lives in
        "_store": store,
        "_func": func,
    }
    exec(_code(params, results, deadline is not None), namespace)
    lane = namespace["lane"]
    namespace["slow"] = functools.partial(slow, lane)
    return lane
