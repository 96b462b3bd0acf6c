"""The one module that touches wasmtime-py internals (`_ffi`, `_bindings`, `_func.LAST_EXCEPTION`,
`Trap._from_ptr`, `Store._context`): upgrading wasmtime touches this file and its test only.

Engine configuration (WebAssembly 2.0, Winch, pooling), the epoch ticker, `Instances` (a store with one
module or several linked ones: limits, fuel, deadlines, exports, memory, globals), the raw call
(`RawFunc`: raw bits in and out, so NaN payloads are exact) and `Failure`s classified by trap code.

wasmtime-py's internals change between major versions, and a layout change in the value type would
corrupt memory silently: the version is pinned (`TESTED_MAJOR`, pyproject.toml) and a self-test runs
before jeet's first engine (`problem`). If it fails, calls go through the public `Func.__call__`
(exact but for signalling-NaN payloads), with one warning.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import struct
import threading
import warnings
from ctypes import POINTER, byref
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Sequence

import wasmtime
import wasmtime._func as _wfunc
from wasmtime import _bindings as _b
from wasmtime import _ffi as ffi

TESTED_MAJOR = 50  # the wasmtime-py major version this module was written and tested against
WASM_PAGE = 65536

Val = ffi.wasmtime_val_t
Extern = ffi.wasmtime_extern_t
InstanceHandle = ffi.wasmtime_instance_t
TrapPtr = POINTER(ffi.wasm_trap_t)
VAL_KINDS = {"i32": ffi.WASMTIME_I32.value, "i64": ffi.WASMTIME_I64.value,
             "f32": ffi.WASMTIME_F32.value, "f64": ffi.WASMTIME_F64.value}
EXTERN_FUNC = ffi.WASMTIME_EXTERN_FUNC.value
EXTERN_MEMORY = ffi.WASMTIME_EXTERN_MEMORY.value
EXTERN_GLOBAL = ffi.WASMTIME_EXTERN_GLOBAL.value
SLOT = ctypes.sizeof(_b.wasmtime_val_raw_t)  # bytes per value in the unchecked call's buffer
WIDTH = {"i32": 32, "i64": 64, "f32": 32, "f64": 64}
M32 = (1 << 32) - 1
M64 = (1 << 64) - 1

# C API entry points, bound once (the hot path calls them directly)
set_fuel = ffi.wasmtime_context_set_fuel
set_epoch_deadline = ffi.wasmtime_context_set_epoch_deadline
memory_size = ffi.wasmtime_memory_size
_global_get = ffi.wasmtime_global_get
_get_fuel = ffi.wasmtime_context_get_fuel
_store_new = ffi.wasmtime_store_new
_instance_new = ffi.wasmtime_instance_new
_export_get = ffi.wasmtime_instance_export_get
_func_call = ffi.wasmtime_func_call
_memory_data = ffi.wasmtime_memory_data
_memory_data_size = ffi.wasmtime_memory_data_size
_NO_FINALIZER = ctypes.cast(0, ctypes.CFUNCTYPE(None, ctypes.c_void_p))

POOL_MARKER = "pooling allocator requirements"
# wasmtime reports exceeded store limits as errors without a code: these phrases are all there is
_RESOURCE_MARKERS = ("exceeds memory limits", "exceeds table limits", "resource limit exceeded",
                     "count too high", "limit exceeded", "exceeds the limit")


# engine configuration ------------------------------------------------------------------------------

_WASM20 = {"multi_value": True, "bulk_memory": True, "reference_types": True, "simd": True,
           "relaxed_simd": False, "threads": False, "tail_call": False, "gc": False, "function_references": False,
           "exceptions": False, "memory64": False, "multi_memory": False, "wide_arithmetic": False,
           "custom_page_sizes": False}


def wasm20_features(cfg: wasmtime.Config) -> wasmtime.Config:
    """WebAssembly 2.0: multi-value, bulk memory, reference types, SIMD. Nothing that is
    nondeterministic (threads, relaxed SIMD) or beyond 2.0. Every engine that judges code uses this set."""
    for feature, on in _WASM20.items():
        setattr(cfg, "wasm_" + feature, on)
    return cfg


def _winch_code() -> int | None:
    """The C enum value of WASMTIME_STRATEGY_WINCH: the Python enum numbers members from 1, the C enum
    from 0, and an out-of-range value aborts the process, so it is derived from the member order."""
    enum = getattr(ffi, "wasmtime_strategy_enum", None)
    if enum is None:
        return None
    names = [member.name for member in enum]
    if names[:3] != ["WASMTIME_STRATEGY_AUTO", "WASMTIME_STRATEGY_CRANELIFT", "WASMTIME_STRATEGY_WINCH"]:
        return None
    return 2


def winch_available() -> bool:
    """True when this wasmtime and this machine can compile with Winch."""
    return (_winch_code() is not None
            and platform.machine().lower() in ("x86_64", "amd64", "aarch64", "arm64"))


def _pooling(cfg: wasmtime.Config, limits: Any, slots: int) -> None:
    """Switch the engine to wasmtime's pooling allocator, sized to the limits: instances, memories and
    tables then come from preallocated slots, which halves the cost of a fresh store + instance per case."""
    pool = ffi.wasmtime_pooling_allocation_config_new()
    try:
        ffi.wasmtime_pooling_allocation_config_total_core_instances_set(pool, slots)
        ffi.wasmtime_pooling_allocation_config_total_memories_set(pool, slots * max(1, limits.memories))
        ffi.wasmtime_pooling_allocation_config_total_tables_set(pool, slots * max(1, limits.tables))
        ffi.wasmtime_pooling_allocation_config_max_memory_size_set(pool, max(WASM_PAGE, limits.memory_bytes))
        ffi.wasmtime_pooling_allocation_config_table_elements_set(pool, max(1, limits.table_elements))
        ffi.wasmtime_pooling_allocation_config_max_memories_per_module_set(pool, max(1, limits.memories))
        ffi.wasmtime_pooling_allocation_config_max_tables_per_module_set(pool, max(1, limits.tables))
        ffi.wasmtime_pooling_allocation_strategy_set(cfg.ptr(), pool)
    finally:
        ffi.wasmtime_pooling_allocation_config_delete(pool)


def engine_config(compiler: str, opt_level: str, max_wasm_stack: int, *, limits: Any = None,
                  pool_slots: int = 0, single_pass: bool = False) -> wasmtime.Config:
    """A judging engine's configuration: fuel, epoch interruption, WebAssembly 2.0, one compile thread.

    `pool_slots` > 0 sizes a pooling allocator to `limits`;
    `single_pass` picks Cranelift's faster single-pass register allocator."""
    cfg = wasmtime.Config()
    cfg.consume_fuel = True
    cfg.epoch_interruption = True
    cfg.max_wasm_stack = max_wasm_stack
    cfg.cranelift_opt_level = opt_level
    cfg.parallel_compilation = False  # candidates are small: threads cost more than they save
    wasm20_features(cfg)
    if compiler == "winch":
        ffi.wasmtime_config_strategy_set(cfg.ptr(), _winch_code())
    else:
        cfg.strategy = "cranelift"
    if single_pass:
        cfg.cranelift_flag_set("regalloc_algorithm", "single_pass")
    if pool_slots:
        _pooling(cfg, limits, pool_slots)
    return cfg


