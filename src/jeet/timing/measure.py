"""Timing variants of one function natively, interleaved, against an empty function.

`measure` builds a harness for each variant (and for an empty function of the same signature,
derived from the first variant), calibrates repetitions so one sample takes about `sample_s`, then
runs rounds: in each round every variant and the empty function are timed once, in a fresh random
order, on the same inputs. Rounds continue until at least `min_rounds` and `min_time_s` are reached.
A variant that traps, passes the deadline or cannot be run is reported with that status (and left
out of later rounds), never raised; only a problem with the inputs themselves raises TimingError.

Noise: time is the calling thread's CPU time (see `clock`), so other processes on the core matter
only through what they leave in shared caches and predictors. Measured by `jeet bench --suite timing`
(a self-vs-self ratio for every kernel and starting point, 50 in all; 3 compiled copies per variant, one
drawn at random each round, before the placement below) on a shared 2-core machine:
at load average 5-7 the median |ratio - 1| of a variant against an identical copy was 0.8 %, at most
4.2 % for functions taking 2 ns per call or more, and 49 of the 50 95 % intervals contained 1; at
load average 14 the median was 0.7 %, the largest 8.6 %, and 47 of 50 intervals contained 1. For
functions as cheap as the call itself (under 1 ns net) the interval is wide. With the wall clock
instead, load average 5 gave identical copies ratios like 0.91 [0.85, 0.96]. Because identical code
can measure apart, `judge` times an A/A control and widens its margin to what the control shows.

Placement: where a cheap function's code and data land moves its time by more than most rewrites do.
clamp's -O0 input, one compiled copy after another on this machine: 3.5 or 5.2 ns per call gross, two
modes, its empty function 2.6-3.5 ns. So every variant is placed `layouts` times (16 by default; one
compilation, deserialized into fresh code memory each time, which costs milliseconds), round r times
copy r mod layouts of each, and the statistics treat placement as a random effect (`jeet.timing.stats`).
With 3 copies drawn at random per round, an A/A control on clamp read 0.96 [0.80, 1.51], 1.18 [0.77,
1.92] and 0.74 [0.44, 1.47] in three runs; with 16 placed copies, 0.96 [0.90, 1.02], 1.02 [0.95, 1.10]
and 0.98 [0.93, 1.03], and its branch-free form was judged faster (0.62-0.66) in 4 of 5 runs.
"""

from __future__ import annotations

import contextlib
import gc
import time
from importlib import metadata
from typing import ContextManager, Sequence

import numpy as np

from ..oracle import Case
from .clock import Clock, Timed
from ..errors import TimingError, UntimeableError
from .harness import build_harness, empty_variant, timing_cases
from .report import OK, TimingReport, VariantTiming

MAX_REPS = 10_000_000
LAYOUTS = 16  # placed copies of each variant (see the module docstring)


def pick_cases(cases: Sequence[Case], max_cases: int) -> tuple[Case, ...]:
    """The timing inputs: the cases that return normally, at most `max_cases` of them evenly spread
    over the list (deterministic, so every variant and every repeat sees the same inputs)."""
    usable = timing_cases(cases)
    if max_cases < 1:
        raise TimingError(f"max_cases must be at least 1, got {max_cases}")
    if len(usable) <= max_cases:
        return usable
    picks = np.linspace(0, len(usable) - 1, max_cases).round().astype(int)
    return tuple(usable[i] for i in picks)


def _calibrate(timed: Timed, sample_ns: float) -> tuple[int, int]:
    """Repetitions for one sample of about `sample_ns`, and the sink of one repetition (warm-up)."""
    _, sink = timed.run(1)
    reps = 1
    while True:
        elapsed, _ = timed.run(reps)
        if elapsed >= sample_ns / 4 or reps >= MAX_REPS:
            break
        reps = min(MAX_REPS, reps * int(min(64, max(2, sample_ns / 4 / max(elapsed, 1)))))
    return max(1, min(MAX_REPS, round(reps * sample_ns / max(elapsed, 1)))), sink


