"""A node measures native time itself: what it verifies carries time / the original's, from this machine."""

from __future__ import annotations

from jeet.kernels import get_kernel
from jeet.node.workload import Workload


def test_a_verified_module_carries_its_native_time_ratio_measured_here() -> None:
    w = Workload.load("popcount", None, None, None)
    try:
        original = w.check(w.problem.wasm)
        assert original.ok and original.native_ratio == 1.0  # the original is not timed against itself
        fast = w.check(get_kernel("popcount").wasm("O2opt"))  # the node serves the -O0 build
        assert fast.ok and fast.native_ratio is not None and 0 < fast.native_ratio < 1
    finally:
        w.close()
