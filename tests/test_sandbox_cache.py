"""The compile cache: a known specimen costs no compile, in memory and across processes via disk."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from wasmtime import wat2wasm

from jeet.sandbox import CompiledModule, ExecutionResult, ModuleCache, Outcome, Sandbox

ADD = bytes(wat2wasm('(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))'))


def test_second_compile_is_a_memory_hit():
    with Sandbox() as sb:
        first = sb.compile(ADD)
        assert isinstance(first, CompiledModule)
        assert sb.stats.compiled == 1 and sb.stats.memory_hits == 0
        assert sb.compile(bytearray(ADD)) is first
        assert sb.stats.compiled == 1 and sb.stats.memory_hits == 1
        sb.call(ADD, "add", (1, 2))
        assert sb.stats.compiled == 1 and sb.stats.memory_hits == 2


def test_invalid_results_are_cached_too():
    with Sandbox() as sb:
        bad = b"\0asm\x01\0\0\0\x0a"
        r = sb.compile(bad)
        assert isinstance(r, ExecutionResult) and r.outcome is Outcome.INVALID
        assert sb.compile(bad) is r
        assert sb.stats.invalid == 1 and sb.stats.memory_hits == 1


def test_lru_evicts_the_least_recently_used():
    modules = [bytes(wat2wasm(f'(module (func (export "f") (result i32) i32.const {i}))')) for i in range(3)]
    with Sandbox(cache_size=2) as sb:
        a = sb.compile(modules[0])
        sb.compile(modules[1])
        assert sb.compile(modules[0]) is a  # refresh a
        sb.compile(modules[2])  # evicts modules[1]
        assert len(sb.cache) == 2
        compiled_before = sb.stats.compiled
        assert sb.compile(modules[0]) is a
        sb.compile(modules[1])
        assert sb.stats.compiled == compiled_before + 1


def test_disk_cache_reloads_in_a_fresh_sandbox(tmp_path):
    with Sandbox(cache_dir=tmp_path) as sb:
        sb.compile(ADD)
        assert sb.stats.compiled == 1
    files = list(tmp_path.rglob("*.cwasm"))
    assert len(files) == 1
    with Sandbox(cache_dir=tmp_path) as fresh:
        compiled = fresh.compile(ADD)
        assert isinstance(compiled, CompiledModule)
        assert fresh.stats.compiled == 0 and fresh.stats.disk_hits == 1
        assert fresh.call(compiled, "add", (2, 3)).results == (5,)


def test_disk_cache_reloads_in_a_new_process(tmp_path):
    with Sandbox(cache_dir=tmp_path) as sb:
        sb.compile(ADD)
    script = textwrap.dedent(f"""
        from jeet.sandbox import Sandbox
        with Sandbox(cache_dir={str(tmp_path)!r}) as sb:
            r = sb.call({ADD!r}, "add", (40, 2))
            print(sb.stats.compiled, sb.stats.disk_hits, r.results[0])
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "1", "42"]


def test_corrupt_disk_entry_is_recompiled(tmp_path):
    with Sandbox(cache_dir=tmp_path) as sb:
        sb.compile(ADD)
    (path,) = tmp_path.rglob("*.cwasm")
    path.write_bytes(b"not a serialized module")
    with Sandbox(cache_dir=tmp_path) as fresh:
        assert fresh.call(ADD, "add", (1, 1)).results == (2,)
        assert fresh.stats.compiled == 1 and fresh.stats.disk_hits == 0
    with Sandbox(cache_dir=tmp_path) as again:
        again.compile(ADD)
        assert again.stats.disk_hits == 1


def test_cranelift_fallback_modules_are_cached_on_disk(tmp_path):
    m = bytes(wat2wasm('(module (func (export "f") (result i32) ref.null extern ref.is_null))'))
    with Sandbox(cache_dir=tmp_path) as sb:
        sb.compile(m)
    with Sandbox(cache_dir=tmp_path) as fresh:
        compiled = fresh.compile(m)
        assert fresh.stats.disk_hits == 1 and fresh.stats.compiled == 0
        assert fresh.call(compiled, "f").results == (1,)


def test_unwritable_cache_directory_is_not_fatal(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with Sandbox(cache_dir=blocker / "sub") as sb:
        assert sb.call(ADD, "add", (1, 2)).results == (3,)
        assert sb.cache.disk_errors > 0


def test_module_cache_alone():
    cache = ModuleCache(capacity=1)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") is None and cache.get("b") == 2 and "b" in cache
    assert ModuleCache(capacity=0).get("x") is None
