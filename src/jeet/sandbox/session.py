"""One store and instance that consecutive cases share: open it, call into it, reset and read its memory.

The sandbox (`jeet.sandbox.engine`) decides which module to run and when a session starts over; this
module does what one case does inside a session: arguments as raw bits, memory blocks written first,
a fresh fuel budget and epoch deadline, and the result read back with the call's memory effects.
Everything that touches wasmtime goes through `jeet.sandbox._wasmtime`.
"""

from __future__ import annotations

import ctypes
import struct
import time
from ctypes import byref
from typing import Any, Callable, Sequence

import wasmtime

from . import _wasmtime as wt
from .compiled import DRIVABLE, CompiledModule, Signature
from .effects import FOREIGN, UNCHANGED, MemoryEnv, memory_digest, start_image
from .effects import _memcmp as memcmp
from .limits import WASM_PAGE, Limits
from .result import ExecutionResult, Outcome

_WIDTH = {"i32": 32, "i64": 64, "f32": 32, "f64": 64}

_Val = wt.Val
_set_fuel = wt.set_fuel
_set_epoch_deadline = wt.set_epoch_deadline
_memory_size = wt.memory_size


class CasePlan:
    """How to call one exported function: name, value kinds, union slots, array types."""

    __slots__ = ("label", "name", "signature", "params", "shape", "arity")

    def __init__(self, name: str, signature: Signature) -> None:
        self.label = name
        self.name = name.encode("utf-8")
        self.signature = signature
        self.params = signature.params
        self.shape = wt.call_shape(signature.params, signature.results)
        self.arity = len(signature.params)


class BadCase(Exception):
    """A case (or an import) the sandbox cannot set up; it becomes an INVALID or TRAP result, never escapes."""


def plan_for(compiled: CompiledModule, function: str) -> tuple[CasePlan | None, ExecutionResult | None]:
    """The (cached) plan to call `function`, or the INVALID result that says why it cannot be called."""
    plan = compiled.plans.get(function)
    if plan is not None:
        return plan, None
    sig = compiled.functions.get(function)
    if sig is None:
        names = ", ".join(sorted(compiled.functions)) or "none"
        return None, ExecutionResult(Outcome.INVALID,
                                     message=f"no exported function {function!r} (exported functions: {names})")
    if not all(t in DRIVABLE for t in sig.params + sig.results):
        return None, ExecutionResult(Outcome.INVALID,
                                     message=f"function {function!r} has signature {sig}: only i32, i64, "
                                             "f32 and f64 values can be passed and compared")
    plan = CasePlan(function, sig)
    compiled.plans[function] = plan
    return plan, None


def arg_bits(valtype: str, value: Any) -> int:
    """A canonical value (or a Python float for f32/f64, or a signed int) as the raw bits to pass."""
    if isinstance(value, bool):
        raise BadCase(f"a {valtype} argument must be an int, not bool")
    if isinstance(value, int):
        return value & ((1 << _WIDTH[valtype]) - 1)
    if isinstance(value, float) and valtype == "f32":
        try:
            return struct.unpack("<I", struct.pack("<f", value))[0]
        except OverflowError:
            return 0x7F800000 if value > 0 else 0xFF800000
    if isinstance(value, float) and valtype == "f64":
        return struct.unpack("<Q", struct.pack("<d", value))[0]
    raise BadCase(f"cannot pass {value!r} as {valtype}")


def failure_result(failure: wt.Failure, budget: int, fuel: int, pages: int, t0: float) -> ExecutionResult:
    """The result of a call (or instantiation) that failed: out of fuel burns the whole `budget`."""
    wall = time.perf_counter() - t0
    kind = failure.kind
    if kind == "fuel":
        return ExecutionResult(Outcome.OUT_OF_FUEL, (), budget, pages, wall, failure.message)
    outcome = {"interrupt": Outcome.TIMEOUT, "resource": Outcome.OUT_OF_MEMORY}.get(kind, Outcome.TRAP)
    return ExecutionResult(outcome, (), fuel, pages, wall, failure.message)


def _stub(label: str) -> Callable:
    message = f"import {label} not provided"

    def trap(*_args: Any) -> Any:
        raise wasmtime.Trap(message)

    return trap


def _global_zero(valtype: str) -> Any:
    if valtype in ("i32", "i64"):
        return 0
    if valtype in ("f32", "f64"):
        return 0.0
    if valtype in ("funcref", "externref"):
        return None
    raise BadCase(f"cannot provide a {valtype} global")


