"""The sandbox: compile untrusted candidates once, run their cases under limits.

Consecutive cases share one `wasmtime.Store` and instance, as a host's repeated calls do
(a fresh one after any call that does not return normally, or for every case on request);
each call gets the full fuel budget and an epoch deadline, under the store limits (memory
bytes, table elements, instances, tables, memories). A daemon thread advances the engine epoch every
`tick_s` seconds while the sandbox is open, so a case that outlives its deadline traps
with an interrupt even when its fuel budget is huge.

This module compiles (with the in-memory and on-disk caches) and decides when a session starts over;
`jeet.sandbox.session` runs one case in a session. Calls go through `jeet.sandbox._wasmtime` (wasmtime's
C API, the only place that knows wasmtime-py's internals): arguments and results travel as raw bits, so
float bit patterns (NaN payloads included) are exact and the per-case overhead stays around 25 microseconds.

Imports: a module that imports functions gets host stubs that trap when called
("import M.N not provided"); imported memories, tables and globals are created in the
case's store with exactly the declared type (memories and tables at their minimum size,
globals zero / null), and count against the store limits like defined ones. v128 globals
cannot be provided: such a module yields TRAP results.
"""

from __future__ import annotations

import functools
import math
import os
import platform
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import wasmtime

from . import _wasmtime as wt
from ._wasmtime import POOL_MARKER as _POOL_MARKER, wasm20_features  # noqa: F401 (re-exported)
from ._wasmtime import one_line as _one_line
from .cache import ModuleCache
from ._scan import ScanError, may_use_sized_ops, may_write_memory, scan
from .compiled import CompiledModule, Signature
from ..address import content_address
from ..errors import SandboxError
from .limits import Limits
from .result import ExecutionResult, Outcome
from .session import Session, plan_for

COMPILERS = ("winch", "cranelift")
OPT_LEVELS = ("none", "speed", "speed_and_size")
_CACHE_FORMAT = "v1"  # bump when the engine configuration below changes


@dataclass(frozen=True, slots=True)
class SandboxStats:
    """Counters since the sandbox was opened (compile_s covers fresh compiles and disk loads)."""

    compiled: int
    memory_hits: int
    disk_hits: int
    invalid: int
    fallbacks: int
    compile_s: float
    cases: int
    case_s: float


class _Call:
    """The minimal case shape `Sandbox.call` builds (duck-typed like `jeet.oracle.Case`)."""

    __slots__ = ("args", "memory", "expect_memory", "trap")

    def __init__(self, args: Sequence, memory: Sequence) -> None:
        self.args = tuple(args)
        self.memory = tuple(memory)
        self.expect_memory = ()
        self.trap = False



def _engine_config(compiler: str, opt_level: str, limits: Limits, pool_slots: int) -> wasmtime.Config:
    # Cranelift compiles the functions (or, under Winch, the host-call trampolines): the
    # single-pass register allocator compiles faster, and candidates run only a few times.
    return wt.engine_config(compiler, opt_level, limits.max_wasm_stack, limits=limits, pool_slots=pool_slots,
                            single_pass=True)


def _restart_in_child(ref: "weakref.ref[Sandbox]") -> None:
    """A forked child inherits the sandbox but not its ticker thread: start a new one."""
    sandbox = ref()
    if sandbox is not None and not sandbox._closed:
        sandbox._finalizer.detach()
        sandbox._start_ticker()



def _compile_failure(message: str) -> ExecutionResult:
    """INVALID, unless the module is valid but its tables or memories exceed the pooled limits."""
    outcome = Outcome.OUT_OF_MEMORY if _POOL_MARKER in message else Outcome.INVALID
    return ExecutionResult(outcome, message=_one_line(message))


def _default_pass(case: Any, result: ExecutionResult) -> bool:
    return result.outcome is (Outcome.TRAP if getattr(case, "trap", False) else Outcome.OK)


