"""A node measures native time itself: what it verifies carries time / the original's, from this machine."""

from __future__ import annotations

import wasmtime

from jeet.node.workload import Workload

# clang -O2's own popcount loop is not faster than -O0's under Cranelift on every machine (on the bench
# machine it measured 1.03x -O0's time); `i32.popcnt` is, many times over
POPCNT = wasmtime.wat2wasm('(module (memory (export "memory") 2 16) (func (export "popcount") '
                           '(param i32) (result i32) local.get 0 i32.popcnt))')


def test_a_verified_module_carries_its_native_time_ratio_measured_here() -> None:
    w = Workload.load("popcount", None, None, None)
    try:
        original = w.check(w.problem.wasm)
        assert original.ok and original.native_ratio == 1.0  # the original is not timed against itself
        fast = w.check(POPCNT)  # the node serves the -O0 build
        assert fast.ok and fast.native_ratio is not None and 0 < fast.native_ratio < 1
    finally:
        w.close()
