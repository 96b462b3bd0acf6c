"""What a case returns: canonical values, exact float bits, memory in and out, stubbed imports, isolation."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wasmtime import wat2wasm

from jeet.oracle import Case
from jeet.sandbox import CompiledModule, ExecutionResult, Limits, Outcome, Sandbox, Signature



def wasm(text: str) -> bytes:
    return bytes(wat2wasm(text))


SUB = wasm('(module (memory (export "memory") 1) (func (export "sub") (param i32 i32) (result i32) '
           'local.get 0 local.get 1 i32.sub))')
ECHO = wasm('(module (func (export "echo") (param i32 i64 f32 f64) (result f64 f32 i64 i32) '
            'local.get 3 local.get 2 local.get 1 local.get 0))')


def test_results_are_canonical_unsigned(sandbox):
    r = sandbox.call(SUB, "sub", (1, 2))
    assert r == ExecutionResult(Outcome.OK, (4294967295,), r.fuel, 1, r.wall_s)
    assert r.ok and r.fuel > 0 and r.wall_s > 0


def test_signed_and_unsigned_arguments_are_the_same_value(sandbox):
    assert sandbox.call(SUB, "sub", (-1, 0)).results == sandbox.call(SUB, "sub", (0xFFFFFFFF, 0)).results
    assert sandbox.call(SUB, "sub", (1 << 32, 0)).results == (0,)


def test_multi_value_and_every_numeric_type(sandbox):
    args = (0xDEADBEEF, 0xFFFF_FFFF_FFFF_FFFE, 0x3FC00000, 0xC000000000000000)
    r = sandbox.call(ECHO, "echo", args)
    assert r.results == tuple(reversed(args))


@pytest.mark.parametrize("f32,f64", [
    (0x7FA00001, 0x7FF4000000000001),  # signalling NaNs with payloads
    (0xFFC12345, 0xFFF8000000000123),  # negative quiet NaNs with payloads
    (0x80000000, 0x8000000000000000),  # negative zeros
    (0x00000001, 0x0000000000000001),  # subnormals
])
def test_float_bits_pass_through_exactly(sandbox, f32, f64):
    assert sandbox.call(ECHO, "echo", (0, 0, f32, f64)).results[:2] == (f64, f32)


def test_python_floats_are_accepted_as_arguments(sandbox):
    r = sandbox.call(ECHO, "echo", (0, 0, -1.5, 0.1))
    assert r.results[:2] == (struct.unpack("<Q", struct.pack("<d", 0.1))[0], 0xBFC00000)


@settings(max_examples=60, deadline=None)
@given(st.integers(-(2 ** 31), 2 ** 32 - 1), st.integers(-(2 ** 31), 2 ** 32 - 1))
def test_subtraction_matches_python_modulo_2_32(a, b):
    r = _SHARED.call(SUB, "sub", (a, b))
    assert r.results == ((a - b) % 2 ** 32,)


_SHARED = Sandbox()


def test_fuel_counting_is_deterministic(sandbox):
    m = wasm('(module (func (export "f") (param i32) (result i32) (local i32) '
             '(block (loop local.get 0 i32.eqz br_if 1 local.get 1 local.get 0 i32.add local.set 1 '
             'local.get 0 i32.const 1 i32.sub local.set 0 br 0)) local.get 1))')
    fuels = {sandbox.call(m, "f", (100,)).fuel for _ in range(5)}
    assert len(fuels) == 1
    with Sandbox() as other:
        assert other.call(m, "f", (100,)).fuel in fuels
    assert sandbox.call(m, "f", (200,)).fuel > sandbox.call(m, "f", (100,)).fuel
    assert sandbox.call(m, "f", (100,)).results == (5050,)


def test_winch_and_cranelift_agree_on_results_and_fuel():
    m = wasm('(module (func (export "f") (param i64) (result i64) (local i64) '
             '(block (loop local.get 0 i64.eqz br_if 1 local.get 1 local.get 0 i64.mul i64.const 7 i64.add '
             'local.set 1 local.get 0 i64.const 1 i64.sub local.set 0 br 0)) local.get 1))')
    with Sandbox(compiler="cranelift") as crane, Sandbox(compiler="winch") as winch:
        a, b = crane.call(m, "f", (50,)), winch.call(m, "f", (50,))
        assert a.ok and (a.results, a.fuel) == (b.results, b.fuel)
        assert crane.compile(m).compiler == "cranelift"


def test_start_function_fuel_is_not_counted(sandbox):
    plain = wasm('(module (global $g (mut i32) (i32.const 0)) (func (export "f") (result i32) global.get $g))')
    started = wasm('(module (global $g (mut i32) (i32.const 0)) '
                   '(func $s (local i32) (loop local.get 0 i32.const 1 i32.add local.tee 0 i32.const 1000 i32.lt_u '
                   'br_if 0) local.get 0 global.set $g) (start $s) (func (export "f") (result i32) global.get $g))')
    assert sandbox.call(started, "f").results == (1000,)
    assert sandbox.call(started, "f").fuel == sandbox.call(plain, "f").fuel


COUNTER = ('(module (global $n (mut i32) (i32.const 0)) (memory (export "memory") 1) '
           '(func (export "bump") (result i32 i32) global.get $n i32.const 1 i32.add global.set $n '
           'i32.const 0 i32.const 0 i32.load i32.const 1 i32.add i32.store global.get $n '
           'i32.const 0 i32.load))')


def test_consecutive_cases_share_an_instance_like_a_host(sandbox):
    """State carries over from call to call, as when a host calls the function repeatedly."""
    results = sandbox.run(wasm(COUNTER), "bump", [Case(())] * 3)
    assert [r.results for r in results] == [(1, 1), (2, 2), (3, 3)]


def test_fresh_instance_per_case_isolates_every_case(sandbox):
    results = sandbox.run(wasm(COUNTER), "bump", [Case(())] * 3, fresh_instance_per_case=True)
    assert [r.results for r in results] == [(1, 1)] * 3


def test_a_trap_starts_the_next_case_on_a_fresh_instance(sandbox):
    m = wasm('(module (global $n (mut i32) (i32.const 0)) (func (export "f") (param i32) (result i32) '
             'global.get $n i32.const 1 i32.add global.set $n local.get 0 if unreachable end global.get $n))')
    results = sandbox.run(m, "f", [Case((0,)), Case((0,)), Case((1,)), Case((0,))])
    assert [r.outcome for r in results] == [Outcome.OK, Outcome.OK, Outcome.TRAP, Outcome.OK]
    assert [r.results for r in results if r.ok] == [(1,), (2,), (1,)]


def test_a_variant_that_relies_on_zeroed_memory_is_caught(sandbox):
    """The original initialises its counter slot; the variant leans on a fresh instance's zeros."""
    from jeet.oracle import Oracle

    body = ('(func (export "f") (param i32) (result i32) {init} '
            '(block (loop local.get 0 i32.eqz br_if 1 i32.const 0 i32.const 0 i32.load i32.const 1 i32.add '
            'i32.store local.get 0 i32.const 1 i32.sub local.set 0 br 0)) i32.const 0 i32.load)')
    original = wasm('(module (memory 1) ' + body.format(init='i32.const 0 i32.const 0 i32.store') + ')')
    variant = wasm('(module (memory 1) ' + body.format(init='') + ')')
    cases = tuple(Case((n,), (n,)) for n in (3, 5, 2))
    oracle = Oracle(("i32",), ("i32",), cases, (), "tests")
    assert oracle.verify(sandbox, original, "f", cases).ok
    assert oracle.verify(sandbox, variant, "f", cases).first_failure == 1