def version() -> str:
    """The installed wasmtime-py version (part of compile-cache keys)."""
    return metadata.version("wasmtime")


# the epoch ticker ----------------------------------------------------------------------------------

def start_ticker(engines: list, interval: float, name: str) -> tuple[threading.Event, threading.Thread]:
    """A daemon thread advancing the epoch of every engine in `engines` (shared, not copied: an engine
    appended later ticks too) each `interval` seconds, until the returned event is set."""
    stop = threading.Event()
    thread = threading.Thread(target=_tick, args=(engines, interval, stop), name=name, daemon=True)
    thread.start()
    return stop, thread


def _tick(engines: list, interval: float, stop: threading.Event) -> None:
    while not stop.wait(interval):
        for engine in tuple(engines):
            engine.increment_epoch()


def stop_thread(stop: threading.Event, thread: threading.Thread) -> None:
    """Stop a ticker thread (a module-level function, so a `weakref.finalize` holds no ticker)."""
    stop.set()
    if thread is not threading.current_thread():
        thread.join(timeout=1.0)


# failures ------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Failure:
    """Why a call or instantiation did not return normally.

    `kind`: "fuel" (out of fuel), "interrupt" (epoch deadline), "trap" (any other trap, an import stub
    included), "resource" (a store limit) or "error" (anything else wasmtime reports); `message` is
    one line; `code` is wasmtime's trap code when it gave one."""

    kind: str
    message: str
    code: wasmtime.TrapCode | None = None


