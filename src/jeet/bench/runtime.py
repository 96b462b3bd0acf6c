"""`jeet bench --suite runtime`: what calling through the runtime costs, and whether swaps are safe.

Dispatch overhead: per kernel, batches of calls through `Function.__call__` (cold, served by the
original; and with a verified champion expressed under the default 1 % shadow checks) are timed
side by side, interleaved, against batches of bare wasmtime-py calls (`func(store, *args)`) of
the same module in the same process; per-call medians over `runs` batches and their ratio
(target <= 1.3). The runtime's own floor, a lane called directly, is shown too.

Concurrent swaps: threads call a function as fast as they can while the main thread swaps its
champion among equivalent verified variants (clang -O0, clang -O2, and a wasm-opt variant when
available): each is verified and compiled once through the path evolution results take, then
swapped in by the same atomic record replacement, thousands of times; every answer is checked
against the answer of the original (target: 0 wrong answers).
"""

from __future__ import annotations

import json
import random
import shlex
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import wasmtime

from ..address import content_address
from ..kernels import get_kernel
from ..oracle import generate_inputs, to_python
from ..runtime import Runtime

DEFAULT_KERNELS = ("popcount", "gcd", "isqrt", "clamp", "collatz")
TARGET_RATIO = 1.3
BATCH = 500


def _bare(wasm: bytes, function: str) -> Callable[..., Any]:
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    func = wasmtime.Instance(store, wasmtime.Module(engine, wasm), []).exports(store)[function]
    return lambda *args: func(store, *args)


def _inputs(params: tuple[str, ...], call: Callable[..., Any], seed: int, n: int = 64) -> list[tuple]:
    """Arguments on which the function returns (traps would time the exception path)."""
    out = []
    for args in generate_inputs(params, random.Random(seed), 4 * n):
        py = tuple(to_python(t, v) for t, v in zip(params, args))
        try:
            call(*py)
        except wasmtime.Trap:
            continue
        out.append(py)
        if len(out) == n:
            break
    return out


def _batch(call: Callable[..., Any], inputs: list[tuple]) -> float:
    """Seconds per call over one batch of BATCH calls cycling through `inputs`."""
    k = len(inputs)
    seq = [inputs[i % k] for i in range(BATCH)]
    t0 = time.perf_counter()
    for args in seq:
        call(*args)
    return (time.perf_counter() - t0) / BATCH


def _medians(contenders: dict[str, Callable[..., Any]], inputs: list[tuple], runs: int) -> dict[str, float]:
    """Median seconds per call of each contender, batches interleaved in a rotating order."""
    names = list(contenders)
    samples: dict[str, list[float]] = {n: [] for n in names}
    for name in names:  # warm-up: lanes, caches
        _batch(contenders[name], inputs)
    for r in range(runs):
        for name in names[r % len(names):] + names[:r % len(names)]:
            samples[name].append(_batch(contenders[name], inputs))
    return {n: statistics.median(v) for n, v in samples.items()}


def overhead(kernel: str, runs: int, seed: int, data_dir: Path) -> dict:
    k = get_kernel(kernel)
    original, optimised = k.wasm("O0"), k.wasm("O2")
    with Runtime(data_dir, hot=0) as rt:
        cold = rt.load(original, k.function)
        inputs = _inputs(k.params, cold, seed)
        lane = cold.original.lane()
        times = _medians({"bare_original": _bare(original, k.function), "runtime_cold": cold,
                          "lane_original": lane}, inputs, runs)
    with Runtime(data_dir / "champion", hot=0) as rt:  # a fresh store: O2 must not be blacklisted by another run
        served = rt.load(original, k.function)
        adopted = served.offer(optimised, require_better=False)
        champ = served.stats()
        if adopted:
            times.update({f"{n}_champion": v for n, v in _medians(
                {"bare": _bare(optimised, k.function), "runtime": served}, inputs, runs).items()})
    row = {"kernel": kernel, "function": k.function, "inputs": len(inputs),
           **{f"{n}_us": round(v * 1e6, 3) for n, v in times.items()},
           "ratio_cold": round(times["runtime_cold"] / times["bare_original"], 4),
           "dispatch_us": round((times["runtime_cold"] - times["lane_original"]) * 1e6, 3),
           "champion_adopted": adopted, "champion_shadow_checks": champ["shadow_checks"]}
    if adopted:
        row["ratio_champion"] = round(times["runtime_champion"] / times["bare_champion"], 4)
    return row


