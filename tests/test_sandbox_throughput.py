"""Throughput: a fresh ~1 KB candidate, compiled and run on 8 cases, must cost about a millisecond.

jeet's budget is >= 1,000 full evaluations per second per core; the assertion here is looser
(machines running the suite are shared and noisy) but still catches a slow path creeping in.
"""

from __future__ import annotations

import pytest

import random
import time

from wasmtime import wat2wasm

from jeet.oracle import Case
from jeet.sandbox import Sandbox


def candidate(variant: int) -> bytes:
    """A ~1 KB module: twelve small loop kernels and an exported driver (distinct bytes per variant)."""
    helpers = []
    for k in range(12):
        helpers.append(f"""
  (func $g{k} (param i32 i32) (result i32) (local i32 i32)
    local.get 0 i32.const {k + 1} i32.mul local.get 1 i32.xor local.set 2
    (block (loop
      local.get 2 i32.const 1 i32.shr_u local.tee 2 i32.eqz br_if 1
      local.get 3 local.get 2 i32.add i32.const {k * 7 + 3} i32.rotl local.set 3
      i32.const {64 + 4 * k} local.get 3 i32.store
      br 0))
    local.get 3 i32.const {64 + 4 * k} i32.load i32.add)""")
    calls = " ".join(f"local.get 0 local.get 1 call $g{k} local.get 0 i32.add local.set 0" for k in range(12))
    text = f"""(module (memory (export "memory") 1)
  {''.join(helpers)}
  (func (export "f") (param i32 i32) (result i32) {calls} local.get 0 i32.const {variant} i32.add))"""
    return bytes(wat2wasm(text))


def test_module_is_about_one_kilobyte():
    assert 900 <= len(candidate(0)) <= 1300


@pytest.mark.perf
def test_fresh_candidates_per_second():
    rng = random.Random(0)
    cases = [Case((rng.getrandbits(32), rng.randrange(1000))) for _ in range(8)]
    modules = [candidate(v) for v in range(300)]
    assert len(set(modules)) == len(modules)
    with Sandbox() as sb:
        sb.run(modules[0], "f", cases)
        t0 = time.perf_counter()
        for m in modules[1:]:
            results = sb.run(m, "f", cases)
            assert all(r.ok for r in results)
        elapsed = time.perf_counter() - t0
        stats = sb.stats
    n = len(modules) - 1
    rate = n / elapsed
    compile_ms = stats.compile_s / stats.compiled * 1e3
    case_us = (elapsed - stats.compile_s * n / stats.compiled) / (8 * n) * 1e6
    print(f"\n{rate:.0f} evaluations/s ({compile_ms:.3f} ms compile, {case_us:.1f} us/case, {sb.compiler})")
    assert rate > 250, f"{rate:.0f} evaluations/s"


@pytest.mark.perf
def test_cached_candidates_per_second():
    rng = random.Random(1)
    cases = [Case((rng.getrandbits(32), rng.randrange(1000))) for _ in range(8)]
    m = candidate(0)
    with Sandbox() as sb:
        sb.run(m, "f", cases)
        t0 = time.perf_counter()
        for _ in range(200):
            sb.run(m, "f", cases)
        elapsed = time.perf_counter() - t0
    per_case_us = elapsed / (200 * 8) * 1e6
    print(f"\ncache hit: {200 / elapsed:.0f} evaluations/s, {per_case_us:.1f} us/case")
    assert per_case_us < 250