def one_line(message: str) -> str:
    """Squeeze wasmtime's multi-line error (backtrace + cause chain) into one readable line."""
    text = str(message).strip()
    if "Caused by:" in text:
        head, _, causes = text.partition("Caused by:")
        parts = []
        head = head.strip()
        if head and not head.startswith("error while executing at wasm backtrace"):
            parts.append(head.splitlines()[0].strip())
        for line in causes.splitlines():
            line = line.strip()
            if not line:
                continue
            number, sep, rest = line.partition(": ")
            parts.append(rest if sep and number.isdigit() else line)
        return ": ".join(parts)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if len(lines) > 1 and lines[0].startswith("error while executing") else " ".join(lines)


def from_trap(trap: wasmtime.Trap, message: str | None = None) -> Failure:
    """Classify a trap by its code (a trap raised by host code has none: an ordinary trap)."""
    code = trap.trap_code
    text = message if message is not None else one_line(trap.message)
    if code is wasmtime.TrapCode.OUT_OF_FUEL:
        return Failure("fuel", text, code)
    if code is wasmtime.TrapCode.INTERRUPT:
        return Failure("interrupt", text, code)
    return Failure("trap", text, code)


def from_error(message: str) -> Failure:
    """Classify an error without a trap code: a store limit (by its wording, all wasmtime gives) or other."""
    line = one_line(message)
    return Failure("resource" if any(m in line for m in _RESOURCE_MARKERS) else "error", line)


def from_exception(exc: BaseException) -> Failure:
    """Classify what a public wasmtime-py call raised."""
    if isinstance(exc, wasmtime.Trap):
        return from_trap(exc)
    if isinstance(exc, wasmtime.WasmtimeError):
        return from_error(str(exc))
    return Failure("trap", f"an imported function was called and is not provided ({exc})")


def classify(error: Any, trap: Any) -> Failure:
    """The failure behind a C call's error / trap out-pointers; takes ownership of (and frees) both."""
    host = _wfunc.LAST_EXCEPTION  # set when a host function (an import stub) raised
    host_message = ""
    if host is not None:
        _wfunc.LAST_EXCEPTION = None
        if isinstance(host, wasmtime.Trap):
            host_message = str(host)
        else:  # a stub whose arguments wasmtime-py could not convert (v128)
            host_message = f"an imported function was called and is not provided ({host})"
    err = wasmtime.WasmtimeError._from_ptr(error) if error else None  # owns and frees the error
    if trap:
        return from_trap(wasmtime.Trap._from_ptr(trap), host_message if host is not None else None)
    if host is not None:
        return Failure("trap", host_message)
    return from_error(str(err))


# raw handles: contexts, externs, memory, globals ------------------------------------------------------


def context(store: wasmtime.Store) -> Any:
    """The raw context of a Python store."""
    return store._context()


def extern_array(objects: Sequence[Any]) -> Any:
    """Python externs (Func, Memory, Table, Global) as the C array `instantiate` takes."""
    externs = (Extern * max(1, len(objects)))()
    for i, obj in enumerate(objects):
        externs[i] = obj._as_extern()
    return externs


def memory_span(ctx: Any, memory: Any) -> tuple[int, int]:
    """(address, size in bytes) of a raw memory handle's data, valid until the memory grows."""
    ref = byref(memory)
    return ctypes.addressof(_memory_data(ctx, ref).contents), _memory_data_size(ctx, ref)


