"""Running a harness natively, as a host runs the code: Cranelift at opt level "speed", no fuel.

Only wasmtime's public Python API is used. Time is the calling thread's CPU time by default
(`time.thread_time_ns`: wasm runs in the thread that calls it, and CPU time leaves out the spans the
scheduler gives the core to another process, which on a shared machine otherwise dominate the noise);
`clock="wall"` uses `time.perf_counter_ns` instead. The epoch deadline is a safety net, not a budget: a
ticker thread advances the epoch every `TICK_S`, and a call that outlives its deadline traps with an
interrupt and is reported as a timeout. Nothing else runs per call, so the timed code is the code a
host would run (the epoch check Cranelift adds at loop headers and function entries is a load and a
compare, and is in the empty function's time too).
"""

from __future__ import annotations

import math
import threading
import time

import wasmtime

from ..errors import UntimeableError
from .harness import Harness

TICK_S = 0.01
CLOCKS = {"thread": time.thread_time_ns, "wall": time.perf_counter_ns}


class Clock:
    """One engine for a measurement, with its epoch ticker; `close` (or `with`) stops the ticker."""

    def __init__(self, deadline_s: float = 2.0, clock: str = "thread") -> None:
        if not deadline_s > 0:
            raise ValueError(f"deadline_s must be positive, got {deadline_s!r}")
        if clock not in CLOCKS:
            raise ValueError(f"clock must be one of {', '.join(CLOCKS)}, got {clock!r}")
        self.now = CLOCKS[clock]
        cfg = wasmtime.Config()
        cfg.cranelift_opt_level = "speed"
        cfg.epoch_interruption = True
        cfg.consume_fuel = False
        cfg.wasm_bulk_memory = True  # the harness writes each case's memory with memory.init
        cfg.wasm_multi_value = True
        cfg.wasm_simd = True
        cfg.wasm_reference_types = True
        self.engine = wasmtime.Engine(cfg)
        self.ticks = max(1, math.ceil(deadline_s / TICK_S)) + 1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="jeet-timing-epoch", daemon=True)
        self._thread.start()

    def _tick(self) -> None:
        while not self._stop.wait(TICK_S):
            self.engine.increment_epoch()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)

    def __enter__(self) -> "Clock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def load(self, harness: Harness, index: int | None = None, copies: int = 1) -> list["Timed"]:
        """Compile a harness once and place `copies` instances of it, each from its own copy of the
        compiled code (deserialized afresh, so code and data sit at addresses of their own) in its own
        store; UntimeableError("invalid") if it cannot be compiled, ("trap") if it traps while starting."""
        try:
            module = wasmtime.Module(self.engine, harness.wasm)
            image = module.serialize() if copies > 1 else None
            placed = []
            for n in range(copies):
                if n:
                    module = wasmtime.Module.deserialize(self.engine, image)
                store = wasmtime.Store(self.engine)
                store.set_epoch_deadline(self.ticks)
                instance = wasmtime.Instance(store, module, [])
                placed.append(Timed(self, store, instance.exports(store)[harness.export], index))
        except wasmtime.Trap as exc:
            raise UntimeableError(f"the module traps while starting: {_trap_reason(exc)}", index, "trap") from None
        except Exception as exc:  # WasmtimeError for invalid modules, imports it cannot satisfy
            raise UntimeableError(f"the module cannot be run natively: {_first_line(exc)}", index,
                                  "invalid") from None
        return placed


class Timed:
    """One harness instance, ready to time: `run(reps)` -> (elapsed ns, sink)."""

    __slots__ = ("clock", "store", "func", "index")

    def __init__(self, clock: Clock, store: wasmtime.Store, func: wasmtime.Func, index: int | None) -> None:
        self.clock, self.store, self.func, self.index = clock, store, func, index

    def run(self, reps: int) -> tuple[int, int]:
        """Run every case `reps` times; UntimeableError when a call traps or passes the deadline."""
        store, func, now = self.store, self.func, self.clock.now
        store.set_epoch_deadline(self.clock.ticks)
        try:
            t0 = now()
            sink = func(store, reps)
            elapsed = now() - t0
        except wasmtime.Trap as exc:
            if exc.trap_code == wasmtime.TrapCode.INTERRUPT:
                raise UntimeableError(f"a timing run passed the {self.clock.ticks * TICK_S:g} s deadline",
                                      self.index, "timeout") from None
            raise UntimeableError(f"the function traps on the timing inputs: {_trap_reason(exc)}",
                                  self.index, "trap") from None
        return elapsed, sink & ((1 << 64) - 1)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _trap_reason(exc: wasmtime.Trap) -> str:
    """"unreachable", "memory out of bounds", ...: the trap code, else wasmtime's last message line."""
    code = exc.trap_code
    if code is not None:
        return code.name.lower().replace("_", " ")
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else "trap"
