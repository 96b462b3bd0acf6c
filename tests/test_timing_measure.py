"""Native timing end to end: interleaved rounds, untimeable variants reported, workers kept quiet."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest
import wasmtime

from jeet.kernels import get_kernel
from jeet.oracle import Case, load_tests
from jeet.timing import (TimingError, UntimeableError, judge, measure, pausing, pick_cases, ratio, suspended)

QUICK = dict(min_time_s=0.0, min_rounds=5, sample_s=0.0005, layouts=1)

POPCNT = bytes(wasmtime.wat2wasm('(module (func (export "f") (param i32) (result i32) (i32.popcnt (local.get 0))))'))
LOOP = bytes(wasmtime.wat2wasm("""
(module (func (export "f") (param $x i32) (result i32) (local $n i32)
  (block $done (loop $l
    (br_if $done (i32.eqz (local.get $x)))
    (local.set $n (i32.add (local.get $n) (i32.and (local.get $x) (i32.const 1))))
    (local.set $x (i32.shr_u (local.get $x) (i32.const 1)))
    (br $l)))
  (local.get $n)))"""))
TRAPS_ON_5 = bytes(wasmtime.wat2wasm("""
(module (func (export "f") (param i32) (result i32)
  (if (i32.eq (local.get 0) (i32.const 5)) (then unreachable)) (i32.popcnt (local.get 0))))"""))
SPINS_ON_5 = bytes(wasmtime.wat2wasm("""
(module (func (export "f") (param i32) (result i32)
  (if (i32.eq (local.get 0) (i32.const 5)) (then (loop $forever (br $forever)))) (i32.popcnt (local.get 0))))"""))
CASES = [Case((x,)) for x in (0, 1, 5, 0xFF, 0xFFFFFFFF, 0x12345678, 0x80000000)]


def kernel_cases(name: str, n: int = 64) -> tuple:
    k = get_kernel(name)
    return k, list(load_tests(k.tests_path(), k.params, k.results))[:n]


def test_measure_interleaves_every_variant_for_the_same_rounds() -> None:
    k, cases = kernel_cases("popcount")
    report = measure([k.wasm("O0"), k.wasm("O2opt")], k.function, cases, seed=3, **QUICK)
    assert report.rounds == 5 and report.cases == len(cases)
    assert all(v.ok and len(v.samples_ns) == 5 and v.reps >= 1 for v in report.variants)
    assert len(report.empty.samples_ns) == 5
    assert report.agree  # both compute popcount: same sink
    assert report.ns_per_call(0) > 0 and report.ns_per_call(1) > 0
    r = ratio(report, 1, 0)
    assert r.ci_low <= r.estimate <= r.ci_high
    assert ratio(report, 1, 0) == r  # deterministic for a report
    d = report.to_dict()
    assert d["method"]["cases"] == len(cases) and len(d["variants"][1]["samples_ns"]) == 5


def test_memory_cases_are_timed_with_their_buffers() -> None:
    k, cases = kernel_cases("count_byte", 32)
    report = measure([k.wasm("O0"), k.wasm("O2")], k.function, cases, **QUICK)
    assert all(v.ok for v in report.variants) and report.agree


def test_a_variant_that_traps_is_reported_untimeable_and_the_rest_are_timed() -> None:
    report = measure([POPCNT, TRAPS_ON_5, b"not wasm"], "f", CASES, **QUICK)
    assert report.variants[0].ok
    assert report.variants[1].status == "trap" and "unreachable" in report.variants[1].message
    assert report.variants[2].status == "invalid"
    with pytest.raises(UntimeableError, match="trap"):
        ratio(report, 1, 0)
    with pytest.raises(UntimeableError):
        judge(POPCNT, TRAPS_ON_5, "f", CASES, **QUICK)


def test_a_variant_past_the_deadline_is_reported_as_a_timeout() -> None:
    t0 = time.monotonic()
    report = measure([POPCNT, SPINS_ON_5], "f", CASES, deadline_s=0.05, **QUICK)
    assert report.variants[1].status == "timeout"
    assert time.monotonic() - t0 < 5


def test_inputs_no_variant_can_run_are_an_error() -> None:
    reader = bytes(wasmtime.wat2wasm(
        '(module (memory 1) (func (export "f") (param i32) (result i32) (i32.load8_u (local.get 0))))'))
    with pytest.raises(TimingError, match="cannot be run"):
        measure([reader], "f", [Case((0,), memory=((70000, b"x"),))], **QUICK)  # outside the one page
    with pytest.raises(TimingError, match="no cases"):
        measure([POPCNT], "f", [], **QUICK)


def test_quiet_is_held_for_the_whole_measurement() -> None:
    events = []
    report = measure([POPCNT], "f", CASES, quiet=pausing(lambda: events.append("pause"),
                                                         lambda: events.append("resume")), **QUICK)
    assert events == ["pause", "resume"] and report.variants[0].ok


def status_becomes(proc: psutil.Process, stopped: bool) -> bool:
    """Signals arrive asynchronously: wait (briefly) for the process to show the state."""
    for _ in range(200):
        if (proc.status() == psutil.STATUS_STOPPED) == stopped:
            return True
        time.sleep(0.01)
    return False


def test_suspended_stops_worker_processes_and_lets_them_go() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        proc = psutil.Process(child.pid)
        with suspended([child.pid, 2**22 + 12345]):  # an unknown pid is skipped
            assert status_becomes(proc, stopped=True)
        assert status_becomes(proc, stopped=False)
    finally:
        child.kill()
        child.wait()


def test_pick_cases_spreads_a_fixed_subset() -> None:
    cases = [Case((i,)) for i in range(1000)] + [Case((0,), trap=True)]
    picked = pick_cases(cases, 10)
    assert len(picked) == 10 and picked[0].args == (0,) and picked[-1].args == (999,)
    assert pick_cases(cases, 10) == picked


@pytest.mark.perf
def test_a_variant_against_itself_is_not_judged_faster_natively() -> None:
    k, cases = kernel_cases("isqrt", 128)
    for seed in range(3):
        j = judge(k.wasm("O2opt"), k.wasm("O2opt"), k.function, cases, seed=seed, min_time_s=0.5)
        assert not j.improved and j.ci[0] < 1.0 < j.ci[1] * 1.05


@pytest.mark.perf
def test_popcnt_is_judged_faster_than_a_bit_loop() -> None:
    j = judge(LOOP, POPCNT, "f", CASES, min_time_s=0.5)
    assert j.improved and j.time_ratio < 0.5


def test_the_clock_can_be_the_wall_clock_and_nothing_else() -> None:
    report = measure([POPCNT], "f", CASES, clock="wall", **QUICK)
    assert report.variants[0].ok and report.method["clock"] == "wall clock"
    assert measure([POPCNT], "f", CASES, **QUICK).method["clock"] == "calling thread's CPU time"
    with pytest.raises(TimingError, match="clock"):
        measure([POPCNT], "f", CASES, clock="sundial", **QUICK)


def test_each_variant_is_placed_several_times_and_every_copy_timed_alike() -> None:
    k, cases = kernel_cases("popcount", 16)
    report = measure([k.wasm("O2opt")], k.function, cases, seed=1, min_time_s=0.0, min_rounds=5,
                     sample_s=0.0005, layouts=4)
    assert report.layouts == 4 and report.rounds == 8  # whole cycles of 4 copies, at least two
    assert len(report.variants[0].samples_ns) == 8 and report.ns_per_call(0) > 0
    assert "4 placed copies" in report.method["layouts"] and report.to_dict()["layouts"] == 4
