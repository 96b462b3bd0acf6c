"""Whatever a candidate does, the sandbox ends it and reports an outcome: nothing crashes or hangs."""

from __future__ import annotations

import time

import pytest
from wasmtime import wat2wasm

from jeet.sandbox import MAX_CYCLES, Limits, Outcome, Sandbox, SandboxError



def wasm(text: str) -> bytes:
    return bytes(wat2wasm(text))


LOOP = wasm('(module (func (export "f") (param i32) (result i32) (loop $l (br $l)) local.get 0))')


def test_defaults():
    limits = Limits()
    assert limits.fuel == MAX_CYCLES == 1_000_000
    assert limits.memory_bytes == 1 << 20 and limits.memory_pages == 16
    assert (limits.table_elements, limits.instances, limits.tables, limits.memories) == (10_000, 1, 1, 1)
    assert limits.deadline_s == 1.0 and limits.max_wasm_stack == 512 * 1024


@pytest.mark.parametrize("bad", [dict(fuel=0), dict(fuel=-1), dict(memory_bytes=-1), dict(deadline_s=0),
                                 dict(instances=0), dict(max_wasm_stack=1024), dict(tables=True)])
def test_limits_reject_nonsense(bad):
    with pytest.raises(SandboxError):
        Limits(**bad)


def test_infinite_loop_runs_out_of_fuel_quickly(sandbox):
    t0 = time.perf_counter()
    r = sandbox.call(LOOP, "f", (1,))
    assert r.outcome is Outcome.OUT_OF_FUEL
    assert r.fuel == MAX_CYCLES
    assert time.perf_counter() - t0 < 0.5


def test_small_fuel_budget(sandbox):
    r = sandbox.call(LOOP, "f", (1,), limits=Limits(fuel=1000))
    assert r.outcome is Outcome.OUT_OF_FUEL and r.fuel == 1000


def test_deadline_interrupts_a_loop_with_unlimited_fuel(sandbox):
    t0 = time.perf_counter()
    r = sandbox.call(LOOP, "f", (1,), limits=Limits(fuel=10**15, deadline_s=0.2))
    elapsed = time.perf_counter() - t0
    assert r.outcome is Outcome.TIMEOUT, r
    assert 0.15 < elapsed < 1.5
    assert r.fuel > 0


def test_deadline_covers_the_start_function(sandbox):
    m = wasm('(module (func $s (loop $l (br $l))) (start $s) (func (export "f")))')
    r = sandbox.call(m, "f", limits=Limits(fuel=10**15, deadline_s=0.1))
    assert r.outcome is Outcome.TIMEOUT


def test_start_function_loop_runs_out_of_fuel(sandbox):
    m = wasm('(module (func $s (loop $l (br $l))) (start $s) (func (export "f")))')
    assert sandbox.call(m, "f").outcome is Outcome.OUT_OF_FUEL


GROW = wasm('(module (memory (export "memory") 1) (func (export "f") (param i32) (result i32) '
            'local.get 0 memory.grow))')


def test_memory_grow_within_the_cap(sandbox):
    r = sandbox.call(GROW, "f", (15,))
    assert r.ok and r.results == (1,) and r.peak_pages == 16


@pytest.mark.parametrize("pages", [16, 1000, 0x10000, 0xFFFFFFFF])
def test_memory_grow_beyond_the_cap_returns_minus_one(sandbox, pages):
    r = sandbox.call(GROW, "f", (pages,))
    assert r.ok and r.results == (0xFFFFFFFF,) and r.peak_pages == 1


def test_memory_grow_up_to_the_cap_then_fill_it(sandbox):
    m = wasm('(module (memory (export "memory") 0) (func (export "f") (result i32) '
             'i32.const 16 memory.grow drop i32.const 0 i32.const 255 i32.const 0x100000 memory.fill '
             'i32.const 0xFFFFC i32.load))')
    assert sandbox.call(m, "f").outcome is Outcome.OUT_OF_FUEL  # filling 1 MiB costs a cycle per byte
    r = sandbox.call(m, "f", limits=Limits(fuel=2_000_000))
    assert r.ok and r.results == (0xFFFFFFFF,) and r.peak_pages == 16 and r.fuel > 1 << 20


def test_initial_memory_above_the_cap_is_out_of_memory(sandbox):
    r = sandbox.call(wasm('(module (memory 32) (func (export "f")))'), "f")
    assert r.outcome is Outcome.OUT_OF_MEMORY and "memory" in r.message


def test_imported_memory_above_the_cap_is_out_of_memory(sandbox):
    r = sandbox.call(wasm('(module (import "env" "m" (memory 17)) (func (export "f")))'), "f")
    assert r.outcome is Outcome.OUT_OF_MEMORY


@pytest.mark.parametrize("text", [
    '(module (table 20000 funcref) (func (export "f")))',
    '(module (table 1 funcref) (table 1 funcref) (func (export "f")))',
    '(module (import "env" "t" (table 20000 funcref)) (func (export "f")))',
])
def test_huge_or_too_many_tables_are_out_of_memory(sandbox, text):
    assert sandbox.call(wasm(text), "f").outcome is Outcome.OUT_OF_MEMORY


def test_table_grow_beyond_the_cap_returns_minus_one(sandbox):
    m = wasm('(module (table 1 funcref) (func (export "f") (param i32) (result i32) '
             'ref.null func local.get 0 table.grow))')
    assert sandbox.call(m, "f", (100_000,)).results == (0xFFFFFFFF,)
    assert sandbox.call(m, "f", (5000,)).results == (1,)