def global_bits(ctx: Any, item: Any, width: int, cell: Any) -> int:
    """An exported global's value as raw bits (`width` 32 or 64; `cell`: a reusable `Val`)."""
    _global_get(ctx, byref(item.of.global_), byref(cell))
    return cell.of.i32 & M32 if width == 32 else cell.of.i64 & M64


def global_restore(ctx: Any, item: Any, value: Any) -> None:
    """Set an exported global back to a value `Instances.add_global` returned."""
    ffi.wasmtime_global_set(ctx, byref(item.of.global_), byref(value))


# the call ------------------------------------------------------------------------------------------

_FLOATS = {"f32": (struct.Struct("<I"), struct.Struct("<f")), "f64": (struct.Struct("<Q"), struct.Struct("<d"))}


class RawFunc:
    """One exported function of an instance, called with raw argument bits, giving raw result bits.

    `call(bits)` returns (results, None) or ((), Failure). The fast path hands wasmtime's C API
    `wasmtime_val_t` values whose union carries the bits, so every float bit pattern is exact; when the
    import-time self-test failed it calls wasmtime-py's public `Func.__call__` (which needs `store`, a
    Python `wasmtime.Store`). `keep` holds whatever the handles need alive."""

    __slots__ = ("ctx", "ref", "params", "results", "arity", "n_results", "kinds", "wide", "result_wide",
                 "Params", "Results", "store", "func", "keep", "raw")

    def __init__(self, ctx: Any, func: Any, shape: tuple, store: wasmtime.Store | None = None, keep: Any = None,
                 raw: bool | None = None) -> None:
        """`func`: a raw extern (`export(..., EXTERN_FUNC)`) or a Python `wasmtime.Func`; `shape`:
        `call_shape(params, results)` (made once per signature: sessions open often)."""
        self.ctx, self.func, self.store, self.keep = ctx, func, store, keep
        self.ref = byref(func._func if type(func) is wasmtime.Func else func.of.func)
        (self.params, self.results, self.arity, self.n_results, self.kinds, self.wide, self.result_wide,
         self.Params, self.Results) = shape
        self.raw = (not _checked[0] if _checked else raw_calls()) if raw is None else raw
        if not self.raw and store is None:
            raise ValueError("the public call path needs the Python wasmtime.Store")

    def call(self, bits: Sequence[int]) -> tuple[tuple[int, ...], Failure | None]:
        if not self.raw:
            return self._public(bits)
        params = self.Params()
        kinds, wide = self.kinds, self.wide
        for i, value in enumerate(bits):
            p = params[i]
            p.kind = kinds[i]
            if wide[i]:
                p.of.i64 = value
            else:
                p.of.i32 = value  # ctypes keeps the low 32 bits: the same value, signed
        results = self.Results()
        trap = TrapPtr()
        error = _func_call(self.ctx, self.ref, params, self.arity, results, self.n_results, byref(trap))
        if error or trap:
            return (), classify(error, trap)
        return tuple(results[i].of.i64 & M64 if w else results[i].of.i32 & M32
                     for i, w in enumerate(self.result_wide)), None

    def _public(self, bits: Sequence[int]) -> tuple[tuple[int, ...], Failure | None]:
        args = [_to_val(t, b) for t, b in zip(self.params, bits)]
        func = self.func if type(self.func) is wasmtime.Func else wasmtime.Func._from_raw(self.func.of.func)
        try:
            got = func(self.store, *args)
        except Exception as exc:
            return (), from_exception(exc)
        got = [] if got is None else (list(got) if isinstance(got, (list, tuple)) else [got])
        return tuple(_to_bits(t, v) for t, v in zip(self.results, got)), None


@functools.lru_cache(maxsize=None)
def call_shape(params: tuple[str, ...], results: tuple[str, ...]) -> tuple:
    """What a call of this signature needs, made once: the kinds, which union member carries each value's
    bits (i32/f32 share 32, i64/f64 share 64) and the C array types (making those costs microseconds)."""
    return (params, results, len(params), len(results), tuple(VAL_KINDS[t] for t in params),
            tuple(WIDTH[t] == 64 for t in params), tuple(WIDTH[t] == 64 for t in results),
            Val * max(1, len(params)), Val * max(1, len(results)))