def test_memory_blocks_are_written_before_the_call(sandbox):
    m = wasm('(module (memory (export "mem") 1) (func (export "sum") (param i32 i32) (result i32) (local i32) '
             '(block (loop local.get 1 i32.eqz br_if 1 local.get 2 local.get 0 i32.load8_u i32.add local.set 2 '
             'local.get 0 i32.const 1 i32.add local.set 0 local.get 1 i32.const 1 i32.sub local.set 1 br 0)) '
             'local.get 2))')
    case = Case((100, 4), memory=((100, bytes([1, 2, 3, 4])), (0, b"\xff")))
    assert sandbox.run(m, "sum", [case])[0].results == (10,)
    assert sandbox.compile(m).memory_export == "mem"


def test_memory_block_outside_memory_is_a_trap(sandbox):
    r = sandbox.run(SUB, "sub", [Case((0, 0), memory=((65535, b"ab"),))])[0]
    assert r.outcome is Outcome.TRAP and "outside" in r.message


def test_memory_block_without_exported_memory_is_a_trap(sandbox):
    r = sandbox.run(ECHO, "echo", [Case((0, 0, 0, 0), memory=((0, b"a"),))])[0]
    assert r.outcome is Outcome.TRAP and "no memory" in r.message


def test_expected_memory_regions_are_read_back(sandbox):
    rev = wasm('(module (memory (export "memory") 1) (func (export "rev4") (param i32) '
               'local.get 0 local.get 0 i32.load i32.const 8 i32.rotl '
               'local.tee 0 drop local.get 0 i32.store))')
    data = bytes([1, 2, 3, 4])
    r = sandbox.run(rev, "rev4", [Case((8,), (), ((8, data),), False, ((8, b"????"), (12, b"\0\0")))])[0]
    assert r.ok and r.memory == ((8, bytes([4, 1, 2, 3])), (12, b"\0\0"))