@pytest.mark.parametrize("pool_slots", [16, 0])
def test_pooled_and_on_demand_allocation_agree(pool_slots):
    modules = {
        "(module (memory 17) (func (export \"f\")))": Outcome.OUT_OF_MEMORY,
        "(module (table 20000 funcref) (func (export \"f\")))": Outcome.OUT_OF_MEMORY,
        "(module (memory 16) (table 10000 funcref) (func (export \"f\")))": Outcome.OK,
    }
    with Sandbox(pool_slots=pool_slots) as sb:
        for text, outcome in modules.items():
            assert sb.call(wasm(text), "f").outcome is outcome, text


def test_deep_recursion_traps(sandbox):
    m = wasm('(module (func $f (export "f") (param i32) (result i32) local.get 0 i32.const 1 i32.add call $f))')
    r = sandbox.call(m, "f", (0,), limits=Limits(fuel=10**9))
    assert r.outcome is Outcome.TRAP and "stack" in r.message


def test_recursion_in_the_start_function_traps(sandbox):
    m = wasm('(module (func $s call $s) (start $s) (func (export "f")))')
    assert sandbox.call(m, "f", limits=Limits(fuel=10**9)).outcome is Outcome.TRAP


@pytest.mark.parametrize("body,args,needle", [
    ("unreachable i32.const 0", (0,), "unreachable"),
    ("i32.const 1 local.get 0 i32.div_u", (0,), "divide by zero"),
    ("i32.const 0x80000000 local.get 0 i32.div_s", (0xFFFFFFFF,), "overflow"),
    ("local.get 0 i32.load", (70000,), "out of bounds"),
    ("f32.const nan i32.trunc_f32_s", (0,), "invalid conversion"),
])
def test_traps(sandbox, body, args, needle):
    m = wasm(f'(module (memory 1) (func (export "f") (param i32) (result i32) {body}))')
    r = sandbox.call(m, "f", args)
    assert r.outcome is Outcome.TRAP
    assert needle in r.message and "\n" not in r.message


def test_trapping_start_function(sandbox):
    r = sandbox.call(wasm('(module (func $s unreachable) (start $s) (func (export "f")))'), "f")
    assert r.outcome is Outcome.TRAP and "unreachable" in r.message


def test_out_of_bounds_data_segment_traps_at_instantiation(sandbox):
    r = sandbox.call(wasm('(module (memory 1) (data (i32.const 70000) "x") (func (export "f")))'), "f")
    assert r.outcome is Outcome.TRAP


@pytest.mark.parametrize("data", [b"", b"junk", b"\0asm", b"\0asm\x01\0\0\0\x01\xff", b"(module)"])
def test_invalid_bytes(sandbox, data):
    r = sandbox.call(data, "f")
    assert r.outcome is Outcome.INVALID and r.message


def test_invalid_module_gives_wasmtime_reason(sandbox):
    # i32.add on an empty stack does not validate
    bad = wasm('(module (func (export "f") (result i32) i32.const 1))')
    bad = bad.replace(b"\x41\x01\x0b", b"\x6a\x01\x0b")
    r = sandbox.call(bad, "f")
    assert r.outcome is Outcome.INVALID and "type mismatch" in r.message


def test_features_beyond_wasm_2_are_invalid(sandbox):
    two_memories = wasm('(module (memory 1) (memory 1) (func (export "f")))')
    assert sandbox.call(two_memories, "f").outcome is Outcome.INVALID


def test_v128_signatures_are_refused_without_crashing(sandbox):
    # wasmtime's C API aborts the process when asked about v128 types; the sandbox never asks.
    m = wasm('(module (func (export "f") (param v128) (result v128) local.get 0) '
             '(func (export "g") (param i32) (result i32) local.get 0 i32x4.splat i32x4.extract_lane 3))')
    r = sandbox.call(m, "f", (0,))
    assert r.outcome is Outcome.INVALID and "v128" in r.message
    assert sandbox.call(m, "g", (7,)).results == (7,)


def test_reference_typed_signatures_are_invalid(sandbox):
    m = wasm('(module (func (export "f") (param externref) (result i32) i32.const 0))')
    r = sandbox.call(m, "f", (0,))
    assert r.outcome is Outcome.INVALID and "externref" in r.message


def test_closed_sandbox_refuses_work():
    sb = Sandbox()
    sb.close()
    assert sb.closed
    with pytest.raises(SandboxError):
        sb.call(LOOP, "f", (1,))
    sb.close()  # idempotent


def test_ticker_thread_stops_on_close():
    sb = Sandbox()
    thread = sb._thread
    assert thread.is_alive() and thread.daemon
    sb.close()
    thread.join(1.0)
    assert not thread.is_alive()


def test_per_run_limits_cannot_exceed_the_pool():
    with Sandbox() as sb:
        with pytest.raises(SandboxError):
            sb.call(LOOP, "f", (1,), limits=Limits(memory_bytes=1 << 24))
        with pytest.raises(SandboxError):
            sb.call(LOOP, "f", (1,), limits=Limits(max_wasm_stack=1 << 20))


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_deadline_still_fires_in_a_forked_child(sandbox):
    import os

    sandbox.compile(LOOP)
    pid = os.fork()
    if pid == 0:  # child: exit code 0 only when the loop is interrupted by the deadline
        import signal

        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(5)  # without a ticker the loop would never end: the kernel ends the child
        try:
            r = sandbox.call(LOOP, "f", (1,), limits=Limits(fuel=10**15, deadline_s=0.1))
            os._exit(0 if r.outcome is Outcome.TIMEOUT else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