def _to_val(valtype: str, bits: int) -> wasmtime.Val:
    make = getattr(wasmtime.Val, valtype)
    if valtype in _FLOATS:
        ints, floats = _FLOATS[valtype]
        return make(floats.unpack(ints.pack(bits))[0])
    return make(bits - (1 << WIDTH[valtype]) if bits >> (WIDTH[valtype] - 1) else bits)


def _to_bits(valtype: str, value: Any) -> int:
    if valtype in _FLOATS:
        ints, floats = _FLOATS[valtype]
        return ints.unpack(floats.pack(value))[0]
    return value & ((1 << WIDTH[valtype]) - 1)


def layout(codes: str) -> struct.Struct:
    """The struct of consecutive raw-value slots holding values of struct `codes` ("i", "q", "f", "d", ...)."""
    return struct.Struct("<" + "".join(f"{c}{SLOT - struct.calcsize(c)}x" for c in codes))


def lane_parts(store: wasmtime.Store, func: wasmtime.Func, slots: int) -> dict[str, Any]:
    """What a generated lane (`jeet.runtime.lanes`) needs for the unchecked call, by name.

    `call(ctx, fref, buf, slots, tref)` runs the function on `buf` (`slots` raw values of `SLOT`
    bytes: the arguments in, the results out); when it returns an error or sets `trap`, `fail(err)`
    raises what wasmtime-py would. Sound only when the buffer layout is exactly the function's type."""
    buf = (_b.wasmtime_val_raw_t * slots)()
    trap = TrapPtr()
    trap_cell = ctypes.addressof(trap)

    def fail(err: Any) -> None:
        # as wasmtime-py: an error first, then a trap; both own (and free) what they point to
        if trap:
            address = ctypes.cast(trap, ctypes.c_void_p).value
            ctypes.memset(trap_cell, 0, ctypes.sizeof(trap))  # the lane's trap slot is reused
            caught = wasmtime.Trap._from_ptr(ctypes.cast(address, TrapPtr))
            if err:
                raise wasmtime.WasmtimeError._from_ptr(err)
            raise caught
        raise wasmtime.WasmtimeError._from_ptr(err)

    return {"call": _b._wasmtime_func_call_unchecked, "ctx": store._context(), "fref": byref(func._func),
            "buf": buf, "slots": slots, "trap": trap, "tref": byref(trap), "fail": fail, "arm": set_epoch_deadline,
            "_store": store, "_func": func}


# stores with their instances -------------------------------------------------------------------------

