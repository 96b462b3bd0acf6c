"""A node's store stays under its caps whatever it is sent, and a module that imports what the workload does
not provide is refused before it is run, stored or offered (as `jeet run` refuses it)."""

from __future__ import annotations

import pytest
import wasmtime

from jeet.kernels import get_kernel
from jeet.node import Workload

from node_support import NodeProcess, wait_for

pytestmark = pytest.mark.timeout(180)

BETTER = get_kernel("popcount").wasm("O2")
# the kernel's interface kept (its memory is exported, so observable): only the code changes
POPCNT = ('(memory (export "memory") 2 16) '
          '(func (export "popcount") (param i32) (result i32) local.get 0 i32.popcnt)')
WITH_WASI = bytes(wasmtime.wat2wasm(
    '(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))) '
    + POPCNT + ')'))  # fd_write is never called: the code is right, the import is what is wrong
PLAIN = bytes(wasmtime.wat2wasm(f"(module {POPCNT})"))


def variant(k: int) -> bytes:
    """BETTER with a custom section holding `k`: the same code under another hash (and 40 KB bigger)."""
    name = b"pad"
    content = bytes([len(name)]) + name + k.to_bytes(4, "big") + bytes(40_000)
    n = len(content)
    leb = bytes([(n & 0x7F) | 0x80, ((n >> 7) & 0x7F) | 0x80, (n >> 14) & 0x7F])
    return BETTER + b"\x00" + leb + content


def test_an_import_the_workload_does_not_provide_is_refused_before_it_runs():
    w = Workload.load("popcount", None, None, None)
    try:
        assert w.check(PLAIN).ok
        check = w.check(WITH_WASI)
        assert not check.ok and check.fuel == 0
        assert "wasi_snapshot_preview1.fd_write" in check.reason and "does not provide" in check.reason
    finally:
        w.close()


def test_a_node_refuses_an_importing_module_and_forgets_under_its_caps(tmp_path):
    node = NodeProcess(tmp_path / "a", "--no-evolve", "--max-specimens", "32").start()
    try:
        code, verdict = node.post(WITH_WASI)
        assert code == 422 and "fd_write" in verdict["reason"], verdict
        for k in range(60):
            code, verdict = node.post(variant(k))
            assert code == 200 and verdict["ok"], verdict
        store = node.status()["store"]
        assert store["specimens"] <= 32, store  # 60 accepted, the least relevant forgotten
        assert store["max_specimens"] == 32 and store["max_store_mb"] == 256.0
    finally:
        node.stop(kill=True)


def test_a_node_has_caps_by_default(tmp_path):
    node = NodeProcess(tmp_path / "a", "--no-evolve").start()
    try:
        store = node.status()["store"]
        assert store["max_specimens"] == 4096 and store["max_store_mb"] == 256.0
    finally:
        node.stop(kill=True)
