"""Speed budgets of the codec (best of several runs, bounds 5x the targets to stay robust).

Targets: decode a 2 KB module < 2 ms, encode after one body change < 0.1 ms, analyze a
300-instruction body < 1 ms.
"""

import time

import pytest
import wasmtime

from jeet.wasm import Instr, analyze, decode


def best_of(fn, runs: int = 30) -> float:
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def function(k: int, n: int) -> str:
    ops = []
    for i in range(n):
        ops.append(f"(local.set 1 (i32.add (i32.mul (local.get 1) (i32.const {i * 7 + k})) (local.get 0)))")
        if i % 5 == 0:
            ops.append(f"(if (i32.gt_u (local.get 1) (i32.const {1000 + i})) (then (local.set 1 (i32.shr_u (local.get 1) (i32.const 3)))))")
    return (f"(func $f{k} (export \"f{k}\") (param i32) (result i32) (local i32)\n"
            f"  (loop $l {' '.join(ops)} (br_if $l (i32.lt_u (local.tee 0 (i32.add (local.get 0) (i32.const 1))) (i32.const 10))))\n"
            f"  (local.get 1))")


@pytest.fixture(scope="module")
def module_2k() -> bytes:
    data = bytes(wasmtime.wat2wasm("(module " + " ".join(function(k, 11) for k in range(8)) + ")"))
    assert 1500 < len(data) < 2600
    return data


@pytest.fixture(scope="module")
def big_body() -> bytes:
    return bytes(wasmtime.wat2wasm("(module " + function(0, 36) + ")"))


@pytest.mark.perf
def test_decode_2k_module(module_2k):
    assert best_of(lambda: decode(module_2k)) < 0.010


@pytest.mark.perf
def test_encode_after_one_body_change(module_2k):
    m = decode(module_2k)
    body = m.bodies[3]
    k = next(i for i, x in enumerate(body.instrs) if x.name == "i32.const")
    ins = list(body.instrs)
    ins[k] = Instr.named("i32.const", 12345)
    new = body.with_instrs(ins)
    assert best_of(lambda: m.with_body(3, new).encode()) < 0.0005


@pytest.mark.perf
def test_analyze_300_instructions(big_body):
    m = decode(big_body)
    assert 280 <= len(m.bodies[0].instrs) <= 400
    assert best_of(lambda: analyze(m, 0)) < 0.005