def test_imported_functions_are_stubs_that_trap(sandbox):
    m = wasm('(module (import "env" "log" (func $log (param i32))) '
             '(func (export "quiet") (result i32) i32.const 7) '
             '(func (export "loud") (result i32) i32.const 1 call $log i32.const 7))')
    assert sandbox.call(m, "quiet").results == (7,)
    r = sandbox.call(m, "loud")
    assert r.outcome is Outcome.TRAP and r.message == "import env.log not provided"


def test_imported_memory_table_and_globals_are_created(sandbox):
    m = wasm('(module (import "env" "memory" (memory 2 4)) (import "env" "table" (table 3 funcref)) '
             '(import "env" "g" (global i32)) (import "env" "h" (global (mut f64))) '
             '(func (export "f") (param i32) (result i32 i32 i32) '
             'memory.size table.size global.get 0 local.get 0 i32.load drop))')
    r = sandbox.run(m, "f", [Case((0,), memory=((0, b"abcd"),))])[0]
    assert r.ok and r.results == (2, 3, 0) and r.peak_pages == 2
    assert [spec.kind for spec in sandbox.compile(m).imports] == ["memory", "table", "global", "global"]


def test_unprovidable_import_is_a_trap(sandbox):
    m = wasm('(module (import "env" "v" (global v128)) (func (export "f")))')
    r = sandbox.call(m, "f")
    assert r.outcome is Outcome.TRAP and "v128" in r.message


def test_missing_export_and_wrong_arity_are_invalid(sandbox):
    r = sandbox.call(SUB, "add", (1, 2))
    assert r.outcome is Outcome.INVALID and "sub" in r.message
    r = sandbox.call(SUB, "sub", (1,))
    assert r.outcome is Outcome.INVALID and "2 arguments" in r.message
    r = sandbox.call(SUB, "sub", (1, "x"))
    assert r.outcome is Outcome.INVALID


def test_externref_module_falls_back_to_cranelift(sandbox):
    m = wasm('(module (func (export "f") (result i32) ref.null extern ref.is_null))')
    compiled = sandbox.compile(m)
    assert isinstance(compiled, CompiledModule)
    assert compiled.compiler == ("cranelift" if sandbox.compiler == "winch" else sandbox.compiler)
    assert sandbox.call(compiled, "f").results == (1,)


def test_compiled_module_describes_exports(sandbox):
    compiled = sandbox.compile(ECHO)
    assert compiled.signature("echo") == Signature(("i32", "i64", "f32", "f64"), ("f64", "f32", "i64", "i32"))
    assert compiled.signature("nope") is None
    assert compiled.memory_export is None and len(compiled.sha256) == 64
    assert sandbox.signature(SUB, "sub") == Signature(("i32", "i32"), ("i32",))


def test_stop_at_first_failure(sandbox):
    div = wasm('(module (func (export "div") (param i32) (result i32) i32.const 100 local.get 0 i32.div_u))')
    cases = [Case((1,)), Case((0,)), Case((5,))]
    assert [r.outcome for r in sandbox.run(div, "div", cases)] == [Outcome.OK, Outcome.TRAP, Outcome.OK]
    assert len(sandbox.run(div, "div", cases, stop_at_first_failure=True)) == 2
    trap_expected = [Case((0,), trap=True), Case((1,))]
    assert len(sandbox.run(div, "div", trap_expected, stop_at_first_failure=True)) == 2

    def wants_20(case, result):
        return result.results == (20,)

    assert len(sandbox.run(div, "div", [Case((5,)), Case((1,)), Case((5,))], stop_at_first_failure=True,
                           oracle_check=wants_20)) == 2


