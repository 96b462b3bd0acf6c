"""Calling a loaded function is calling the original: same values, same conversions, same traps."""

from __future__ import annotations

import math

import pytest
import wasmtime
from hypothesis import given, settings
from hypothesis import strategies as st

import jeet
from jeet.errors import JeetError
from jeet.runtime import ArgumentError, JeetRuntimeError, Runtime

WAT = """(module
  (memory (export "memory") 1)
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "mix") (param f32 f64 i64) (result f64 i64 f32) local.get 1 local.get 2 local.get 0)
  (func (export "wide") (param i64) (result i64) local.get 0 i64.const 3 i64.mul)
  (func (export "nothing"))
  (func (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
  (func (export "f32id") (param f32) (result f32) local.get 0))"""


@pytest.fixture(scope="module")
def rt(tmp_path_factory):
    with Runtime(tmp_path_factory.mktemp("rt"), hot=0) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def bare():
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    instance = wasmtime.Instance(store, wasmtime.Module(engine, wasmtime.wat2wasm(WAT)), [])
    exports = instance.exports(store)
    return lambda name, *args: exports[name](store, *args)


def test_runtime_is_exposed_lazily_on_the_top_package():
    assert jeet.Runtime is Runtime
    with pytest.raises(AttributeError):
        jeet.NoSuchThing  # noqa: B018


def test_results_match_wasmtime_py(rt, bare):
    add = rt.load(WAT, "add")
    assert add(3, 4) == 7 == bare("add", 3, 4)
    assert add(2**31 - 1, 1) == -(2**31) == bare("add", 2**31 - 1, 1)  # wraps, signed like wasmtime-py
    assert add(2**32 - 1, 1) == 0 == bare("add", -1, 1)                   # unsigned ints in range, as tests files
    mix = rt.load(WAT, "mix")
    assert mix(1.1, 2.5, -7) == bare("mix", 1.1, 2.5, -7) == [2.5, -7, pytest.approx(1.1, rel=1e-7)]
    assert mix(1, 2, 2**64 - 1) == bare("mix", 1.0, 2.0, -1) == [2.0, -1, 1.0]  # ints for floats, as tests files
    assert rt.load(WAT, "nothing")() is None
    assert rt.load(WAT, "wide")(-(2**62)) == bare("wide", -(2**62))
    assert math.isnan(rt.load(WAT, "f32id")(math.nan))


@settings(max_examples=200, deadline=None)
@given(a=st.integers(-(2**31), 2**32 - 1), b=st.integers(-(2**31), 2**32 - 1))
def test_any_ints_in_range_agree_with_wasmtime_py(rt, bare, a, b):
    assert rt.load(WAT, "add")(a, b) == bare("add", a, b)


@pytest.mark.parametrize("function, args, message", [
    ("add", (2**40, 1), "args[0]: 1099511627776 is out of range for i32"),
    ("add", (1, -(2**31) - 1), "args[1]: -2147483649 is out of range for i32"),
    ("add", (True, 2), "args[0]: expected a number for i32, got true"),
    ("add", (1.5, 2), "args[0]: expected an integer for i32, got 1.5"),
    ("wide", (2**64,), "args[0]: 18446744073709551616 is out of range for i64"),
    ("mix", (1e300, 0.5, 3), "args[0]: 1e+300 is out of range for f32"),
])
def test_out_of_range_or_wrongly_typed_arguments_raise_what_a_tests_file_raises(rt, function, args, message):
    from jeet.oracle import OracleError, parse_case
    from jeet.runtime import ArgumentValueError

    fn = rt.load(WAT, function)
    with pytest.raises(ArgumentValueError) as info:
        fn(*args)
    assert str(info.value).endswith(message) and isinstance(info.value, (ValueError, TypeError))
    with pytest.raises(OracleError, match=message.replace("[", r"\[").replace("]", r"\]").replace("+", r"\+")):
        parse_case({"args": list(args)}, fn.params, ())  # the very same words