def measure(variants: Sequence[bytes], function: str, cases: Sequence[Case], *, seed: int = 0,
            min_time_s: float = 0.5, sample_s: float = 0.002, min_rounds: int = 15, max_rounds: int = 1000,
            max_cases: int = 256, deadline_s: float = 2.0, clock: str = "thread", layouts: int = LAYOUTS,
            quiet: ContextManager | None = None) -> TimingReport:
    """Native ns per call of each variant of `function` on `cases` (see the module docstring).

    `cases` are the oracle's (held-out) cases, memory blocks included; trap cases are skipped.
    `seed` fixes the order of each round and the bootstrap of `ratio`. `clock` is "thread" (this
    thread's CPU time, the default: robust to other processes on the core) or "wall". `layouts`
    places each variant that many times, so its code and data sit at several addresses, and round r
    times copy r mod layouts: whatever bias comes with one placement (aliasing in branch predictors and
    caches) becomes variance the interval sees, instead of sticking to one variant; rounds go on to a
    whole number of cycles, at least two. `quiet` is entered for the whole measurement, to pause the caller's evaluation
    workers (see `jeet.timing.quiet`)."""
    if not variants:
        raise TimingError("nothing to time: no variants given")
    if not (sample_s > 0 and min_time_s >= 0 and 1 <= min_rounds <= max_rounds):
        raise TimingError("sample_s must be positive, min_time_s non-negative and 1 <= min_rounds <= max_rounds")
    if not isinstance(layouts, int) or layouts < 1:
        raise TimingError(f"layouts must be a positive int, got {layouts!r}")
    if clock not in ("thread", "wall"):
        raise TimingError(f"clock must be 'thread' or 'wall', got {clock!r}")
    chosen = pick_cases(cases, max_cases)
    results: list[VariantTiming | None] = [None] * len(variants)
    harnesses = {}
    for i, wasm in enumerate(variants):
        try:
            harnesses[i] = build_harness(wasm, function, chosen)
        except TimingError as exc:
            results[i] = VariantTiming("invalid", message=str(exc))
    if not harnesses:
        raise TimingError(f"no variant can be timed: {results[0].message}")
    empty = build_harness(empty_variant(variants[min(harnesses)], function), function, chosen)
    t0 = time.perf_counter()
    with Clock(deadline_s, clock) as engine_clock, (quiet if quiet is not None else contextlib.nullcontext()):
        timed: dict[int, list[Timed]] = {}
        reps: dict[int, int] = {}
        sinks: dict[int, int] = {}
        for i, h in [(-1, empty), *harnesses.items()]:
            try:
                timed[i] = engine_clock.load(h, i, layouts)
                reps[i], sinks[i] = _calibrate(timed[i][0], sample_s * 1e9)
                for other in timed[i][1:]:
                    other.run(1)  # warm each copy once, and check it runs
            except UntimeableError as exc:
                if i == -1:
                    raise TimingError(f"the timing inputs cannot be run ({exc})") from None
                timed.pop(i, None)
                results[i] = VariantTiming(exc.status, message=str(exc))
        samples = _rounds(timed, reps, len(chosen), results, np.random.default_rng(seed),
                          min_time_s, max(min_rounds, 2 * layouts), max(max_rounds, 2 * layouts), layouts)
    seconds = time.perf_counter() - t0
    for i in timed:
        if i >= 0 and results[i] is None:
            results[i] = VariantTiming(OK, tuple(samples[i]), reps[i], sinks[i])
    rounds = len(samples[-1])
    method = {
        "engine": f"wasmtime {_version()} (Cranelift, opt level speed, no fuel, epoch deadline {deadline_s:g} s)",
        "clock": "calling thread's CPU time" if clock == "thread" else "wall clock",
        "harness": "call loop inside wasm over the cases, memory blocks copied in before each call, "
                   "results summed into a returned sink",
        "interleaving": "round-robin, order shuffled every round",
        "layouts": f"{layouts} placed copies per variant (one compilation, deserialized afresh), copy r mod "
                   f"{layouts} timed in round r",
        "subtracted": "median of an empty function of the same signature in the same harness",
        "sample_s": sample_s, "cases": len(chosen), "rounds": rounds,
        "reps": {("empty" if i < 0 else str(i)): r for i, r in reps.items() if i in timed},
        "statistic": "per variant the mean over its copies of each copy's median; ratio interval by a paired "
                     "bootstrap over copies, then rounds within each copy",
    }
    return TimingReport(function, len(chosen), seed, tuple(results),  # type: ignore[arg-type]
                        VariantTiming(OK, tuple(samples[-1]), reps[-1], sinks[-1]), rounds, round(seconds, 4),
                        method, layouts)


def _rounds(timed: dict[int, list[Timed]], reps: dict[int, int], ncases: int, results: list, rng: np.random.Generator,
            min_time_s: float, min_rounds: int, max_rounds: int, layouts: int) -> dict[int, list[float]]:
    samples: dict[int, list[float]] = {i: [] for i in timed}
    gc_enabled = gc.isenabled()
    gc.disable()  # a collection inside a sample would land on one variant only
    try:
        start, rounds = time.perf_counter(), 0
        while rounds < max_rounds and (rounds < min_rounds or rounds % layouts
                                       or time.perf_counter() - start < min_time_s):
            order = list(timed)
            for j in rng.permutation(len(order)):
                i = order[j]
                try:
                    elapsed, _ = timed[i][rounds % layouts].run(reps[i])
                except UntimeableError as exc:
                    if i == -1:
                        raise TimingError(f"the empty function stopped running ({exc})") from None
                    results[i] = VariantTiming(exc.status, message=str(exc))
                    del timed[i], samples[i]
                    continue
                samples[i].append(elapsed / (reps[i] * ncases))
            rounds += 1
    finally:
        if gc_enabled:
            gc.enable()
    return samples


def _version() -> str:
    try:
        return metadata.version("wasmtime")
    except metadata.PackageNotFoundError:
        return "unknown"
