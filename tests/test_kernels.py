"""The built-in kernel suite: every shipped module is small, self-contained, and computes what its reference says."""

from __future__ import annotations

import base64
import fnmatch
import json
import math
import random
import re
import shutil
import struct
import subprocess
import tomllib
from pathlib import Path

import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jeet.kernels as kernels
from jeet.kernels import BUFFER_BASE, BUFFER_LIMIT, DEFAULT_KERNEL, KERNELS, OPT_LEVELS, Kernel, get_kernel
from jeet.kernels.make_tests import BUFFER_REFERENCES, REFERENCES, edge_args, generate, render, sample_args

from toolchain_support import needs_wasm_clang

FUEL = 1_000_000
RANDOM_INPUTS = 50
KERNEL_DIR = Path(kernels.__file__).resolve().parent
REPO = Path(__file__).resolve().parents[1]
SCALAR = [k for k in KERNELS if k.category != "buffer"]
BUFFER = [k for k in KERNELS if k.category == "buffer"]
WIDTH = {"i32": 32, "i64": 64}


def _ids(k: Kernel) -> str:
    return k.name


_ENGINE: wasmtime.Engine | None = None


def engine() -> wasmtime.Engine:
    global _ENGINE
    if _ENGINE is None:
        config = wasmtime.Config()
        config.consume_fuel = True
        _ENGINE = wasmtime.Engine(config)
    return _ENGINE


class Runner:
    """One instance of a kernel module; every call gets a fresh FUEL budget and reports what it used."""

    def __init__(self, kernel: Kernel, wasm: bytes) -> None:
        self.kernel = kernel
        self.store = wasmtime.Store(engine())
        self.module = wasmtime.Module(engine(), wasm)
        self.instance = wasmtime.Instance(self.store, self.module, [])
        exports = self.instance.exports(self.store)
        self.func = exports[kernel.function]
        self.memory = exports["memory"]

    def call(self, args: tuple | list, memory: list | None = None) -> tuple[tuple, int]:
        for ptr, data in memory or ():
            self.memory.write(self.store, data, ptr)
        self.store.set_fuel(FUEL)
        out = self.func(self.store, *args)
        used = FUEL - self.store.get_fuel()
        return (tuple(out) if isinstance(out, list) else (out,)), used


_RUNNERS: dict[tuple[str, str], Runner] = {}


def runner(kernel: Kernel, opt: str) -> Runner:
    key = (kernel.name, opt)
    if key not in _RUNNERS:
        _RUNNERS[key] = Runner(kernel, kernel.wasm(opt))
    return _RUNNERS[key]


def same_value(kind: str, got: object, want: object) -> bool:
    if kind == "f64":
        if math.isnan(want):
            return math.isnan(got)
        return struct.pack("<d", got) == struct.pack("<d", want)
    mask = (1 << WIDTH[kind]) - 1
    return (got & mask) == (want & mask)


def assert_results(kernel: Kernel, args: object, got: tuple, want: tuple | list) -> None:
    assert len(got) == len(want) == len(kernel.results)
    for kind, g, w in zip(kernel.results, got, want):
        assert same_value(kind, g, w), f"{kernel.name}{tuple(args)!r}: got {g!r}, want {w!r}"


def scalar_inputs(kernel: Kernel) -> list[tuple]:
    rng = random.Random(f"test_kernels:{kernel.name}")
    return edge_args(kernel.name) + [sample_args(kernel.name, rng) for _ in range(RANDOM_INPUTS)]