def test_a_trap_raises_wasmtime_trap_and_the_function_keeps_working(rt):
    div = rt.load(WAT, "div")
    for _ in range(3):
        with pytest.raises(wasmtime.Trap) as info:
            div(1, 0)
        assert info.value.trap_code is wasmtime.TrapCode.INTEGER_DIVISION_BY_ZERO
    assert div(7, 2) == 3


def test_wrong_arguments_are_one_line_jeet_errors(rt):
    add = rt.load(WAT, "add")
    with pytest.raises(ArgumentError, match=r"takes 2 argument\(s\), got 1") as info:
        add(1)
    assert isinstance(info.value, JeetError) and isinstance(info.value, TypeError)
    assert "\n" not in str(info.value)
    with pytest.raises(ArgumentError, match="got 3"):
        add(1, 2, 3)
    with pytest.raises(ArgumentError, match="args\\[0\\]: expected a number for i32, got '1'"):
        add("1", 2)
    with pytest.raises(ArgumentError, match="args\\[0\\]: expected a number for f32, got null"):
        rt.load(WAT, "mix")(None, 2.0, 3)


@pytest.mark.parametrize("wasm, function, message", [
    (b"\0asm\x01\0\0\0\x05", "f", "malformed module"),
    (b"\x89PNG\r\n", "f", "not WebAssembly"),
    ("(module (func (export \"f\")", "f", "malformed WebAssembly text"),
    (WAT, "nope", "no exported function 'nope'.*add"),
    ('(module (import "env" "g" (func)) (func (export "f")))', "f", "imports env.g"),
    ('(module (func (export "f") (param externref)))', "f", "externref"),
])
def test_bad_modules_and_functions_are_one_line_errors(rt, wasm, function, message):
    with pytest.raises(JeetRuntimeError, match=message) as info:
        rt.load(wasm, function)
    assert "\n" not in str(info.value)


def test_bad_tests_are_rejected_at_load(tmp_path):
    sub = '(module (func (export "sub") (param i32 i32) (result i32) local.get 0 local.get 1 i32.sub))'
    with Runtime(tmp_path, hot=0) as rt:
        with pytest.raises(JeetRuntimeError, match="fails its own test"):
            rt.load(sub, "sub", tests=[{"args": [5, 2], "expect": [4]}])
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"args": [1]}\n')
        with pytest.raises(JeetRuntimeError, match="bad.jsonl:1"):
            rt.load(sub, "sub", tests=bad)
        good = rt.load(sub, "sub", tests=[{"args": [5, 2], "expect": [3]}])
        assert good(5, 2) == 3
        with pytest.raises(JeetRuntimeError, match="already loaded with other tests"):
            rt.load(sub, "sub", tests=[{"args": [9, 2], "expect": [7]}])
        assert rt.load(sub, "sub") is good


def test_loading_twice_gives_the_same_function_and_stats_start_cold(rt):
    add = rt.load(WAT, "add")
    assert rt.load(wasmtime.wat2wasm(WAT), "add") is add
    stats = add.stats()
    for key in ("calls", "tier", "champion_sha256", "champion_fuel", "baseline_fuel"):
        assert key in stats
    assert stats["champion_sha256"] == stats["module_sha256"] == add.original.sha256
    before = add.calls
    add(1, 1)
    assert add.calls == before + 1


def test_calls_from_many_threads_count_exactly(rt):
    import threading

    add = rt.load(WAT, "add")
    start = add.calls
    errors = []

    def work(k):
        for i in range(500):
            if add(i, k) != i + k:
                errors.append((i, k))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert add.calls - start == 2000


def test_a_closed_runtime_refuses_new_work_but_functions_keep_serving(tmp_path):
    rt = Runtime(tmp_path, hot=0)
    add = rt.load(WAT, "add")
    rt.close()
    rt.close()  # idempotent
    assert add(2, 3) == 5
    with pytest.raises(JeetRuntimeError, match="closed"):
        rt.load(WAT, "add")
