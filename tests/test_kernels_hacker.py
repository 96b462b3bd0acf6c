"""The Hacker's Delight group p01-p25: shipped builds that validate, follow their reference, and agree with
each other; a group apart from the default suite, so default benchmarks keep their size."""

from __future__ import annotations

import random
import re
import subprocess
from pathlib import Path

import pytest
import wasmtime

import jeet.kernels as kernels
from jeet.kernels import ALL_KERNELS, HACKER_CATEGORY, HACKER_KERNELS, KERNELS, OPT_LEVELS, Kernel, get_kernel
from jeet.kernels.make_tests import REFERENCES, edge_args, generate, render, sample_args

from toolchain_support import needs_wasm_clang

FUEL = 100_000
RANDOM_INPUTS = 300
MASK = 2**32 - 1
_ENGINE = wasmtime.Engine(wasmtime.Config())


class Build:
    """One instance of one build; `call` returns the i32 result, or None when the call traps."""

    def __init__(self, wasm: bytes, function: str) -> None:
        self.module = wasmtime.Module(_ENGINE, wasm)
        self.store = wasmtime.Store(_ENGINE)
        self.func = wasmtime.Instance(self.store, self.module, []).exports(self.store)[function]

    def call(self, args: tuple) -> int | None:
        try:
            return self.func(self.store, *args) & MASK
        except wasmtime.Trap:
            return None


def inputs(k: Kernel, n: int = RANDOM_INPUTS) -> list[tuple]:
    rng = random.Random(f"test_kernels_hacker:{k.name}")
    return edge_args(k.name) + [sample_args(k.name, rng) for _ in range(n)]


def test_the_group_is_apart_from_the_default_suite() -> None:
    assert len(KERNELS) == 25 and all(k.category in kernels.CATEGORIES for k in KERNELS)
    assert [k.name for k in HACKER_KERNELS] == [f"p{i:02d}" for i in range(1, 26)]
    assert {k.category for k in HACKER_KERNELS} == {HACKER_CATEGORY} and HACKER_CATEGORY not in kernels.CATEGORIES
    assert kernels.kernel_names() == [k.name for k in KERNELS]
    assert ALL_KERNELS == KERNELS + HACKER_KERNELS
    for k in HACKER_KERNELS:
        assert get_kernel(k.name) is k and k.results == ("i32",) and set(k.params) == {"i32"}
    with pytest.raises(ValueError, match="p01 to p25"):
        get_kernel("p26")


@pytest.mark.parametrize("k", HACKER_KERNELS, ids=lambda k: k.name)
def test_files_exist_validate_and_export_the_function(k: Kernel) -> None:
    source = k.source_path().read_text()
    assert re.findall(r"^int (\w+)\(", source, re.MULTILINE) == [k.name]
    code = re.sub(r"/\*.*?\*/", "", source, flags=re.DOTALL)
    assert not re.search(r"\b(for|while|goto)\b", code), "the group is loop-free"
    for opt in OPT_LEVELS:
        wasm = k.wasm(opt)
        module = wasmtime.Module(_ENGINE, wasm)
        assert module.imports == [] and len(wasm) < 2048
        exports = {e.name: e.type for e in module.exports}
        assert set(exports) == {k.function, "memory"}
        assert [str(t) for t in exports[k.function].params] == list(k.params)
    assert k.tests_path() is not None
    assert k.tests_path().read_text() == render(generate(k)), f"{k.name}.jsonl is stale: run make_tests"


@pytest.mark.parametrize("k", HACKER_KERNELS, ids=lambda k: k.name)
def test_every_build_follows_the_reference_and_O0_agrees_with_O2(k: Kernel) -> None:
    builds = {opt: Build(k.wasm(opt), k.function) for opt in OPT_LEVELS}
    ref = REFERENCES[k.name]
    for args in inputs(k) + [tuple(0 for _ in k.params)]:
        o0 = builds["O0"].call(args)
        if o0 is None:  # only p20 at 0 divides by zero; clang -O2 is free to do anything there
            assert k.name == "p20" and args == (0,)
            continue
        assert o0 == ref(*args)[0] & MASK, f"{k.name}{args}"
        for opt in ("O2", "O2opt"):
            assert builds[opt].call(args) == o0, f"{k.name}{args} at {opt}"


@needs_wasm_clang
def test_build_sh_rebuilds_the_shipped_group(tmp_path: Path) -> None:
    names = [k.name for k in HACKER_KERNELS[:3]]
    subprocess.run(["sh", str(Path(kernels.__file__).parent / "build.sh"), str(tmp_path), *names], check=True,
                   capture_output=True, timeout=120)
    for name in names:
        for opt in ("O0", "O2"):
            assert (tmp_path / f"{name}.{opt}.wasm").read_bytes() == get_kernel(name).wasm(opt)