class Instances:
    """One store and the instances in it (one module, or several linked ones), its memories and the entry
    point's raw call: what the sandbox, the linked sandbox and tests hold between calls.

    The store is raw (no Python `wasmtime.Store`: cheaper) unless imports or the public call path need
    the Python one. `close` frees it; the handles inside are invalid afterwards."""

    __slots__ = ("py_store", "raw_store", "ctx", "instance", "func", "memories", "globals", "keep", "owned",
                 "closed")

    def __init__(self, py_store: wasmtime.Store | None, raw_store: Any, ctx: Any, owned: bool) -> None:
        # instance: the last module instantiated, whose exports are asked for; memories: raw handles, the
        # first is the one cases read and write; globals: exported mutable ones, (extern, width); keep:
        # Python objects the raw handles depend on. (One statement: sessions open often.)
        (self.py_store, self.raw_store, self.ctx, self.owned, self.instance, self.func, self.memories, self.globals,
         self.keep, self.closed) = py_store, raw_store, ctx, owned, None, None, [], [], None, False

    @classmethod
    def new(cls, engine: wasmtime.Engine, limits: Any, fuel: int, ticks: int,
            python_store: bool = False) -> "Instances":
        """An empty store under `limits` (memory bytes, table elements, instances, tables, memories), with
        `fuel` and an epoch deadline `ticks` ahead."""
        py = wasmtime.Store(engine) if python_store or not (_checked and not _checked[0] or raw_calls()) else None
        raw = py.ptr() if py is not None else _store_new(engine.ptr(), None, _NO_FINALIZER)
        ctx = ffi.wasmtime_store_context(raw)
        ffi.wasmtime_store_limiter(raw, limits.memory_bytes, limits.table_elements, limits.instances, limits.tables,
                      limits.memories)
        set_fuel(ctx, fuel)
        set_epoch_deadline(ctx, ticks)
        return cls(py, raw, ctx, True)

    @classmethod
    def adopt(cls, store: wasmtime.Store) -> "Instances":
        """A Python store whose instances were made through the public API (a `wasmtime.Linker`, say)."""
        return cls(store, store.ptr(), store._context(), False)

    def instantiate(self, module: wasmtime.Module, objects: Sequence[Any] = ()) -> Failure | None:
        """Instantiate `module` with Python externs `objects` as its imports; None, or why it failed."""
        externs = extern_array(objects) if objects else None
        trap = TrapPtr()
        instance = InstanceHandle()
        error = _instance_new(self.ctx, module.ptr(), externs, len(objects), byref(instance), byref(trap))
        if error or trap:
            return classify(error, trap)
        self.instance = instance
        if objects:
            self.keep = [*(self.keep or ()), objects]
        return None

    def export(self, name: bytes, kind: int) -> Any:
        """The last instance's export `name` if it is of `kind` (EXTERN_FUNC, ...), else None."""
        item = Extern()
        if _export_get(self.ctx, byref(self.instance), name, len(name), byref(item)) and item.kind == kind:
            return item
        return None

    def add_memory(self, memory: Any) -> None:
        """A memory (an extern from `export`, or a Python `wasmtime.Memory`) that cases may read and write."""
        if type(memory) is wasmtime.Memory:
            self.keep = [*(self.keep or ()), memory]
            self.memories.append(memory._memory)
        else:
            self.memories.append(memory.of.memory)

    def add_global(self, item: Any, valtype: str) -> Any:
        """Track an exported mutable global; returns its current value (to restore with `global_restore`)."""
        self.globals.append((item, WIDTH[valtype]))
        value = Val()
        _global_get(self.ctx, byref(item.of.global_), byref(value))
        return value

    def entry(self, func: Any, shape: tuple) -> RawFunc:
        """Make `func` (an extern from `export`, or a Python `wasmtime.Func`) the function calls go to."""
        self.func = RawFunc(self.ctx, func, shape, self.py_store)
        return self.func

    def write(self, memory: Any, blocks: Sequence[tuple[int, bytes]]) -> str:
        """Copy (offset, bytes) blocks into a raw memory handle; "" or why a block does not fit (nothing
        after it is written)."""
        base, size = memory_span(self.ctx, memory)
        for offset, data in blocks:
            data = bytes(data)
            if offset < 0 or offset + len(data) > size:
                return f"memory block [{offset}, {offset + len(data)}) lies outside the {size}-byte memory"
            ctypes.memmove(base + offset, data, len(data))
        return ""

    def read(self, memory: Any, regions: Sequence[tuple[int, bytes]]) -> tuple[tuple[int, bytes], ...]:
        """(offset, the len(expected) bytes there) per (offset, expected) region; b"" where it does not fit."""
        base, size = memory_span(self.ctx, memory)
        return tuple((offset, ctypes.string_at(base + offset, len(want)) if 0 <= offset and offset + len(want) <= size
                      else b"") for offset, want in regions)

    def refuel(self, fuel: int, ticks: int) -> None:
        """A full tank and a fresh deadline for the next call."""
        set_fuel(self.ctx, fuel)
        set_epoch_deadline(self.ctx, ticks)

    def fuel_left(self) -> int:
        cell = ctypes.c_uint64(0)
        _get_fuel(self.ctx, byref(cell))
        return cell.value

    def pages(self) -> int:
        """The memories' size together, in pages."""
        return sum(memory_size(self.ctx, byref(m)) for m in self.memories)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.owned:
                if self.py_store is not None:
                    self.py_store.close()
                else:
                    ffi.wasmtime_store_delete(self.raw_store)


# the self-test -------------------------------------------------------------------------------------

