"""Wall-clock timing of a function on wasmtime, since fuel is only a proxy for speed.

Modules are compiled with Cranelift's optimizer and without fuel, as a host would run them.
Each run calls the function, per case, many times from a loop in a small wasm harness (memory
written first where the case has some); the medians of repeated runs are compared side by side
in one process, interleaved. An empty function of the same signature is timed alongside and its
median subtracted: `net_s` is the time spent in the function itself.
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


_DEADLINE_TICKS = 1000  # 10 s per run of all cases: a guard, no verified variant comes near it


def repeat_harness(params: Sequence[str], results: Sequence[str]) -> bytes:
    """A module importing the function and calling it `n` times in a wasm loop.

    Calling from Python costs about a microsecond per call, more than many kernels take;
    looping inside wasm leaves almost only the function's own time to measure."""
    p = " ".join(params)
    r = " ".join(results)
    args = " ".join(f"local.get {i + 1}" for i in range(len(params)))
    drops = " ".join("drop" for _ in results)
    return bytes(wasmtime.wat2wasm(
        f'(module (import "m" "f" (func $f (param {p}) (result {r})))'
        f' (func (export "repeat") (param $n i32) (param {p})'
        f'  (loop $l {args} call $f {drops}'
        f'   local.get $n i32.const 1 i32.sub local.tee $n br_if $l)))'))


def _prepare(engine: wasmtime.Engine, harness: wasmtime.Module, wasm: bytes, function: str):
    store = wasmtime.Store(engine)
    instance = wasmtime.Instance(store, wasmtime.Module(engine, wasm), [])
    exports = instance.exports(store)
    memory = next((v for v in exports._extern_map.values() if isinstance(v, wasmtime.Memory)), None) \
        if hasattr(exports, "_extern_map") else exports.get("memory")
    repeat = wasmtime.Instance(store, harness, [exports[function]]).exports(store)["repeat"]
    return store, repeat, memory


def time_variants(variants: Sequence[bytes], function: str, params: Sequence[str], results: Sequence[str],
                  cases: Sequence[Case], runs: int = 30, target_run_s: float = 0.02) -> list[Timing]:
    """Median wall time per run for each variant; runs are interleaved so noise hits all alike.

    A run calls the function `reps` times per case inside wasm (reps calibrated so the first
    variant's run takes about `target_run_s`); an empty function of the same signature is timed
    the same way and its median subtracted (`net_s`); times are per single pass over the cases."""
    cfg = wasmtime.Config()
    cfg.epoch_interruption = True
    engine = wasmtime.Engine(cfg)
    harness = wasmtime.Module(engine, repeat_harness(params, results))
    variants = [empty_function(params, results, function), *variants]
    prepared = [_prepare(engine, harness, w, function) for w in variants]
    stop = threading.Event()
    ticker = threading.Thread(target=_tick, args=(engine, stop), daemon=True)
    ticker.start()
    try:
        arg_lists = [[to_python(t, v) for t, v in zip(params, c.args)] for c in cases]
        # the cost of one more repetition of a pass, without the per-case call from Python
        per_rep = (_run(prepared[1], cases, arg_lists, 21) - _run(prepared[1], cases, arg_lists, 1)) / 20
        reps = max(1, min(100_000, int(target_run_s / max(per_rep, 1e-9))))
        samples: list[list[float]] = [[] for _ in prepared]
        for _ in range(runs):
            for i, p in enumerate(prepared):
                samples[i].append(_run(p, cases, arg_lists, reps) / reps)
    finally:
        stop.set()
        ticker.join()
    medians = [statistics.median(s) for s in samples]
    null = medians[0]
    return [Timing(m, max(m - null, 0.0), runs, len(cases)) for m in medians[1:]]


def _tick(engine: wasmtime.Engine, stop: threading.Event) -> None:
    while not stop.wait(0.01):
        engine.increment_epoch()


def _run(prepared, cases: Sequence[Case], arg_lists: list[list], reps: int) -> float:
    store, repeat, memory = prepared
    store.set_epoch_deadline(_DEADLINE_TICKS)
    t0 = time.perf_counter()
    for case, args in zip(cases, arg_lists):
        if case.memory and memory is not None:
            for off, data in case.memory:
                memory.write(store, data, off)
        repeat(store, reps, *args)
    return time.perf_counter() - t0