def swap_stress(kernel: str, seconds: float, threads: int, seed: int, data_dir: Path) -> dict:
    """Threads call while the champion changes among equivalent variants; wrong answers counted."""
    from ..evolve.seeding import wasm_opt_variant

    k = get_kernel(kernel)
    variants = [k.wasm("O2"), k.wasm("O0")]
    extra = wasm_opt_variant(k.wasm("O0"))
    if extra is not None:
        variants.insert(1, extra)
    with Runtime(data_dir, hot=0, shadow=0.0) as rt:
        fn = rt.load(k.wasm("O0"), k.function)
        reference = _bare(k.wasm("O0"), k.function)
        inputs = _inputs(k.params, reference, seed, n=256)
        expected = [reference(*a) for a in inputs]
        usable = [v for v in variants if fn.offer(v, require_better=False)]
        # verified and compiled once: from here on a swap is the same atomic record replacement the
        # supervisor performs, without its thread hop, so swaps come as fast as the GIL allows
        pool = [fn.record.verified.get(s, (fn.original, 0))[0] for s in (content_address(v) for v in usable)]
        stop = threading.Event()
        counts = [0] * threads
        wrong = [0] * threads
        errors: list[str] = []

        def caller(t: int) -> None:
            rng = random.Random(seed + t)
            try:
                while not stop.is_set():
                    i = rng.randrange(len(inputs))
                    if fn(*inputs[i]) != expected[i]:
                        wrong[t] += 1
                    counts[t] += 1
            except BaseException as exc:  # noqa: BLE001 - reported, counted as a failure
                errors.append(f"{type(exc).__name__}: {exc}")

        workers = [threading.Thread(target=caller, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        swaps = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and len(pool) > 1:
            fn.install(pool[swaps % len(pool)])
            swaps += 1
            time.sleep(0.0002)
        stop.set()
        for w in workers:
            w.join()
        stats = fn.stats()
    return {"kernel": kernel, "threads": threads, "seconds": seconds, "variants": len(usable), "swaps": swaps,
            "calls": sum(counts), "wrong_answers": sum(wrong), "errors": len(errors),
            "first_error": errors[0] if errors else None, "mismatches": stats["mismatches"],
            "variants_served": sum(1 for n in stats["usage"].values() if n > 0)}


def markdown(report: dict, command: str) -> str:
    lines = ["# Runtime: dispatch overhead and champion swaps under concurrent calls", "",
             f"Command: `{command}`.", "",
             f"Per-call medians over {report['runs']} interleaved batches of {BATCH} calls, same process, same "
             "arguments. *bare* = wasmtime-py `func(store, *args)` on a default engine; *runtime* = "
             "`Function.__call__`; *lane* = the runtime's direct C-API call without the dispatch. "
             f"Target: runtime / bare <= {TARGET_RATIO}.", "",
             "| kernel | bare (us) | runtime, cold (us) | ratio | lane (us) | dispatch (us) "
             "| bare O2 (us) | runtime, O2 champion + 1 % shadow (us) | ratio |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["overhead"]:
        champ = (f"{r['bare_champion_us']} | {r['runtime_champion_us']} | {r['ratio_champion']}"
                 if r["champion_adopted"] else "n/a | n/a | n/a")
        lines.append(f"| {r['kernel']} | {r['bare_original_us']} | {r['runtime_cold_us']} | {r['ratio_cold']} "
                     f"| {r['lane_original_us']} | {r['dispatch_us']} | {champ} |")
    s = report["swap_stress"]
    lines += ["", f"Worst ratio: {report['worst_ratio']} (target {'met' if report['ratio_target_met'] else 'NOT met'}).",
              "", "## Concurrent swaps", "",
              f"{s['threads']} threads calling `{s['kernel']}` for {s['seconds']} s while the champion was swapped "
              f"{s['swaps']} times among {s['variants']} verified variants: {s['calls']:,} calls, "
              f"**{s['wrong_answers']} wrong answers**, {s['errors']} errors, {s['variants_served']} variants "
              "actually served.", ""]
    return "\n".join(lines)


def run(opts, console) -> dict:
    """Writes runtime.md and runtime.json under opts.out; returns the JSON report."""
    kernels = list(opts.kernels) if opts.kernels else list(DEFAULT_KERNELS)
    runs = max(3, opts.runs)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="jeet-bench-runtime-") as tmp:
        for i, name in enumerate(kernels):
            row = overhead(name, runs, opts.seed, Path(tmp) / f"o{i}")
            console.print(f"{name:>12}: bare {row['bare_original_us']} us, runtime {row['runtime_cold_us']} us "
                          f"(ratio {row['ratio_cold']}), lane {row['lane_original_us']} us")
            rows.append(row)
        stress = swap_stress(kernels[0], min(10.0, max(2.0, opts.budget / 6)), 4, opts.seed, Path(tmp) / "stress")
    console.print(f"swap stress: {stress['calls']:,} calls, {stress['swaps']} swaps, "
                  f"{stress['wrong_answers']} wrong answers, {stress['errors']} errors")
    ratios = [r["ratio_cold"] for r in rows] + [r["ratio_champion"] for r in rows if r.get("ratio_champion")]
    worst = max(ratios)
    report = {"runs": runs, "batch": BATCH, "target_ratio": TARGET_RATIO, "worst_ratio": worst,
              "ratio_target_met": worst <= TARGET_RATIO, "overhead": rows, "swap_stress": stress,
              "wrong_answers_target_met": stress["wrong_answers"] == 0 and stress["errors"] == 0}
    command = ("jeet bench " + " ".join(shlex.quote(a) for a in sys.argv[2:])).strip()
    (out / "runtime.md").write_text(markdown(report, command))
    (out / "runtime.json").write_text(json.dumps(report, indent=1) + "\n")
    return report