def _imports(store: wasmtime.Store, compiled: CompiledModule) -> tuple[Any, Any]:
    """Objects for every import: functions that trap when called, memories, tables and globals of the declared type."""
    objects = []
    memory = None
    for spec in compiled.imports:
        if spec.kind == "func":
            obj = wasmtime.Func(store, spec.type, _stub(spec.label))
        elif spec.kind == "memory":
            obj = wasmtime.Memory(store, spec.type)
            memory = memory or obj
        elif spec.kind == "table":
            obj = wasmtime.Table(store, spec.type, None)
        elif spec.kind == "global":
            obj = wasmtime.Global(store, spec.type, _global_zero(spec.valtype or "?"))
        else:
            raise BadCase(f"cannot provide {spec.kind} import {spec.label}")
        objects.append(obj)
    return objects, memory


class Session:
    """The store and instance (`jeet.sandbox._wasmtime.Instances`) that consecutive calls share, and what
    the effects bookkeeping knows about its memory; `close` frees the store."""

    __slots__ = ("inst", "ctx", "memory", "func", "closed", "writes", "globals", "initial_globals", "env", "seed",
                 "dirty", "image_ok", "images", "stale", "base", "size", "used")

    def __init__(self, inst: wt.Instances) -> None:
        self.inst = inst
        self.ctx = inst.ctx
        self.memory = self.func = None
        self.closed = False
        self.writes = True
        self.globals = inst.globals  # exported mutable globals: (extern, width)
        self.initial_globals: list = []  # their values at instantiation
        # effects bookkeeping: the env and poison seed memory was last reset to, the regions that may
        # differ from that start image since (None: any), whether instantiation gave the reference image
        self.env: MemoryEnv | None = None
        self.seed = 0
        self.dirty: list | None = None
        self.image_ok: bool | None = None
        self.images: dict = {}  # the module's answers to "does a fresh instance start from env's image?"
        self.stale = False  # memory changed size: the next case needs a new instance
        self.base = self.size = 0  # memory's address and size while cases with an env run (base 0: unknown)
        self.used = False  # a call ran: memory may no longer be as instantiation left it

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.inst.close()

    @classmethod
    def open(cls, compiled: CompiledModule, plan: CasePlan, limits: Limits, ticks: int) -> "Session | ExecutionResult":
        """A store with one instance of `compiled`, ready for calls of `plan`'s function."""
        t0 = time.perf_counter()
        # A module without imports needs no Python-side Store object (`Instances` keeps the raw one).
        inst = wt.Instances.new(compiled.engine, limits, limits.fuel, ticks, bool(compiled.imports))
        session = cls(inst)
        try:
            objects: list = []
            imported_memory = None
            if compiled.imports:
                try:
                    objects, imported_memory = _imports(inst.py_store, compiled)
                except BadCase as exc:
                    session.close()
                    return ExecutionResult(Outcome.TRAP, wall_s=time.perf_counter() - t0, message=str(exc))
                except wasmtime.WasmtimeError as exc:
                    session.close()
                    return failure_result(wt.from_error(str(exc)), 0, 0, 0, t0)

            failure = inst.instantiate(compiled.module, objects)
            if failure is not None:
                session.close()
                return failure_result(failure, limits.fuel, 0, 0, t0)

            if compiled.memory_export is not None:
                item = inst.export(compiled.memory_name, wt.EXTERN_MEMORY)
                if item is not None:
                    inst.add_memory(item)
            elif imported_memory is not None:
                inst.add_memory(imported_memory)

            func = inst.export(plan.name, wt.EXTERN_FUNC)
            if func is None:
                session.close()
                return ExecutionResult(Outcome.INVALID, message=f"export {plan.label!r} is not a function")
            for name, valtype in compiled.mutable_globals:
                item = inst.export(name.encode("utf-8"), wt.EXTERN_GLOBAL)
                if item is not None:
                    session.initial_globals.append(inst.add_global(item, valtype))
            session.func = inst.entry(func, plan.shape)
        except BaseException:
            session.close()
            raise
        session.writes = compiled.writes_memory
        session.images = compiled.images
        session.memory = inst.memories[0] if inst.memories else None
        return session

    def image(self) -> bytes:
        """The memory as it stands (b"": the instance has none)."""
        if self.memory is None:
            return b""
        base, size = wt.memory_span(self.ctx, self.memory)
        return ctypes.string_at(base, size)

    def call(self, plan: CasePlan, case: Any, limits: Limits, ticks: int) -> ExecutionResult:
        """One call: fresh fuel and deadline, memory blocks written first."""
        args = case.args
        if len(args) != plan.arity:
            return ExecutionResult(Outcome.INVALID, message=f"{plan.label} takes {plan.arity} arguments "
                                                            f"{plan.signature}, the case gives {len(args)}")
        try:
            bits = [arg_bits(t, a) for t, a in zip(plan.params, args)]
        except BadCase as exc:
            return ExecutionResult(Outcome.INVALID, message=str(exc))
        t0 = time.perf_counter()
        ctx, memory = self.ctx, self.memory
        _set_fuel(ctx, limits.fuel)
        _set_epoch_deadline(ctx, ticks)
        env = getattr(case, "env", None)
        start = None
        if env is not None:
            start = self._reset(env, getattr(case, "poison", 0))
            if case.memory and memory is not None:
                base, size = self.base, self.size
                for offset, data in case.memory:
                    if offset < 0 or offset + len(data) > size:
                        return ExecutionResult(Outcome.TRAP, wall_s=time.perf_counter() - t0,
                                               message=f"memory block [{offset}, {offset + len(data)}) lies "
                                                       f"outside the {size}-byte memory")
                    ctypes.memmove(base + offset, data, len(data))
            elif case.memory:
                return ExecutionResult(Outcome.TRAP, wall_s=time.perf_counter() - t0,
                                       message="the case writes memory but the module exports no memory")
        else:
            self.dirty = None  # memory is no longer known to match any start image
            self.base = 0
        if case.memory and env is None:
            problem = self.inst.write(memory, case.memory) if memory is not None else \
                "the case writes memory but the module exports no memory"
            if problem:
                return ExecutionResult(Outcome.TRAP, wall_s=time.perf_counter() - t0, message=problem)
        values, failure = self.func.call(bits)
        fuel = limits.fuel - self.inst.fuel_left()
        pages = _memory_size(ctx, byref(memory)) if memory is not None else 0
        if failure is not None:
            return failure_result(failure, limits.fuel, fuel, pages, t0)
        readback = getattr(case, "expect_memory", ())
        read = ((self.inst.read(memory, readback) if memory is not None else tuple((o, b"") for o, _ in readback))
                if readback else ())
        digest = None
        if env is not None:
            digest = self._effects(env, start, case.memory, pages * WASM_PAGE)
        globals_ = self._read_globals() if self.globals else ()
        return ExecutionResult(Outcome.OK, values, fuel, pages, time.perf_counter() - t0, "", read,
                               digest, globals_)

    def _reset(self, env: MemoryEnv, seed: int) -> Any:
        """Put memory (and exported mutable globals) in the state a case with `env` and `seed` starts from.

        Only the regions that may have changed since the last reset to the same start image are copied
        back; the first reset in a session also checks that instantiation gave the reference image.
        """
        start = start_image(env, seed)
        ctx, memory = self.ctx, self.memory
        for (item, _), value in zip(self.globals, self.initial_globals):
            wt.global_restore(ctx, item, value)
        if memory is None:
            if self.image_ok is None:
                self.image_ok = env.size == 0
            return start
        if not self.base:
            self.base, self.size = wt.memory_span(ctx, memory)
        base, size = self.base, self.size
        if self.image_ok is None:
            known = self.images.get(env) if not self.used else None
            if known is None:
                known = size == env.size and memcmp(base, env.image, size) == 0
                if not self.used:
                    self.images[env] = known
            self.image_ok = known
            if self.image_ok:  # a fresh instance is the zeroed start image already
                self.env, self.seed, self.dirty = env, 0, []
        n = min(size, env.size)
        if self.env == env and self.seed == seed and self.dirty is not None:
            src = ctypes.addressof(start)
            for lo, hi in self.dirty:
                if lo < min(hi, n):
                    ctypes.memmove(base + lo, src + lo, min(hi, n) - lo)
        elif n:
            ctypes.memmove(base, start, n)
        self.env, self.seed = env, seed
        return start

    def _effects(self, env: MemoryEnv, start: Any, blocks: Sequence, size: int) -> bytes:
        """The call's memory digest (see `jeet.sandbox.effects`); notes which regions now differ from the start."""
        ctx, memory = self.ctx, self.memory
        if memory is None:
            self.dirty = []
            return UNCHANGED if self.image_ok else FOREIGN
        written = [(off, off + len(data)) for off, data in blocks if data]
        if size != self.size:
            self.stale = True
        if not self.image_ok:
            self.dirty = None
            return FOREIGN
        if not self.writes:  # nothing can have changed but the blocks the case wrote
            self.dirty = written
            return UNCHANGED
        if not all(type(data) is bytes for _, data in blocks):
            blocks = tuple((off, bytes(data)) for off, data in blocks)
        base = self.base if not self.stale else wt.memory_span(ctx, memory)[0]
        digest, changed = memory_digest(env, base, size, start, blocks)
        self.dirty = None if changed is None else changed + written + ([env.scratch] if env.scratch else [])
        return digest

    def _read_globals(self) -> tuple[int, ...]:
        cell = _Val()
        return tuple(wt.global_bits(self.ctx, item, width, cell) for item, width in self.globals)
