"""Run a linked pair: the caller's imports are satisfied by the callee's exports through a
`wasmtime.Linker`, both instances live in one `wasmtime.Store`, and that store carries the limits.

One store means one fuel tank: every instruction of the caller and of the callee it calls is
charged to the same call, so `ExecutionResult.fuel` is the pair's cost. The store limits cap each
linear memory at `Limits.memory_bytes` and allow (at least) the two instances, memories and tables
a pair needs; an engine epoch ticks every `tick_s` seconds so a call past `Limits.deadline_s`
traps with an interrupt whatever its fuel.

`LinkedSandbox` offers the part of `jeet.sandbox.Sandbox`'s interface the oracle uses — `limits`,
`compile`, `signature`, `run`, `call` — with a `Pair` where the sandbox takes module bytes, so
`jeet.oracle` builds and checks oracles for pairs unchanged. The semantics follow the sandbox:
consecutive cases share one store and pair of instances (a fresh one after any call that does not
return normally), each call gets the full fuel and deadline, memory blocks of a case are written
into the caller's exported memory (and read back from it), and `peak_pages` is the size of the
caller's and the callee's exported memories together. Modules compile with Cranelift, which
charges bulk-memory instructions per byte as the sandbox's exact-fuel path does.
"""

from __future__ import annotations

import math
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import wasmtime

from ..oracle.values import MASK, canonical
from ..sandbox import ExecutionResult, Limits, Outcome, Signature
from ..sandbox import _wasmtime as wt
from ..sandbox.compiled import DRIVABLE
from ..sandbox.session import failure_result
from ..errors import SymbiosisError
from .interface import Interface, LinkPlan, check_link
from .pair import Pair

def pair_limits(limits: Limits) -> Limits:
    """`limits` with room for two instances, memories and tables: a pair needs one of each per module."""
    return replace(limits, instances=max(2, limits.instances), memories=max(2, limits.memories),
                   tables=max(2, limits.tables))


class LinkedPair:
    """A pair whose modules are compiled and whose link is checked, ready to instantiate.

    `functions` are the caller's exported functions (the pair's entry points), `plan` says how the
    callee is linked in. Bound to the `LinkedSandbox` that compiled it.
    """

    __slots__ = ("pair", "key", "caller", "callee", "caller_iface", "callee_iface", "plan", "functions", "owner")

    def __init__(self, pair: Pair, caller: wasmtime.Module, callee: wasmtime.Module, caller_iface: Interface,
                 callee_iface: Interface, plan: LinkPlan, owner: int) -> None:
        self.pair = pair
        self.key = pair.key
        self.caller = caller
        self.callee = callee
        self.caller_iface = caller_iface
        self.callee_iface = callee_iface
        self.plan = plan
        self.functions: dict[str, Signature] = dict(caller_iface.functions)
        self.owner = owner

    def signature(self, function: str) -> Signature | None:
        """The caller's exported function's signature, or None."""
        return self.functions.get(function)


@dataclass(frozen=True, slots=True)
class _Call:
    args: tuple
    memory: tuple = ()
    expect_memory: tuple = ()
    trap: bool = False


class _Session:
    """One store with the callee and the caller instantiated and linked (`jeet.sandbox._wasmtime.Instances`,
    the object the sandbox holds too), the entry point's raw call, and the caller's memory cases use."""

    __slots__ = ("store", "inst", "func", "caller_memory", "params")  # store: keeps the instances alive

    def __init__(self, store: wasmtime.Store, func: wasmtime.Func, memories: list, caller_memory: Any,
                 signature: Signature) -> None:
        self.store = store
        self.inst = wt.Instances.adopt(store)
        for memory in memories:
            self.inst.add_memory(memory)
        self.func = self.inst.entry(func, wt.call_shape(signature.params, signature.results))
        self.caller_memory = self.inst.memories[0] if caller_memory is not None else None  # the caller's comes first
        self.params = signature.params