_PROBE = """(module
  (func (export "swap") (param i32 i64 f32 f64) (result f64 f32 i64 i32)
    local.get 3 local.get 2 local.get 1 local.get 0)
  (func (export "div") (param i32) (result i32) i32.const 7 local.get 0 i32.div_u)
  (func (export "spin") (loop br 0)))"""
# signalling-NaN payloads and sign bits: any conversion through a host float or a wrong slot shows
_PROBE_ARGS = (0x80000001, 0x8000000000000003, 0x7FA00001, 0xFFF4000000000001)


def self_test() -> str:
    """Check the raw call paths against this wasmtime; "" when sound, else what is wrong."""
    major = version().split(".")[0]
    if major != str(TESTED_MAJOR):
        return f"wasmtime {version()} is not the tested major version {TESTED_MAJOR}"
    if os.environ.get("JEET_WASMTIME_PUBLIC_CALLS"):
        return "JEET_WASMTIME_PUBLIC_CALLS is set"
    try:
        cfg = wasmtime.Config()
        cfg.consume_fuel = True
        cfg.cranelift_opt_level = "none"
        engine = wasmtime.Engine(cfg)
        store = wasmtime.Store(engine)
        store.set_fuel(1_000_000)
        instance = wasmtime.Instance(store, wasmtime.Module(engine, _PROBE), ())
        exports = instance.exports(store)
        ctx = context(store)
        swap = RawFunc(ctx, exports["swap"], call_shape(("i32", "i64", "f32", "f64"), ("f64", "f32", "i64", "i32")),
                       store=store, raw=True)
        got, failure = swap.call(_PROBE_ARGS)
        if failure is not None or got != (want := tuple(reversed(_PROBE_ARGS))):
            return f"raw call: {_PROBE_ARGS} came back as {got or failure}"
        parts = lane_parts(store, exports["swap"], 4)
        layout("IQIQ").pack_into(parts["buf"], 0, *_PROBE_ARGS)
        err = parts["call"](parts["ctx"], parts["fref"], parts["buf"], 4, parts["tref"])
        if err or parts["trap"]:
            return "unchecked call failed"
        got = layout("QIQI").unpack_from(parts["buf"])
        if got != want:
            return f"unchecked call: {_PROBE_ARGS} came back as {got}"
        div = RawFunc(ctx, exports["div"], call_shape(("i32",), ("i32",)), store=store, raw=True)
        if div.call((2,)) != ((3,), None):
            return f"raw call: 7 / 2 gave {div.call((2,))}"
        _, failure = div.call((0,))
        if failure is None or failure.kind != "trap" or failure.code is not wasmtime.TrapCode.INTEGER_DIVISION_BY_ZERO:
            return f"division by zero classified as {failure}"
        store.set_fuel(1000)
        _, failure = RawFunc(ctx, exports["spin"], call_shape((), ()), store=store, raw=True).call(())
        if failure is None or failure.kind != "fuel":
            return f"fuel exhaustion classified as {failure}"
    except Exception as exc:  # any surprise in the internals means they cannot be trusted
        return f"{type(exc).__name__}: {exc}"
    return ""


_checked: list[str] = []  # the self-test's verdict, once it ran
_check_lock = threading.Lock()


def problem() -> str:
    """The self-test's verdict ("" when the raw call path is sound), running it on first use.

    Not at import: creating a wasmtime engine installs wasmtime's signal handlers, and a `faulthandler`
    enabled after that (pytest enables one) would turn every later trap into a fatal SIGILL. The first
    engine jeet makes asks for the verdict first, so the test runs exactly when wasmtime would start anyway."""
    if not _checked:
        with _check_lock:
            if not _checked:
                verdict = self_test()
                if verdict:
                    warnings.warn(f"jeet: wasmtime's raw call path failed its self-test ({verdict}); calls use "
                                  "wasmtime-py's public API instead (slower; signalling-NaN payloads may be quieted)",
                                  RuntimeWarning, stacklevel=3)
                _checked.append(verdict)
    return _checked[0]


def raw_calls() -> bool:
    """True when calls take the raw path (the self-test passed)."""
    return not (_checked[0] if _checked else problem())
