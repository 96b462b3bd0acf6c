"""Native time of the machine rewrites (vectorize_bytes, word_at_a_time, stoke) on the byte kernels.

`python -m jeet.bench.rewrites [--runs N]` builds each rewrite of each kernel's clang -O2 build (the
vectorizer and word-at-a-time on the main loop, stoke's best of a few seeds), then times the variants
with `jeet.bench.timing.time_variants` (Cranelift, no fuel, the call loop inside wasm, interleaved, an
empty function subtracted) on the kernel's own test cases and on single buffers of 16, 64 and 1000
bytes. It prints medians in nanoseconds per pass over the cases and the ratio to the input.
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
from pathlib import Path

import wasmtime

from ..genetics import Genome
from ..genetics.byte_loops import find_byte_loops
from ..genetics.sites import facts
from ..genetics.stoke import Stoke
from ..genetics.vectorize_bytes import vectorize
from ..genetics.word_at_a_time import word_at_a_time
from ..oracle import Case
from ..oracle.tests_file import load_tests
from .timing import time_variants

KERNELS = Path(__file__).resolve().parents[1] / "kernels"
BYTE_KERNELS = ("count_byte", "sum_bytes", "max_byte")


def variants(name: str) -> dict[str, bytes]:
    """The input and its rewrites, by label."""
    wasm = (KERNELS / "wasm" / f"{name}.O2.wasm").read_bytes()
    g = Genome.from_bytes(wasm, name)
    f = facts(g, 0)
    main = find_byte_loops(f.body, f.local_types)[0]  # clang's unrolled main loop comes first
    out = {"input": wasm, "vectorize_bytes": g.with_bodies({0: vectorize(f.body, main, f.local_types)}).wasm}
    if all(r.kind in ("sum", "count_eq", "count_ne") for r in main.reductions):
        for width in (8, 4):
            out[f"word_at_a_time/{width}"] = g.with_bodies({0: word_at_a_time(f.body, main, f.local_types, width)}).wasm
    best = None
    for seed in range(8):
        child = Stoke().apply(random.Random(seed), [best or g])
        best = child or best
    if best is not None:
        out["stoke"] = best.wasm
    return out


def _buffer_case(name: str, length: int, rng: random.Random) -> Case:
    data = bytes(rng.choice((7, 9, 200)) for _ in range(length))
    args = (65536, length, 7) if name == "count_byte" else (65536, length)
    return Case(args=args, memory=((65536, data),))


def _timed(wasms: list[bytes], name: str, params: tuple[str, ...], cases: list[Case], runs: int):
    """`time_variants`, tried again when a noisy calibration makes a run overrun its deadline."""
    for _ in range(3):
        try:
            return time_variants(wasms, name, params, ("i32",), cases, runs=runs)
        except wasmtime.Trap:
            continue
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jeet.bench.rewrites")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    print(f"# python -m jeet.bench.rewrites --runs {args.runs}   ({platform.machine()}, {platform.python_version()})")
    rng = random.Random(0)
    for name in BYTE_KERNELS:
        vs = variants(name)
        params = ("i32",) * (3 if name == "count_byte" else 2)
        tests = load_tests(KERNELS / "tests" / f"{name}.jsonl", params, ("i32",))
        workloads = {"kernel tests (0-512 B)": list(tests)}
        for length in (16, 64, 1000):
            workloads[f"{length} B"] = [_buffer_case(name, length, rng)]
        for label, cases in workloads.items():
            timings = _timed(list(vs.values()), name, params, cases, args.runs)
            if timings is None:
                print(f"{name}.O2  {label:24s} timing failed three times (calibration upset by noise)")
                continue
            base = timings[0].net_s
            cells = [f"{v} {t.net_s * 1e9 / len(cases):.1f} ns ({base / t.net_s:.2f}x)" if t.net_s else f"{v} ~0"
                     for v, t in zip(vs, timings)]
            print(f"{name}.O2  {label:24s} " + " | ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