def test_invalid_module_gives_one_result_per_case(sandbox):
    cases = [Case((1,)), Case((2,))]
    assert [r.outcome for r in sandbox.run(b"nope", "f", cases)] == [Outcome.INVALID] * 2
    assert len(sandbox.run(b"nope", "f", cases, stop_at_first_failure=True)) == 1


def test_compiled_module_of_another_sandbox_is_refused(sandbox):
    with Sandbox() as other:
        compiled = other.compile(SUB)
    from jeet.sandbox import SandboxError
    with pytest.raises(SandboxError):
        sandbox.run(compiled, "sub", [Case((1, 2))])


def test_stats_count_cases(sandbox):
    before = sandbox.stats.cases
    sandbox.run(SUB, "sub", [Case((1, 2))] * 4)
    assert sandbox.stats.cases == before + 4


def test_results_are_picklable(sandbox):
    import pickle

    r = sandbox.call(SUB, "sub", (5, 3))
    assert pickle.loads(pickle.dumps(r)) == r
    assert pickle.loads(pickle.dumps(Limits(fuel=5))) == Limits(fuel=5)


BULK = wasm('(module (memory (export "memory") 1) (func (export "fill") (param i32) (result i32) '
            'i32.const 0 i32.const 7 local.get 0 memory.fill i32.const 0 i32.load8_u))')


def test_fuel_of_bulk_memory_grows_with_length_under_every_compiler(sandbox):
    small, large = sandbox.call(BULK, "fill", (10,)), sandbox.call(BULK, "fill", (10_010,))
    assert small.results == large.results == (7,)
    assert large.fuel - small.fuel == 10_000
    assert sandbox.compile(BULK).compiler == "cranelift"
    with Sandbox(compiler="cranelift") as crane:
        assert crane.call(BULK, "fill", (10_010,)).fuel == large.fuel


def test_fast_bulk_fuel_trades_exactness_for_compile_speed():
    with Sandbox(exact_bulk_fuel=False) as fast:
        if fast.compiler != "winch":
            pytest.skip("Winch is not available here")
        assert fast.compile(BULK).compiler == "winch"
        assert fast.call(BULK, "fill", (10,)).fuel == fast.call(BULK, "fill", (10_010,)).fuel


@pytest.mark.parametrize("text,sized", [
    ('(module (func (export "f") (result i32) i32.const 1))', False),
    ('(module (memory 1) (func (export "f") (result i32) i32.const 1 memory.grow))', True),
    ('(module (memory 1) (func (export "f") i32.const 0 i32.const 0 i32.const 1 memory.copy))', True),
    ('(module (table 1 funcref) (func (export "f") (result i32) ref.null func i32.const 1 table.grow))', True),
    ('(module (memory 1) (data "\\40\\00\\fc\\0b") (func (export "f") (result i32) i32.const 0 i32.load))', False),
    ('(module (func (export "f") (block unreachable) (if (i32.const 64) (then unreachable))))', False),
    ('(module (memory 1) (func (export "f") (result i32) i32.const 1148 i32.const 0x2000 i32.add))', False),
    ('(module (memory 1) (func (export "f") (param i32) (result i32) local.get 2 memory.grow))', True),
])
def test_sized_instruction_detection(text, sized):
    from jeet.sandbox._scan import may_use_sized_ops

    assert may_use_sized_ops(wasm(text)) is sized


def test_one_sandbox_serves_several_threads(sandbox):
    from concurrent.futures import ThreadPoolExecutor

    def work(offset: int) -> list:
        return [r.results for r in sandbox.run(SUB, "sub", [Case((offset + i, i)) for i in range(150)])]

    with ThreadPoolExecutor(4) as pool:
        outputs = list(pool.map(work, (10, 20, 30, 40)))
    assert outputs == [[(offset,)] * 150 for offset in (10, 20, 30, 40)]


def test_calling_a_v128_import_traps_without_crashing(sandbox):
    m = wasm('(module (import "env" "g" (func $g (param v128) (result v128))) '
             '(func (export "f") (result i32) v128.const i64x2 1 2 call $g i32x4.extract_lane 0))')
    r = sandbox.call(m, "f")
    assert r.outcome is Outcome.TRAP and "not provided" in r.message
