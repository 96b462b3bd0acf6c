"""Wall-clock timing of a function on wasmtime, since fuel is only a proxy for speed.

Modules are compiled with Cranelift's optimizer and without fuel, as a host would run them.
Each run calls the function once per case (memory written first where the case has some);
the medians of repeated runs are compared side by side in one process, interleaved. A call from
Python costs about a microsecond whatever the function does, so an empty function of the same
signature is timed alongside and its median subtracted: `net_s` is the time spent in wasm.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass
from typing import Sequence

import wasmtime

from ..oracle import Case
from ..oracle.values import to_python


@dataclass(frozen=True, slots=True)
class Timing:
    median_s: float
    net_s: float  # median minus the empty function's median
    runs: int
    calls_per_run: int


_ZERO = {"i32": "i32.const 0", "i64": "i64.const 0", "f32": "f32.const 0", "f64": "f64.const 0"}


def empty_function(params: Sequence[str], results: Sequence[str], function: str) -> bytes:
    """A module whose `function` has the given signature and does nothing but return zeros."""
    p = " ".join(params)
    r = " ".join(results)
    body = " ".join(_ZERO[t] for t in results)
    return bytes(wasmtime.wat2wasm(
        f'(module (memory (export "memory") 2) (func (export "{function}") (param {p}) (result {r}) {body}))'))


_DEADLINE_TICKS = 1000  # 10 s per run of all cases


def _prepare(engine: wasmtime.Engine, wasm: bytes, function: str):
    store = wasmtime.Store(engine)
    module = wasmtime.Module(engine, wasm)
    instance = wasmtime.Instance(store, module, [])
    exports = instance.exports(store)
    func = exports[function]
    memory = next((v for v in (exports.get(name) for name in ("memory",)) if isinstance(v, wasmtime.Memory)), None)
    return store, func, memory


def time_variants(variants: Sequence[bytes], function: str, params: Sequence[str], results: Sequence[str],
                  cases: Sequence[Case],
                  runs: int = 30) -> list[Timing]:
    """Median wall time per run for each variant; runs are interleaved so noise hits all alike."""
    cfg = wasmtime.Config()
    cfg.epoch_interruption = True  # a guard only: no verified variant should ever hit it
    engine = wasmtime.Engine(cfg)
    variants = [empty_function(params, results, function), *variants]
    prepared = [_prepare(engine, w, function) for w in variants]
    stop = threading.Event()
    ticker = threading.Thread(target=_tick, args=(engine, stop), daemon=True)
    ticker.start()
    try:
        return _time(prepared, function, params, cases, runs)
    finally:
        stop.set()
        ticker.join()


def _tick(engine: wasmtime.Engine, stop: threading.Event) -> None:
    while not stop.wait(0.01):
        engine.increment_epoch()


def _time(prepared, function, params, cases, runs) -> list[Timing]:
    arg_lists = [[to_python(t, v) for t, v in zip(params, c.args)] for c in cases]
    samples: list[list[float]] = [[] for _ in prepared]
    for _ in range(runs):
        for i, (store, func, memory) in enumerate(prepared):
            store.set_epoch_deadline(_DEADLINE_TICKS)
            t0 = time.perf_counter()
            for case, args in zip(cases, arg_lists):
                if case.memory and memory is not None:
                    for off, data in case.memory:
                        memory.write(store, data, off)
                func(store, *args)
            samples[i].append(time.perf_counter() - t0)
    medians = [statistics.median(s) for s in samples]
    null = medians[0]
    return [Timing(m, max(m - null, 0.0), runs, len(cases)) for m in medians[1:]]
