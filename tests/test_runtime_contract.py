"""The runtime's contract: only functions without observable state evolve, decided statically (or declared);
each thread has its own instance; the test hooks live apart from shipped code."""

from __future__ import annotations

import ast
from pathlib import Path

import wasmtime

from jeet.kernels import get_kernel
from jeet.runtime import Function, Runtime

# popcount that also writes memory when x == TRIGGER: no generated or held-out case hits it (the module
# names it only through x * 12345 == C, so no constant of the module leads a generator to it, and it is
# no small number or address), and a later call would see the write (it reads address 0 into its answer)
TRIGGER = 0x1E3779B9
WRITES_AT_TRIGGER = f"""(module (memory 1) (func (export "pc") (param i32) (result i32)
  local.get 0 i32.const 12345 i32.mul i32.const {TRIGGER * 12345 % 2**32} i32.eq
  (if (then i32.const 0 local.get 0 i32.store))
  local.get 0 i32.popcnt i32.const 0 i32.load i32.add))"""
POPCNT_READS_0 = """(module (memory 1) (func (export "pc") (param i32) (result i32)
  local.get 0 i32.popcnt i32.const 0 i32.load i32.add))"""
SRC = Path(__file__).resolve().parents[1] / "src" / "jeet"


def test_a_function_that_writes_memory_on_one_input_is_pinned_by_the_static_check(tmp_path):
    with Runtime(tmp_path, hot=1) as rt:
        fn = rt.load(WRITES_AT_TRIGGER, "pc")
        assert fn(3) == 2
        assert fn.wait(30) == "pinned"
        stats = fn.stats()
        assert stats["pinned"].startswith("stateful") and "store" in stats["pinned"]
        assert stats["state"].startswith("stateful") and stats["instances"] == "per thread"
        assert not fn.offer(wasmtime.wat2wasm(POPCNT_READS_0), require_better=False)  # never evolved
        assert fn(TRIGGER) == 19 + TRIGGER and fn(3) == 2 + TRIGGER  # the original's own behaviour, state and all


def test_a_function_declared_pure_may_evolve_though_the_static_check_cannot_show_it(tmp_path):
    with Runtime(tmp_path / "tested", hot=0, prove=False) as rt:
        fn = rt.load(WRITES_AT_TRIGGER, "pc", pure=True)
        assert fn.stats()["state"] == "declared pure"
        assert fn.offer(wasmtime.wat2wasm(POPCNT_READS_0), require_better=False)
    # the runtime's own proof still sees that the answer for TRIGGER differs: not served
    with Runtime(tmp_path / "proved", hot=0) as rt:
        fn = rt.load(WRITES_AT_TRIGGER, "pc", pure=True)
        assert not fn.offer(wasmtime.wat2wasm(POPCNT_READS_0), require_better=False)


def test_clang_code_with_a_shadow_stack_frame_passes_the_static_check(tmp_path):
    k = get_kernel("popcount")
    with Runtime(tmp_path, hot=0) as rt:
        fn = rt.load(k.wasm("O0"), k.function)
        assert fn.stats()["state"] == "no observable state (static check)"
        # verified on the held-out cases, cheaper, and natively faster (clang -O2's own loop is not faster
        # than -O0's under Cranelift on every machine; `i32.popcnt` is, many times over)
        assert fn.offer(wasmtime.wat2wasm('(module (memory (export "memory") 2 16) (func (export "popcount") '
                                          '(param i32) (result i32) local.get 0 i32.popcnt))'))


def test_no_test_hook_on_function_and_no_shipped_module_imports_the_testing_module():
    assert not any(hasattr(Function, name) for name in ("_force_champion", "_adopt"))
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").endswith("testing") or path.name == "testing.py", path


def test_function_and_supervisor_do_not_import_each_other_or_the_runtime():
    def imports(name: str) -> set[str]:
        tree = ast.parse((SRC / "runtime" / f"{name}.py").read_text(encoding="utf-8"))
        return {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 1}

    assert not imports("function") & {"runtime", "supervisor"}
    assert not imports("supervisor") & {"runtime"}
    assert not imports("function_record") & {"runtime", "supervisor", "function"}


def test_a_variant_the_supervisor_did_not_verify_cannot_be_installed(tmp_path):
    from jeet.runtime.variant import Variant

    with Runtime(tmp_path, hot=0, prove=False) as rt:  # the variant differs at TRIGGER: only tests would let it in
        fn = rt.load(WRITES_AT_TRIGGER, "pc", pure=True)
        unverified = Variant(fn.original.serving, wasmtime.wat2wasm(POPCNT_READS_0), "pc", fn.signature)
        assert not fn.install(unverified) and fn.champion is fn.original
        assert fn.offer(unverified.wasm, require_better=False)  # the verified way in
        assert fn.champion.sha256 == unverified.sha256
