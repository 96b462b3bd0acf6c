"""What the machine-level rewrites do to native time, on kernels where they apply (perf: off by default).

Run: `PYTHONPATH=src python -m pytest -m perf -s tests/test_genetics_machine_perf.py`. Each kernel is
called in a loop inside wasm (a harness function appended to the module) under Cranelift at its
speed setting without fuel; before and after are timed interleaved, 21 times each, in thread CPU
time (so other processes on a shared machine do not count), and the ratio of the medians is
printed. A module against itself stays within 2 % this way.
"""

from __future__ import annotations

import random
import statistics
import time

import pytest
import wasmtime
from genetics_support import KERNEL_DIR

from jeet.genetics import OPERATORS, Genome
from jeet.genetics.promote_slot import find_slots, promote
from jeet.genetics.sites import facts
from jeet.wasm.decode import decode
from jeet.wasm.ir import Body, Instr
from jeet.wasm.module import FUNC, Export
from jeet.wasm.opcodes import BY_NAME
from jeet.wasm.types import I32, I64, FuncType

REPEATS = 21

# operator, kernel, level ("O0p": -O0 with its frame promoted), calls a buffer?, harness trips
ROWS = [
    ("idiom_bits", "popcount", "O2", False, 200_000),
    ("idiom_bits", "parity", "O2", False, 200_000),
    ("idiom_bits", "ctz", "O2", False, 200_000),
    ("idiom_bits", "popcount", "O0p", False, 100_000),
    ("idiom_bits", "popcount", "O0", False, 100_000),
    ("strength_reduce", "digit_sum", "O2", False, 200_000),
    ("strength_reduce", "collatz", "O2", False, 20_000),
    ("strength_reduce", "adler32", "O2", True, 2_000),
    ("range_reduce", "adler32", "O2", True, 2_000),
    ("unroll", "popcount", "O2", False, 100_000),
    ("unroll", "sum_bytes", "O2", True, 2_000),
    ("unroll", "fnv1a32", "O2", True, 2_000),
    ("unroll", "bit_reverse", "O2", False, 100_000),
    ("unroll", "sum_bytes", "O0p", True, 2_000),
    ("unroll", "adler32", "O0p", True, 1_000),
    ("unroll", "fib", "O0p", False, 20_000),
    ("licm", "crc8.table", "O0p", True, 1_000),
    ("licm", "modpow", "O0p", False, 20_000),
    ("if_convert", "iabs", "O0p", False, 200_000),
    ("if_convert", "collatz", "O0p", False, 20_000),
    ("if_convert", "max3", "O0p", False, 200_000),
]


def _i(name: str, *imm) -> Instr:
    return Instr(BY_NAME[name], tuple(imm))


def harness(wasm: bytes, function: str, buffer: bool) -> bytes:
    """The module plus an exported `bench(n)` that calls `function` n times on varying arguments
    (a buffer kernel gets the second memory page, 0 to 4095 bytes long) and sums the results."""
    m = decode(wasm)
    index = m.exported_functions()[function]
    ft = m.func_type(index)
    m, type_index = m.add_type(FuncType((I32,), (I32,)))
    if buffer:
        args = [_i("i32.const", 65536), _i("local.get", 0), _i("i32.const", 4095), _i("i32.and")]
        args += [_i("i32.const", 7)] * (len(ft.params) - 2)
    else:
        args = []
        for p in ft.params:
            args += [_i("local.get", 0), _i("i32.const", -1640531535), _i("i32.mul"), _i("local.get", 1), _i("i32.xor")]
            args += [_i("i64.extend_i32_u")] if p == I64 else []
    wrap = [_i("i32.wrap_i64")] if ft.results[0] == I64 else []
    body = ([_i("loop", -64)] + args + [_i("call", index)] + wrap
            + [_i("local.get", 1), _i("i32.add"), _i("local.set", 1), _i("local.get", 0), _i("i32.const", -1),
               _i("i32.add"), _i("local.tee", 0), _i("br_if", 0), _i("end"), _i("local.get", 1), _i("end")])
    m = m.replace(funcs=m.funcs + (type_index,), bodies=m.bodies + (Body(((1, I32),), tuple(body)),),
                  exports=m.exports + (Export("bench", FUNC, m.num_funcs),))
    return m.encode()


def _runner(engine: wasmtime.Engine, wasm: bytes):
    store = wasmtime.Store(engine)
    instance = wasmtime.Instance(store, wasmtime.Module(engine, wasm), [])
    memory = instance.exports(store).get("memory")
    if memory is not None:
        memory.write(store, random.Random(1).randbytes(4096), 65536)
    bench = instance.exports(store)["bench"]
    return lambda n: bench(store, n)


def ratio(before: bytes, after: bytes, function: str, buffer: bool, n: int) -> tuple[float, float, float]:
    """(median seconds before, after, after / before), the two timed interleaved."""
    config = wasmtime.Config()
    config.cranelift_opt_level = "speed"
    engine = wasmtime.Engine(config)
    a, b = _runner(engine, harness(before, function, buffer)), _runner(engine, harness(after, function, buffer))
    assert a(n) == b(n)
    ta, tb = [], []
    for _ in range(REPEATS):
        for run, out in ((a, ta), (b, tb)):
            t0 = time.thread_time()
            run(n)
            out.append(time.thread_time() - t0)
    ma, mb = statistics.median(ta), statistics.median(tb)
    return ma, mb, mb / ma


def _promoted(g: Genome) -> Genome:
    changes = {}
    for t in g.targets:
        f = facts(g, t)
        if slots := find_slots(f):
            changes[t] = promote(f.body, len(f.local_types), slots)
    return g.with_bodies(changes) if changes else g


@pytest.mark.perf
def test_native_time_of_the_machine_rewrites():
    results = {}
    print(f"\n{'operator':16} {'kernel':12} {'level':5} {'variants':>8} {'before ms':>10} {'after ms':>9} {'ratio':>6}")
    for op, kernel, level, buffer, n in ROWS:
        g = Genome.from_bytes((KERNEL_DIR / f"{kernel}.{level[:2]}.wasm").read_bytes(), kernel.split(".")[0])
        if level == "O0p":
            g = _promoted(g)
        variants = {c.wasm for c in (OPERATORS[op]().apply(random.Random(s), [g]) for s in range(20)) if c}
        timed = sorted(ratio(g.wasm, v, kernel.split(".")[0], buffer, n) for v in variants)
        best = min(timed, key=lambda r: r[2])
        results[(op, kernel, level)] = best[2]
        print(f"{op:16} {kernel:12} {level:5} {len(variants):8} {best[0] * 1e3:10.2f} {best[1] * 1e3:9.2f} {best[2]:6.3f}")
    # Only what is far outside the noise is asserted: a loop replaced by one instruction.
    assert results[("idiom_bits", "popcount", "O2")] < 0.5
    assert results[("idiom_bits", "parity", "O2")] < 0.5
