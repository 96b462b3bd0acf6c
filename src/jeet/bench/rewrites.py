"""Native time of the machine rewrites (vectorize_bytes, word_at_a_time, stoke) on the byte kernels.

`python -m jeet.bench.rewrites [--runs N] [--repeats K]` builds each rewrite of each byte kernel's clang
-O2 build (the vectorizer and word-at-a-time on the main loop) and of its -O0 build once promote_slot has
lifted the frame into locals (the input is then that promoted module), then times the variants
with `jeet.bench.timing.time_variants` (Cranelift, no fuel, the call loop inside wasm, interleaved, an
empty function subtracted) on single buffers of 16, 64, 256 and 1000
bytes. It prints net nanoseconds per call and the ratio to the input (median and range of repeated
measurements: on a shared machine single measurements swing by 2x). Then stoke, applied eight times,
on scalar kernels where it finds cheaper windows: fuel and native time on the kernel's own tests.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
from pathlib import Path

import wasmtime

from ..genetics import Genome
from ..genetics.byte_loops import find_byte_loops
from ..genetics.promote_slot import PromoteSlot
from ..genetics.sites import facts
from ..genetics.stoke import Stoke
from ..genetics.vectorize_bytes import vectorize
from ..genetics.word_at_a_time import word_at_a_time
from ..oracle import Case
from ..oracle.tests_file import load_tests
from ..sandbox import Sandbox
from .timing import time_variants

KERNELS = Path(__file__).resolve().parents[1] / "kernels"
BYTE_KERNELS = ("count_byte", "sum_bytes", "max_byte")
# scalar kernels where stoke finds cheaper windows (its best of eight seeds), timed on their own tests
STOKE_KERNELS = (("days_in_month", "O2"), ("sign", "O0"), ("collatz", "O0"), ("digit_sum", "O0"))


def promoted(name: str) -> Genome:
    """The clang -O0 build after promote_slot lifted its frame slots into locals, as a run would."""
    g = Genome.from_bytes((KERNELS / "wasm" / f"{name}.O0.wasm").read_bytes(), name)
    rng = random.Random(0)
    for _ in range(60):
        g = PromoteSlot().apply(rng, [g]) or g
    return g


def variants(name: str, level: str = "O2") -> dict[str, bytes]:
    """The input and its rewrites, by label."""
    if level == "O2":
        wasm = (KERNELS / "wasm" / f"{name}.O2.wasm").read_bytes()
        g = Genome.from_bytes(wasm, name)
    else:
        g = promoted(name)
        wasm = g.wasm
    f = facts(g, 0)
    main = find_byte_loops(f.body, f.local_types)[0]  # clang's unrolled main loop comes first
    out = {"input": wasm, "vectorize_bytes": g.with_bodies({0: vectorize(f.body, main, f.local_types)}).wasm}
    if all(r.kind in ("sum", "count_eq", "count_ne") for r in main.reductions):
        for width in (8, 4):
            out[f"word_at_a_time/{width}"] = g.with_bodies({0: word_at_a_time(f.body, main, f.local_types, width)}).wasm
    return out


def stoke_variant(name: str, level: str) -> bytes | None:
    """Stoke applied eight times in a row (each call keeps the last child that it improved)."""
    wasm = (KERNELS / "wasm" / f"{name}.{level}.wasm").read_bytes()
    best = None
    for seed in range(8):
        child = Stoke().apply(random.Random(seed), [best or Genome.from_bytes(wasm, name)])
        best = child or best
    return None if best is None else best.wasm


def _buffer_case(name: str, length: int, rng: random.Random) -> Case:
    data = bytes(rng.choice((7, 9, 200)) for _ in range(length))
    args = (65536, length, 7) if name == "count_byte" else (65536, length)
    return Case(args=args, memory=((65536, data),))


def _timed(wasms: list[bytes], name: str, params: tuple[str, ...], cases: list[Case], runs: int,
           results: tuple[str, ...] = ("i32",)):
    """`time_variants`, tried again when a noisy calibration makes a run overrun its deadline."""
    for _ in range(3):
        try:
            return time_variants(wasms, name, params, results, cases, runs=runs)
        except wasmtime.Trap:
            continue
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jeet.bench.rewrites")
    parser.add_argument("--runs", type=int, default=15, help="interleaved runs per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per buffer (median and range shown)")
    args = parser.parse_args(argv)
    print(f"# python -m jeet.bench.rewrites --runs {args.runs} --repeats {args.repeats}   "
          f"({platform.machine()}, {platform.python_version()}, load {os.getloadavg()[0]:.1f})")
    print("# net ns per call (empty function subtracted); ratio to the input: median (range) over the repeats")
    rng = random.Random(0)
    for name, level in [(n, lv) for lv in ("O2", "O0") for n in BYTE_KERNELS]:
        vs = variants(name, level)
        params = ("i32",) * (3 if name == "count_byte" else 2)
        for length in (16, 64, 256, 1000):
            # one buffer per measurement: `time_variants` writes a case's memory inside the timed run, so
            # many small cases would time Python's memory writes rather than the kernel
            cases = [_buffer_case(name, length, rng)]
            ratios: dict[str, list[float]] = {v: [] for v in vs}
            nanos: dict[str, list[float]] = {v: [] for v in vs}
            for _ in range(args.repeats):
                timings = _timed(list(vs.values()), name, params, cases, args.runs)
                if timings is None or not timings[0].net_s:
                    continue
                for v, t in zip(vs, timings):
                    nanos[v].append(t.net_s * 1e9)
                    if t.net_s:
                        ratios[v].append(timings[0].net_s / t.net_s)
            cells = [f"{v} {statistics.median(nanos[v]):.1f} ns ({statistics.median(ratios[v]):.2f}x, "
                     f"{min(ratios[v]):.2f}-{max(ratios[v]):.2f})" for v in vs if ratios[v]]
            label = f"{name}.{level}" + ("+promote_slot" if level == "O0" else "")
            print(f"{label}  {length:5d} B  " + " | ".join(cells), flush=True)
    for name, level in STOKE_KERNELS:
        rewrite = stoke_variant(name, level)
        if rewrite is None:
            print(f"{name}.{level}  stoke found nothing cheaper")
            continue
        wasm = (KERNELS / "wasm" / f"{name}.{level}.wasm").read_bytes()
        sig = Sandbox().signature(wasm, name)
        tests = load_tests(KERNELS / "tests" / f"{name}.jsonl", sig.params, sig.results)
        net, gross = [], []
        for _ in range(args.repeats):
            timings = _timed([wasm, rewrite], name, sig.params, list(tests), args.runs, sig.results)
            if timings is None:
                continue
            gross.append(timings[0].median_s / timings[1].median_s)
            if timings[0].net_s and timings[1].net_s:
                net.append(timings[0].net_s / timings[1].net_s)
        fuel = [sum(r.fuel for r in Sandbox().run(w, name, tests)) for w in (wasm, rewrite)]
        if not gross:
            print(f"{name}.{level}  stoke: fuel {fuel[0]} -> {fuel[1]}; timing failed (calibration upset by noise)")
            continue
        net_text = (f"net {statistics.median(net):.2f}x ({min(net):.2f}-{max(net):.2f})" if len(net) == len(gross)
                    else "net below the noise")
        print(f"{name}.{level}  stoke: fuel {fuel[0]} -> {fuel[1]}; native {net_text}, with the call "
              f"{statistics.median(gross):.2f}x ({min(gross):.2f}-{max(gross):.2f}); on its {len(tests)} tests",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