def load_cases(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def decoded_memory(case: dict) -> list[tuple[int, bytes]]:
    return [(ptr, base64.b64decode(text)) for ptr, text in case.get("memory", [])]


# --- registry -------------------------------------------------------------------------------

def test_registry_lists_the_suite() -> None:
    names = kernels.kernel_names()
    assert len(names) == len(set(names)) >= 14
    assert DEFAULT_KERNEL == "popcount" == names[0]
    assert {k.category for k in KERNELS} == set(kernels.CATEGORIES)
    assert len(BUFFER) >= 4
    assert len([k for k in KERNELS if "f64" in k.params + k.results]) >= 1
    for k in KERNELS:
        assert get_kernel(k.name) is k
        assert k.function == k.name
        assert set(k.params + k.results) <= {"i32", "i64", "f64"}
        assert k.description


def test_unknown_kernel_names_the_choices() -> None:
    with pytest.raises(ValueError, match="popcount.*adler32"):
        get_kernel("no_such_kernel")
    with pytest.raises(ValueError, match="O0"):
        get_kernel("popcount").wasm_path("O3")


@pytest.mark.parametrize("kernel", KERNELS, ids=_ids)
def test_files_exist_and_source_defines_one_function(kernel: Kernel) -> None:
    source = kernel.source_path().read_text()
    defined = re.findall(r"^[A-Za-z_][\w \t\*]*?\b(\w+)\s*\([^;{]*\)\s*\{", source, re.MULTILINE)
    assert defined == [kernel.function]
    for opt in OPT_LEVELS:
        assert kernel.wasm_path(opt).is_file()
    assert kernel.tests_path() is not None


def test_package_data_patterns_ship_every_kernel_file() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["jeet.kernels"]
    for path in KERNEL_DIR.rglob("*"):
        rel = path.relative_to(KERNEL_DIR).as_posix()
        if path.is_dir() or rel.endswith(".py") or "__pycache__" in rel:
            continue
        assert any(fnmatch.fnmatch(rel, p) for p in patterns), f"{rel} would not be installed"


# --- module shape ---------------------------------------------------------------------------

def _leb(data: bytes, pos: int, signed: bool = False) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    if signed and byte & 0x40:
        result -= 1 << shift
    return result, pos


def _sections(wasm: bytes) -> dict[int, bytes]:
    assert wasm[:8] == b"\0asm\1\0\0\0"
    sections: dict[int, bytes] = {}
    pos = 8
    while pos < len(wasm):
        sid = wasm[pos]
        size, pos = _leb(wasm, pos + 1)
        if sid != 0:
            sections[sid] = wasm[pos:pos + size]
        pos += size
    return sections


def _const_i32(body: bytes, pos: int) -> tuple[int, int]:
    assert body[pos] == 0x41, "expected an i32.const initialiser"
    value, pos = _leb(body, pos + 1, signed=True)
    assert body[pos] == 0x0B
    return value, pos + 1


def static_extent(wasm: bytes) -> int:
    """Highest address the module itself claims: the shadow stack's top (global 0) or the end of any data."""
    sections = _sections(wasm)
    top = 0
    if 6 in sections:
        body = sections[6]
        count, pos = _leb(body, 0)
        for _ in range(count):
            valtype, pos = body[pos], pos + 2
            if valtype == 0x7F:
                value, pos = _const_i32(body, pos)
                top = max(top, value)
            else:
                pytest.fail("kernel modules should only hold the i32 stack pointer global")
    if 11 in sections:
        body = sections[11]
        count, pos = _leb(body, 0)
        for _ in range(count):
            flags, pos = _leb(body, pos)
            assert flags == 0, "only active data segments in memory 0"
            offset, pos = _const_i32(body, pos)
            size, pos = _leb(body, pos)
            pos += size
            top = max(top, offset + size)
    return top


@pytest.mark.parametrize("opt", OPT_LEVELS)
@pytest.mark.parametrize("kernel", KERNELS, ids=_ids)
def test_module_is_small_and_self_contained(kernel: Kernel, opt: str) -> None:
    wasm = kernel.wasm(opt)
    assert len(wasm) < 2048
    module = wasmtime.Module(engine(), wasm)
    assert module.imports == []
    exports = {e.name: e.type for e in module.exports}
    assert set(exports) == {kernel.function, "memory"}
    functype = exports[kernel.function]
    assert [str(t) for t in functype.params] == list(kernel.params)
    assert [str(t) for t in functype.results] == list(kernel.results)
    limits = exports["memory"].limits
    assert limits.min == BUFFER_LIMIT // 65536 and limits.max == 16
    assert static_extent(wasm) <= BUFFER_BASE, "stack or data reaches into the buffer page"


@pytest.mark.skipif(shutil.which("wasm-tools") is None, reason="wasm-tools not installed")
@pytest.mark.parametrize("kernel", KERNELS, ids=_ids)
def test_O0_build_keeps_clangs_stack_frame(kernel: Kernel) -> None:
    text = subprocess.run(["wasm-tools", "print", str(kernel.wasm_path("O0"))],
                          check=True, capture_output=True, text=True).stdout
    assert "global.get $__stack_pointer" in text
    assert re.search(r"\b(i32|i64|f64)\.store\b", text) and re.search(r"\b(i32|i64|f64)\.load\b", text)


# --- behaviour ------------------------------------------------------------------------------

@pytest.mark.parametrize("opt", OPT_LEVELS)
@pytest.mark.parametrize("kernel", SCALAR, ids=_ids)
def test_scalar_kernel_matches_reference(kernel: Kernel, opt: str) -> None:
    run = runner(kernel, opt)
    ref = REFERENCES[kernel.name]
    for args in scalar_inputs(kernel):
        got, used = run.call(args)  # running out of fuel traps, so finishing proves used <= FUEL
        assert used <= FUEL
        assert_results(kernel, args, got, ref(*args))


_I32 = st.integers(-(2**31), 2**31 - 1)
_ANY_ARG = {"i32": _I32, "f64": st.floats(allow_nan=True, allow_infinity=True)}
_PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("opt", OPT_LEVELS)
@pytest.mark.parametrize("kernel", SCALAR, ids=_ids)
@_PROPERTY
@given(data=st.data())
def test_scalar_kernel_matches_reference_on_any_input(kernel: Kernel, opt: str, data: st.DataObject) -> None:
    args = tuple(data.draw(_ANY_ARG[t], label=t) for t in kernel.params)
    got, _ = runner(kernel, opt).call(args)
    assert_results(kernel, args, got, REFERENCES[kernel.name](*args))


@pytest.mark.parametrize("opt", OPT_LEVELS)
@pytest.mark.parametrize("kernel", BUFFER, ids=_ids)
@_PROPERTY
@given(buf=st.binary(max_size=600), offset=st.integers(0, 4096), byte=_I32)
def test_buffer_kernel_matches_reference_on_any_buffer(kernel: Kernel, opt: str, buf: bytes, offset: int,
                                                       byte: int) -> None:
    ptr = BUFFER_BASE + offset
    extra = (byte,) if len(kernel.params) == 3 else ()
    got, _ = runner(kernel, opt).call((ptr, len(buf), *extra), [(ptr, buf)])
    assert_results(kernel, (ptr, len(buf), *extra), got, BUFFER_REFERENCES[kernel.name](buf, *extra))


@pytest.mark.parametrize("opt", OPT_LEVELS)
@pytest.mark.parametrize("kernel", KERNELS, ids=_ids)
def test_every_tests_file_case_passes(kernel: Kernel, opt: str) -> None:
    run = runner(kernel, opt)
    for case in load_cases(kernel.tests_path()):
        memory = decoded_memory(case)
        got, _ = run.call(case["args"], memory)
        assert_results(kernel, case["args"], got, case["expect"])
        for ptr, data in memory:
            assert run.memory.read(run.store, ptr, ptr + len(data)) == data, "kernel wrote into its input"


@pytest.mark.parametrize("kernel", BUFFER, ids=_ids)
def test_buffer_tests_files_cover_the_edges(kernel: Kernel) -> None:
    cases = load_cases(kernel.tests_path())
    assert 200 <= len(cases) <= 400
    buffers = []
    for case in cases:
        [(ptr, data)] = decoded_memory(case)
        assert case["args"][:2] == [ptr, len(data)]
        assert BUFFER_BASE <= ptr and ptr + len(data) <= BUFFER_LIMIT
        extra = case["args"][2:]
        assert case["expect"] == list(BUFFER_REFERENCES[kernel.name](data, *extra))
        buffers.append(data)
    assert b"" in buffers
    assert any(len(b) == 1 for b in buffers)
    assert any(len(b) > 1 and b == bytes(len(b)) for b in buffers)
    assert any(len(b) > 1 and b == b"\xff" * len(b) for b in buffers)
    assert max(map(len, buffers)) >= 256


def test_tests_files_are_what_make_tests_generates() -> None:
    for kernel in KERNELS:
        assert kernel.tests_path().read_text() == render(generate(kernel)), f"{kernel.name}.jsonl is stale"


@pytest.mark.parametrize("kernel", KERNELS, ids=_ids)
def test_O2_costs_less_fuel_than_O0(kernel: Kernel) -> None:
    total = {}
    for opt in OPT_LEVELS:
        run = runner(kernel, opt)
        total[opt] = sum(run.call(c["args"], decoded_memory(c))[1] for c in load_cases(kernel.tests_path()))
    assert total["O2"] < total["O0"]
    assert total["O2opt"] < total["O0"]


def test_every_kernel_ships_a_production_build_distinct_from_clang_O2() -> None:
    """O2opt is wasm-opt -O3 of the O2 build: a separate, smaller file for every kernel."""
    assert kernels.CLANG_LEVELS == ("O0", "O2") and "O2opt" in OPT_LEVELS
    for kernel in KERNELS:
        o2, o2opt = kernel.wasm("O2"), kernel.wasm("O2opt")
        assert o2opt != o2 and len(o2opt) <= len(o2)


def test_popcount_fuel_grows_with_the_highest_set_bit() -> None:
    run = runner(get_kernel("popcount"), "O0")
    costs = [run.call((1 << bit,))[1] for bit in range(31)]
    assert costs == sorted(costs) and costs[0] < costs[-1]


# --- rebuilding -----------------------------------------------------------------------------

@needs_wasm_clang
def test_build_sh_rebuilds_equivalent_modules(tmp_path: Path) -> None:
    subprocess.run(["sh", str(KERNEL_DIR / "build.sh"), str(tmp_path)], check=True, capture_output=True, timeout=120)
    levels = OPT_LEVELS if shutil.which("wasm-opt") else kernels.CLANG_LEVELS  # O2opt needs wasm-opt
    for kernel in KERNELS:
        for opt in levels:
            rebuilt_bytes = (tmp_path / f"{kernel.name}.{opt}.wasm").read_bytes()
            assert len(rebuilt_bytes) < 2048
            rebuilt = Runner(kernel, rebuilt_bytes)
            assert rebuilt.module.imports == []
            assert static_extent(rebuilt_bytes) <= BUFFER_BASE
            shipped = runner(kernel, opt)
            if kernel.category == "buffer":
                inputs = [(c["args"], decoded_memory(c)) for c in load_cases(kernel.tests_path())[:60]]
            else:
                inputs = [(args, None) for args in scalar_inputs(kernel)]
            for args, memory in inputs:
                want, _ = shipped.call(args, memory)
                got, _ = rebuilt.call(args, memory)
                assert_results(kernel, args, got, want)
