"""The wasmtime boundary (`jeet.sandbox._wasmtime`): the self-test, exact raw bits, trap codes, the fallback.

Upgrading wasmtime touches `_wasmtime.py` and this file: if these pass, the raw call path is sound."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import wasmtime

from jeet.sandbox import Limits, Outcome, Sandbox
from jeet.sandbox import _wasmtime as wt
from jeet.runtime.lanes import make_lane

ROOT = Path(__file__).resolve().parents[1]

IDENTITY = wasmtime.wat2wasm("""(module
  (func (export "i32") (param i32) (result i32) local.get 0)
  (func (export "i64") (param i64) (result i64) local.get 0)
  (func (export "f32") (param f32) (result f32) local.get 0)
  (func (export "f64") (param f64) (result f64) local.get 0)
  (func (export "swap") (param i32 i64 f32 f64) (result f64 f32 i64 i32)
    local.get 3 local.get 2 local.get 1 local.get 0)
  (func (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
  (func (export "spin") (loop br 0)))""")

NAN_BITS = {
    "f32": [0x7FC00000, 0xFFC00000, 0x7FA00001, 0xFF800001, 0x7FBFFFFF, 0x7F800000, 0x80000000, 0x00000001],
    "f64": [0x7FF8000000000000, 0x7FF4000000000001, 0xFFF0000000000001, 0x7FF7FFFFFFFFFFFF, 0x8000000000000000],
    "i32": [0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF],
    "i64": [0, 1, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0xFFFFFFFFFFFFFFFF],
}
SIGNALLING = {0x7FA00001, 0xFF800001, 0x7FBFFFFF, 0x7FF4000000000001, 0xFFF0000000000001, 0x7FF7FFFFFFFFFFFF}


def _instance() -> tuple[wasmtime.Store, dict]:
    engine = wasmtime.Engine(wt.engine_config("cranelift", "none", 512 * 1024))
    store = wasmtime.Store(engine)
    store.set_fuel(10_000)
    store.set_epoch_deadline(1 << 40)
    exports = wasmtime.Instance(store, wasmtime.Module(engine, IDENTITY), ()).exports(store)
    return store, exports


def _func(store: wasmtime.Store, exports: dict, name: str, params: tuple, results: tuple, raw: bool) -> wt.RawFunc:
    return wt.RawFunc(wt.context(store), exports[name], wt.call_shape(params, results), store, raw=raw)


def test_the_self_test_passes_on_the_installed_wasmtime():
    assert wt.self_test() == ""
    assert wt.problem() == "" and wt.raw_calls()


def test_the_pin_matches_the_tested_and_installed_major_version():
    pin = re.search(r'"wasmtime>=(\d+),<(\d+)"', (ROOT / "pyproject.toml").read_text())
    assert pin is not None, "pyproject.toml must pin wasmtime to one major version"
    assert (int(pin[1]), int(pin[2])) == (wt.TESTED_MAJOR, wt.TESTED_MAJOR + 1)
    assert wt.version().split(".")[0] == str(wt.TESTED_MAJOR)


@pytest.mark.parametrize("valtype", sorted(NAN_BITS))
def test_raw_calls_round_trip_every_bit_pattern_nan_payloads_included(valtype):
    store, exports = _instance()
    func = _func(store, exports, valtype, (valtype,), (valtype,), raw=True)
    for bits in NAN_BITS[valtype]:
        assert func.call((bits,)) == ((bits,), None), hex(bits)


@pytest.mark.parametrize("valtype", sorted(NAN_BITS))
def test_the_sandbox_returns_nan_payloads_exactly(valtype):
    with Sandbox() as sb:
        for bits in NAN_BITS[valtype]:
            result = sb.call(IDENTITY, valtype, (bits,))
            assert result.outcome is Outcome.OK and result.results == (bits,), hex(bits)


def test_values_land_in_the_right_slots_of_a_mixed_signature():
    store, exports = _instance()
    func = _func(store, exports, "swap", ("i32", "i64", "f32", "f64"), ("f64", "f32", "i64", "i32"), raw=True)
    args = (0x80000001, 0x8000000000000003, 0x7FA00001, 0xFFF4000000000001)
    assert func.call(args) == (tuple(reversed(args)), None)


def test_traps_are_classified_by_code():
    store, exports = _instance()
    div = _func(store, exports, "div", ("i32", "i32"), ("i32",), raw=True)
    assert div.call((7, 2)) == ((3,), None)
    _, failure = div.call((1, 0))
    assert (failure.kind, failure.code) == ("trap", wasmtime.TrapCode.INTEGER_DIVISION_BY_ZERO)
    _, failure = div.call((0x80000000, 0xFFFFFFFF))
    assert (failure.kind, failure.code) == ("trap", wasmtime.TrapCode.INTEGER_OVERFLOW)
    assert failure.message == "wasm trap: integer overflow"
    store.set_fuel(500)
    _, failure = _func(store, exports, "spin", (), (), raw=True).call(())
    assert (failure.kind, failure.code) == ("fuel", wasmtime.TrapCode.OUT_OF_FUEL)
    store.set_fuel(1 << 40)
    store.set_epoch_deadline(1)
    store.engine.increment_epoch()
    _, failure = _func(store, exports, "spin", (), (), raw=True).call(())
    assert (failure.kind, failure.code) == ("interrupt", wasmtime.TrapCode.INTERRUPT)


def test_a_missing_import_traps_with_its_name():
    module = wasmtime.wat2wasm('(module (import "env" "g" (func $g)) (func (export "f") call $g))')
    with Sandbox() as sb:
        result = sb.call(module, "f")
    assert result.outcome is Outcome.TRAP and result.message == "import env.g not provided"


def test_store_limits_are_resource_failures():
    assert wt.from_error("memory minimum size of 2 pages exceeds memory limits").kind == "resource"
    assert wt.from_error("something else").kind == "error"


def test_the_public_path_agrees_with_the_raw_path_except_for_signalling_nans():
    store, exports = _instance()
    for valtype, patterns in NAN_BITS.items():
        raw = _func(store, exports, valtype, (valtype,), (valtype,), raw=True)
        public = _func(store, exports, valtype, (valtype,), (valtype,), raw=False)
        for bits in patterns:
            if bits not in SIGNALLING:
                assert public.call((bits,)) == raw.call((bits,)), hex(bits)
    div = _func(store, exports, "div", ("i32", "i32"), ("i32",), raw=False)
    assert div.call((0xFFFFFFF9, 2)) == ((0xFFFFFFFD,), None)
    _, failure = div.call((1, 0))
    assert (failure.kind, failure.code) == ("trap", wasmtime.TrapCode.INTEGER_DIVISION_BY_ZERO)
    swap = _func(store, exports, "swap", ("i32", "i64", "f32", "f64"), ("f64", "f32", "i64", "i32"), raw=False)
    assert swap.call((1, 2, 0x3F800000, 0x4000000000000000)) == ((0x4000000000000000, 0x3F800000, 2, 1), None)


def test_the_public_lane_behaves_like_the_raw_lane(monkeypatch):
    store, exports = _instance()

    def slow(lane, *args):
        return lane(*(int(a) for a in args))

    raw = make_lane(store, exports["div"], ("i32", "i32"), ("i32",), slow, deadline=1000)
    monkeypatch.setattr(wt, "_checked", ["forced by the test"])
    assert not wt.raw_calls()
    public = make_lane(store, exports["div"], ("i32", "i32"), ("i32",), slow, deadline=1000)
    for args in ((7, 2), (-7, 2), ("9", 3), (2**31 - 1, -1)):
        assert public(*args) == raw(*args)
    for lane in (raw, public):
        with pytest.raises(wasmtime.Trap) as caught:
            lane(1, 0)
        assert caught.value.trap_code is wasmtime.TrapCode.INTEGER_DIVISION_BY_ZERO


def test_a_failed_self_test_falls_back_to_the_public_path_with_one_warning():
    script = textwrap.dedent("""
        import wasmtime
        from jeet.sandbox import Limits, Sandbox
        from jeet.sandbox import _wasmtime as wt
        from jeet.symbiosis.linking import LinkedSandbox
        m = wasmtime.wat2wasm('(module (func (export "f") (param i32 f64) (result f64) local.get 1) '
                              '(func (export "d") (param i32) (result i32) i32.const 1 local.get 0 i32.div_u) '
                              '(func (export "spin") (loop br 0)))')
        with Sandbox() as sb, Sandbox(compiler="cranelift") as sb2:
            print(sb.call(m, "f", (3, 0x7FF8000000000123)).results[0] == 0x7FF8000000000123)
            print(sb2.call(m, "d", (0,)).outcome.name, sb.call(m, "d", (1,)).results)
            print(sb.call(m, "spin", limits=Limits(fuel=1000)).outcome.name)
        LinkedSandbox().close()
        print(wt.raw_calls())
    """)
    env = dict(os.environ, JEET_WASMTIME_PUBLIC_CALLS="1", PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run([sys.executable, "-W", "always", "-c", script], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:4] == ["True", "TRAP (1,)", "OUT_OF_FUEL", "False"]
    assert done.stderr.count("RuntimeWarning") == 1 and "JEET_WASMTIME_PUBLIC_CALLS" in done.stderr


def test_the_sandbox_session_uses_the_boundary_limits():
    with Sandbox(Limits(memory_bytes=65536)) as sb:
        module = wasmtime.wat2wasm('(module (memory 2) (func (export "f")))')
        assert sb.call(module, "f").outcome is Outcome.OUT_OF_MEMORY