class Sandbox:
    """Runs untrusted wasm under strict limits; every outcome comes back as an `ExecutionResult`.

    `compiler` is "winch" (baseline compiler, about twice as fast to compile; default where
    wasmtime supports it) or "cranelift". A module Winch cannot compile (it lacks
    externref and a few other features) is compiled by Cranelift instead. Fuel is the
    same under both for ordinary code, but Cranelift also charges per byte, element or
    page for memory.fill/copy/init, table.fill/copy/init/grow and memory.grow, which
    Winch charges as one instruction. With `exact_bulk_fuel` (the default) modules that
    may contain those instructions are compiled by Cranelift, so fuel never depends on
    the compiler; turn it off to trade that for compile speed. `opt_level` applies to
    Cranelift. `cache_dir` enables the on-disk compile cache.
    `pool_slots` > 0 preallocates that many instance slots (wasmtime's pooling allocator),
    which bounds how many cases may run at once across threads; 0 allocates on demand.
    Per-run `limits` may tighten, but not raise, the memory and table limits of a pooled
    sandbox.
    """

    def __init__(self, limits: Limits | None = None, *, compiler: str = "winch", opt_level: str = "none",
                 cache_dir: str | os.PathLike | None = None, cache_size: int = 1024,
                 tick_s: float = 0.005, pool_slots: int = 16, exact_bulk_fuel: bool = True) -> None:
        self.limits = limits if limits is not None else Limits()
        if not isinstance(self.limits, Limits):
            raise SandboxError(f"limits must be a Limits, got {type(limits).__name__}")
        if compiler not in COMPILERS:
            raise SandboxError(f"compiler must be one of {COMPILERS}, got {compiler!r}")
        if opt_level not in OPT_LEVELS:
            raise SandboxError(f"opt_level must be one of {OPT_LEVELS}, got {opt_level!r}")
        if not 0.0005 <= tick_s <= 0.1:
            raise SandboxError(f"tick_s must be between 0.5 ms and 100 ms, got {tick_s!r}")
        if compiler == "winch" and not wt.winch_available():
            compiler = "cranelift"
        self.compiler = compiler
        self.exact_bulk_fuel = bool(exact_bulk_fuel)
        self.opt_level = opt_level
        self.tick_s = tick_s
        if not isinstance(pool_slots, int) or pool_slots < 0:
            raise SandboxError(f"pool_slots must be a non-negative int, got {pool_slots!r}")
        self.pool_slots = pool_slots
        self._stack = self.limits.max_wasm_stack
        wt.problem()  # the raw call path's self-test runs before the first engine (warns once if it fails)
        self._engine = wasmtime.Engine(_engine_config(compiler, opt_level, self.limits, pool_slots))
        self._fallback: wasmtime.Engine | None = None
        self._engine_lock = threading.Lock()
        self._engines = [self._engine]
        self._cache = ModuleCache(cache_size, cache_dir)
        self._tag_base = (f"wasmtime-{wt.version()}-{_CACHE_FORMAT}-{platform.machine()}-{opt_level}"
                          f"-stack{self._stack}-pool{int(pool_slots > 0)}-mem{self.limits.memory_bytes}")
        self._counts = {"compiled": 0, "memory_hits": 0, "disk_hits": 0, "invalid": 0, "fallbacks": 0, "cases": 0}
        self._compile_s = 0.0
        self._case_s = 0.0
        self._closed = False
        self._start_ticker()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=functools.partial(_restart_in_child, weakref.ref(self)))

    def _start_ticker(self) -> None:
        stop, self._thread = wt.start_ticker(self._engines, self.tick_s, "jeet-sandbox-epoch")
        self._finalizer = weakref.finalize(self, wt.stop_thread, stop, self._thread)

    # lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the epoch ticker and drop the in-memory cache; the sandbox cannot be used afterwards."""
        if not self._closed:
            self._closed = True
            self._finalizer()
            self._cache.clear()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError("the sandbox is closed")

    @property
    def stats(self) -> SandboxStats:
        c = self._counts
        return SandboxStats(c["compiled"], c["memory_hits"], c["disk_hits"], c["invalid"], c["fallbacks"],
                            self._compile_s, c["cases"], self._case_s)

    @property
    def cache(self) -> ModuleCache:
        return self._cache

    # compilation -------------------------------------------------------------------------

    def _tag(self, compiler: str) -> str:
        return f"{self._tag_base}-{compiler}"

    def _fallback_engine(self) -> wasmtime.Engine:
        with self._engine_lock:
            if self._fallback is None:
                self._fallback = wasmtime.Engine(
                    _engine_config("cranelift", self.opt_level, self.limits, self.pool_slots))
                self._engines.append(self._fallback)
            return self._fallback

    def compile(self, wasm: bytes | bytearray | memoryview | CompiledModule) -> CompiledModule | ExecutionResult:
        """Compile (or fetch from cache) a module; an INVALID result carries wasmtime's reason."""
        self._check_open()
        if isinstance(wasm, CompiledModule):
            if wasm.owner != id(self) or wasm.engine not in self._engines:
                raise SandboxError("this CompiledModule belongs to another Sandbox")
            return wasm
        if not isinstance(wasm, (bytes, bytearray, memoryview)):
            raise SandboxError(f"wasm must be bytes, got {type(wasm).__name__}")
        wasm = bytes(wasm)
        sha = content_address(wasm)
        entry = self._cache.get(sha)
        if entry is not None:
            self._counts["memory_hits"] += 1
            return entry
        t0 = time.perf_counter()
        if not wasm.startswith(b"\0asm"):
            # wasmtime would read anything else as WebAssembly text; candidates are binaries.
            entry = ExecutionResult(Outcome.INVALID, message="not a WebAssembly binary (missing \\0asm magic)")
            self._counts["invalid"] += 1
            self._cache.put(sha, entry)
            return entry
        try:
            entry = self._load(wasm, sha, t0)
            if entry is None:
                entry = self._compile_fresh(wasm, sha, t0)
        except Exception as exc:  # a module must never take the caller down
            entry = ExecutionResult(Outcome.INVALID, message=f"compile failed: {type(exc).__name__}: {exc}")
        self._compile_s += time.perf_counter() - t0
        if isinstance(entry, ExecutionResult):
            self._counts["invalid"] += 1
        self._cache.put(sha, entry)
        return entry

    def _load(self, wasm: bytes, sha: str, t0: float) -> CompiledModule | ExecutionResult | None:
        if self._cache.directory is None:
            return None
        candidates = [(self.compiler, self._engine)]
        if self.compiler == "winch":
            candidates.append(("cranelift", None))
        for compiler, engine in candidates:
            tag = self._tag(compiler)
            path = self._cache.has_serialized(tag, sha)
            if path is None:
                continue
            engine = engine or self._fallback_engine()
            try:
                module = wasmtime.Module.deserialize_file(engine, str(path))
            except Exception:
                self._cache.discard(tag, sha)
                continue
            self._counts["disk_hits"] += 1
            return self._wrap(wasm, sha, module, engine, compiler, t0)
        return None

    def _compile_fresh(self, wasm: bytes, sha: str, t0: float) -> CompiledModule | ExecutionResult:
        compiler, engine = self.compiler, self._engine
        if compiler == "winch" and self.exact_bulk_fuel:
            try:
                sized = may_use_sized_ops(wasm)
            except (ScanError, IndexError):
                sized = False  # malformed: let wasmtime say why
            if sized:
                compiler, engine = "cranelift", self._fallback_engine()
                self._counts["fallbacks"] += 1
        try:
            module = wasmtime.Module(engine, wasm)
        except wasmtime.WasmtimeError as exc:
            if compiler != "winch" or _POOL_MARKER in str(exc):
                return _compile_failure(str(exc))
            # Winch lacks a few features; Cranelift is the authority on validity.
            compiler, engine = "cranelift", self._fallback_engine()
            try:
                module = wasmtime.Module(engine, wasm)
            except wasmtime.WasmtimeError as exc2:
                return _compile_failure(str(exc2))
            self._counts["fallbacks"] += 1
        self._counts["compiled"] += 1
        compiled = self._wrap(wasm, sha, module, engine, compiler, t0)
        if isinstance(compiled, CompiledModule) and self._cache.directory is not None:
            try:
                self._cache.save(self._tag(compiler), sha, bytes(module.serialize()))
            except wasmtime.WasmtimeError:
                self._cache.disk_errors += 1
        return compiled

    def _wrap(self, wasm: bytes, sha: str, module: wasmtime.Module, engine: wasmtime.Engine, compiler: str,
              t0: float) -> CompiledModule | ExecutionResult:
        try:
            scanned = scan(wasm)
        except (ScanError, IndexError, UnicodeDecodeError) as exc:
            return ExecutionResult(Outcome.INVALID, message=f"cannot read the module's signatures: {exc}")
        return CompiledModule(sha, module, engine, scanned, compiler, time.perf_counter() - t0, id(self),
                              may_write_memory(wasm))

    def signature(self, wasm: bytes | CompiledModule, function: str) -> Signature | None:
        """The signature of an exported function, or None (also when the module is invalid)."""
        compiled = self.compile(wasm)
        return compiled.signature(function) if isinstance(compiled, CompiledModule) else None

    # execution ---------------------------------------------------------------------------

    def initial_memory(self, wasm: bytes | CompiledModule, function: str) -> bytes:
        """The exported (else imported) memory of a fresh instance, as instantiation leaves it (b"": none).

        The reference a `MemoryEnv` is built from; raises SandboxError when the module cannot be instantiated.
        """
        self._check_open()
        compiled = self.compile(wasm)
        if isinstance(compiled, ExecutionResult):
            raise SandboxError(f"cannot instantiate: {compiled.message}")
        plan, problem = plan_for(compiled, function)
        if problem is not None:
            raise SandboxError(problem.message)
        opened = Session.open(compiled, plan, self.limits, max(1, math.ceil(self.limits.deadline_s / self.tick_s)) + 1)
        if isinstance(opened, ExecutionResult):
            raise SandboxError(f"cannot instantiate: {opened.message}")
        try:
            return opened.image()
        finally:
            opened.close()

    def call(self, wasm: bytes | CompiledModule, function: str, args: Sequence = (),
             memory: Sequence[tuple[int, bytes]] = (), *, limits: Limits | None = None) -> ExecutionResult:
        """Run one call; args are canonical values (signed ints and Python floats are accepted too)."""
        return self.run(wasm, function, [_Call(args, memory)], limits=limits)[0]

    def run(self, wasm: bytes | CompiledModule, function: str, cases: Sequence, *,
            stop_at_first_failure: bool = False,
            oracle_check: Callable[[Any, ExecutionResult], bool] | None = None,
            limits: Limits | None = None, fresh_instance_per_case: bool = False) -> list[ExecutionResult]:
        """Run `function` once per case; one result per case run.

        Consecutive cases share one instance, as a host that calls the function repeatedly
        would: a variant that only works on a freshly zeroed instance (say, one that dropped
        the initialisation of a stack slot) fails from the second case on. Each call gets the
        full fuel and deadline; after any call that does not return normally the next case
        starts on a fresh instance. `fresh_instance_per_case` isolates every case instead.

        With `stop_at_first_failure` the run ends after the first case that fails:
        `oracle_check(case, result)` is False, or, without a check, the outcome is not TRAP
        for a trap case / OK otherwise. An invalid module or an uncallable function gives
        INVALID results.
        """
        self._check_open()
        limits = self._resolve_limits(limits)
        cases = list(cases)
        compiled = self.compile(wasm)
        if isinstance(compiled, ExecutionResult):
            return [compiled] * (min(1, len(cases)) if stop_at_first_failure else len(cases))
        plan, problem = plan_for(compiled, function)
        if problem is not None:
            return [problem] * (min(1, len(cases)) if stop_at_first_failure else len(cases))
        ticks = max(1, math.ceil(limits.deadline_s / self.tick_s)) + 1
        out: list[ExecutionResult] = []
        t_all = time.perf_counter()
        session: Session | None = None
        try:
            for case in cases:
                try:
                    if session is not None and session.used and session.image_ok is None \
                            and getattr(case, "env", None) is not None:
                        session.close()  # the first case with an env needs memory as instantiation left it
                        session = None
                    if session is None:
                        opened = Session.open(compiled, plan, limits, ticks)
                        if isinstance(opened, ExecutionResult):
                            result = opened
                        else:
                            session = opened
                    if session is not None:
                        result = session.call(plan, case, limits, ticks)
                        session.used = True
                        if fresh_instance_per_case or result.outcome is not Outcome.OK or session.stale:
                            session.close()  # after a trap the instance's state is unknown: start over
                            session = None
                except Exception as exc:  # the boundary: nothing a candidate does may escape
                    result = ExecutionResult(Outcome.TRAP, message=f"sandbox: {type(exc).__name__}: {exc}")
                    if session is not None:
                        session.close()
                        session = None
                out.append(result)
                if stop_at_first_failure:
                    passed = oracle_check(case, result) if oracle_check is not None else _default_pass(case, result)
                    if not passed:
                        break
        finally:
            if session is not None:
                session.close()
        self._counts["cases"] += len(out)
        self._case_s += time.perf_counter() - t_all
        return out

    def _resolve_limits(self, limits: Limits | None) -> Limits:
        if limits is None:
            return self.limits
        if not isinstance(limits, Limits):
            raise SandboxError(f"limits must be a Limits, got {type(limits).__name__}")
        if limits.max_wasm_stack != self._stack:
            raise SandboxError("max_wasm_stack is fixed per Sandbox; build another Sandbox to change it")
        if self.pool_slots:
            base = self.limits
            for name in ("memory_bytes", "table_elements", "memories", "tables"):
                if getattr(limits, name) > getattr(base, name):
                    raise SandboxError(f"limits.{name} cannot exceed the Sandbox's own ({getattr(base, name)}): "
                                       "its allocation pool is sized for them")
        return limits