class LinkedSandbox:
    """Compile pairs once (by content address), run them under `limits` (see `pair_limits`)."""

    def __init__(self, limits: Limits | None = None, *, tick_s: float = 0.005, cache_size: int = 1024) -> None:
        base = limits if limits is not None else Limits()
        if not isinstance(base, Limits):
            raise SymbiosisError(f"limits must be a jeet.sandbox.Limits, got {type(limits).__name__}")
        if not 0.0005 <= tick_s <= 0.1:
            raise SymbiosisError(f"tick_s must be between 0.5 ms and 100 ms, got {tick_s!r}")
        self.limits = pair_limits(base)
        self.tick_s = tick_s
        wt.problem()  # the raw call path's self-test runs before the first engine (warns once if it fails)
        self._engine = wasmtime.Engine(wt.engine_config("cranelift", "none", self.limits.max_wasm_stack))
        self._modules: OrderedDict[str, tuple[wasmtime.Module, Interface] | str] = OrderedDict()
        self._pairs: OrderedDict[tuple[str, str], LinkedPair | ExecutionResult] = OrderedDict()
        self._cache_size = cache_size
        self._closed = False
        stop, self._thread = wt.start_ticker([self._engine], tick_s, "jeet-symbiosis-epoch")
        self._finalizer = weakref.finalize(self, stop.set)

    # lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the epoch ticker and drop the caches; the sandbox cannot be used afterwards."""
        if not self._closed:
            self._closed = True
            self._finalizer()
            self._thread.join(timeout=1.0)
            self._modules.clear()
            self._pairs.clear()

    def __enter__(self) -> "LinkedSandbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # compilation -----------------------------------------------------------------------

    def compile(self, pair: Pair | LinkedPair) -> LinkedPair | ExecutionResult:
        """Compile both modules (or fetch them) and check the link; an INVALID result says why not."""
        if self._closed:
            raise SymbiosisError("the linked sandbox is closed")
        if isinstance(pair, LinkedPair):
            if pair.owner != id(self):
                raise SymbiosisError("this LinkedPair belongs to another LinkedSandbox")
            return pair
        if not isinstance(pair, Pair):
            raise SymbiosisError(f"expected a Pair, got {type(pair).__name__}")
        key = pair.key
        hit = self._pairs.get(key)
        if hit is not None:
            self._pairs.move_to_end(key)
            return hit
        entry = self._link(pair)
        self._pairs[key] = entry
        if len(self._pairs) > self._cache_size:
            self._pairs.popitem(last=False)
        return entry

    def link(self, pair: Pair) -> LinkedPair:
        """Like `compile`, but a pair that cannot be linked raises SymbiosisError with the reason."""
        linked = self.compile(pair)
        if isinstance(linked, ExecutionResult):
            raise SymbiosisError(linked.message)
        return linked

    def _link(self, pair: Pair) -> LinkedPair | ExecutionResult:
        try:
            caller, caller_iface = self._module(pair.caller, pair.caller_sha256, "caller")
            callee, callee_iface = self._module(pair.callee, pair.callee_sha256, "callee")
            plan = check_link(caller_iface, callee_iface)
        except SymbiosisError as exc:
            return ExecutionResult(Outcome.INVALID, message=str(exc))
        return LinkedPair(pair, caller, callee, caller_iface, callee_iface, plan, id(self))

    def _module(self, wasm: bytes, sha: str, role: str) -> tuple[wasmtime.Module, Interface]:
        hit = self._modules.get(sha)
        if hit is None:
            hit = self._compile_module(wasm, role)
            self._modules[sha] = hit
            if len(self._modules) > self._cache_size:
                self._modules.popitem(last=False)
        else:
            self._modules.move_to_end(sha)
        if isinstance(hit, str):
            raise SymbiosisError(hit.replace("{role}", role))
        return hit

    def _compile_module(self, wasm: bytes, role: str) -> tuple[wasmtime.Module, Interface] | str:
        # A failure is cached as a message template: the same bytes may come back in the other role.
        if not wasm.startswith(b"\0asm"):
            return "{role}: not a WebAssembly binary (missing \\0asm magic)"
        try:
            iface = Interface.of(wasm, "{role}")
        except SymbiosisError as exc:
            return str(exc)
        try:
            module = wasmtime.Module(self._engine, wasm)
        except Exception as exc:  # wasmtime's reason for an invalid module
            return "{role}: invalid module: " + wt.one_line(str(exc))
        return module, iface

    def signature(self, pair: Pair | LinkedPair, function: str) -> Signature | None:
        """The signature of the caller's exported `function`, or None (also when the pair cannot link)."""
        linked = self.compile(pair)
        return linked.signature(function) if isinstance(linked, LinkedPair) else None

    # execution -------------------------------------------------------------------------

    def call(self, pair: Pair | LinkedPair, function: str, args: Sequence = (),
             memory: Sequence[tuple[int, bytes]] = (), *, limits: Limits | None = None) -> ExecutionResult:
        """Run one call of the caller's `function` with the callee linked in."""
        return self.run(pair, function, [_Call(tuple(args), tuple(memory))], limits=limits)[0]

    def total_fuel(self, pair: Pair | LinkedPair, function: str, cases: Sequence) -> int:
        """The fuel the pair burns over `cases` (caller and callee together, traps included)."""
        return sum(r.fuel for r in self.run(pair, function, cases))

    def run(self, pair: Pair | LinkedPair, function: str, cases: Sequence, *,
            stop_at_first_failure: bool = False,
            oracle_check: Callable[[Any, ExecutionResult], bool] | None = None,
            limits: Limits | None = None, fresh_instance_per_case: bool = False) -> list[ExecutionResult]:
        """Run the caller's `function` once per case; one result per case run (see `jeet.sandbox.Sandbox.run`)."""
        limits = self.limits if limits is None else self._resolve(limits)
        cases = list(cases)
        linked = self.compile(pair)
        if isinstance(linked, ExecutionResult):
            return [linked] * (min(1, len(cases)) if stop_at_first_failure else len(cases))
        sig = linked.signature(function)
        problem = _uncallable(linked, function, sig)
        if problem is not None:
            return [problem] * (min(1, len(cases)) if stop_at_first_failure else len(cases))
        ticks = max(1, math.ceil(limits.deadline_s / self.tick_s)) + 1
        out: list[ExecutionResult] = []
        session: _Session | None = None
        for case in cases:
            try:
                if session is None:
                    opened = self._open(linked, function, sig, limits, ticks)  # type: ignore[arg-type]
                    if isinstance(opened, ExecutionResult):
                        result = opened
                    else:
                        session = opened
                if session is not None:
                    result = self._call(session, case, limits, ticks)
                    if fresh_instance_per_case or result.outcome is not Outcome.OK:
                        session = None  # after a trap the instances' state is unknown: start over
            except Exception as exc:  # the boundary: nothing a pair does may escape
                result = ExecutionResult(Outcome.TRAP, message=f"linked sandbox: {type(exc).__name__}: {exc}")
                session = None
            out.append(result)
            if stop_at_first_failure:
                passed = oracle_check(case, result) if oracle_check is not None else \
                    result.outcome is (Outcome.TRAP if getattr(case, "trap", False) else Outcome.OK)
                if not passed:
                    break
        return out

    def _resolve(self, limits: Limits) -> Limits:
        if not isinstance(limits, Limits):
            raise SymbiosisError(f"limits must be a jeet.sandbox.Limits, got {type(limits).__name__}")
        if limits.max_wasm_stack != self.limits.max_wasm_stack:
            raise SymbiosisError("max_wasm_stack is fixed per LinkedSandbox; build another one to change it")
        return pair_limits(limits)

    def _open(self, linked: LinkedPair, function: str, sig: Signature, limits: Limits,
              ticks: int) -> _Session | ExecutionResult:
        t0 = time.perf_counter()
        store = wasmtime.Store(self._engine)
        store.set_limits(memory_size=limits.memory_bytes, table_elements=limits.table_elements,
                         instances=limits.instances, tables=limits.tables, memories=limits.memories)
        store.set_fuel(limits.fuel)
        store.set_epoch_deadline(ticks)
        try:
            callee = wasmtime.Instance(store, linked.callee, [])
            linker = wasmtime.Linker(self._engine)
            for namespace in linked.plan.namespaces:
                linker.define_instance(store, namespace, callee)
            caller = linker.instantiate(store, linked.caller)
        except wasmtime.Trap as exc:  # a start function that traps, or runs out of fuel or time
            return failure_result(wt.from_trap(exc), limits.fuel, limits.fuel - store.get_fuel(), 0, t0)
        except wasmtime.WasmtimeError as exc:
            return failure_result(wt.from_error(str(exc)), 0, 0, 0, t0)
        caller_exports = caller.exports(store)
        func = caller_exports[function]
        if not isinstance(func, wasmtime.Func):
            return ExecutionResult(Outcome.INVALID, message=f"export {function!r} is not a function")
        memories = []
        caller_memory = None
        if linked.caller_iface.memory_export is not None:
            caller_memory = caller_exports[linked.caller_iface.memory_export]
            memories.append(caller_memory)
        if linked.callee_iface.memory_export is not None:
            callee_memory = callee.exports(store)[linked.callee_iface.memory_export]
            if caller_memory is None or callee_memory is not caller_memory:
                memories.append(callee_memory)
        return _Session(store, func, memories, caller_memory, sig)

    def _call(self, session: _Session, case: Any, limits: Limits, ticks: int) -> ExecutionResult:
        args = tuple(case.args)
        if len(args) != len(session.params):
            return ExecutionResult(Outcome.INVALID, message=f"the function takes {len(session.params)} arguments, "
                                                            f"the case gives {len(args)}")
        try:
            bits = [canonical(t, a) & MASK[t] for t, a in zip(session.params, args)]
        except Exception as exc:
            return ExecutionResult(Outcome.INVALID, message=f"bad argument: {exc}")
        t0 = time.perf_counter()
        session.inst.refuel(limits.fuel, ticks)
        if case.memory:
            problem = session.inst.write(session.caller_memory, case.memory) if session.caller_memory is not None \
                else "the case writes memory but the caller exports no memory"
            if problem:
                return ExecutionResult(Outcome.TRAP, wall_s=time.perf_counter() - t0, message=problem)
        got, failure = session.func.call(bits)
        fuel = limits.fuel - session.inst.fuel_left()
        if failure is not None:
            return failure_result(failure, limits.fuel, fuel, session.inst.pages(), t0)
        readback = getattr(case, "expect_memory", ())
        read = () if not readback else session.inst.read(session.caller_memory, readback) \
            if session.caller_memory is not None else tuple((offset, b"") for offset, _ in readback)
        return ExecutionResult(Outcome.OK, got, fuel, session.inst.pages(), time.perf_counter() - t0, "", read)


def _uncallable(linked: LinkedPair, function: str, sig: Signature | None) -> ExecutionResult | None:
    if sig is None:
        names = ", ".join(sorted(linked.functions)) or "none"
        return ExecutionResult(Outcome.INVALID,
                               message=f"the caller exports no function {function!r} (exported functions: {names})")
    if not all(t in DRIVABLE for t in sig.params + sig.results):
        return ExecutionResult(Outcome.INVALID, message=f"function {function!r} has signature {sig}: only i32, "
                                                        "i64, f32 and f64 values can be passed and compared")
    return None
