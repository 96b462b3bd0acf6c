"""Champion swaps are atomic under concurrent calls, and a champion that answers wrong is thrown out at once."""

from __future__ import annotations

import threading
import time

import pytest
import wasmtime

from jeet.runtime import Runtime
from jeet.runtime.testing import force_champion
from jeet.store import Store

# popcount as a loop (the original) and three equivalent forms
ORIGINAL = """(module (func (export "pc") (param i32) (result i32) (local i32)
  (block $done (loop $next
    local.get 0 i32.eqz br_if $done
    local.get 0 local.get 0 i32.const 1 i32.sub i32.and local.set 0
    local.get 1 i32.const 1 i32.add local.set 1
    br $next))
  local.get 1))"""
POPCNT = '(module (func (export "pc") (param i32) (result i32) local.get 0 i32.popcnt))'
POPCNT_64 = '(module (func (export "pc") (param i32) (result i32) local.get 0 i64.extend_i32_u i64.popcnt i32.wrap_i64))'
POPCNT_NOT = '(module (func (export "pc") (param i32) (result i32) i32.const 32 local.get 0 i32.const -1 i32.xor i32.popcnt i32.sub))'


def wrong_at(value: int, answer: int = 99) -> bytes:
    """popcnt, except for one input no generated case is likely to hit."""
    return wasmtime.wat2wasm(f"""(module (func (export "pc") (param i32) (result i32)
      local.get 0 i32.const {value} i32.eq
      (if (result i32) (then i32.const {answer}) (else local.get 0 i32.popcnt))))""")


def traps_at(value: int) -> bytes:
    return wasmtime.wat2wasm(f"""(module (func (export "pc") (param i32) (result i32)
      local.get 0 i32.const {value} i32.eq (if (then unreachable)) local.get 0 i32.popcnt))""")


def popcount(x: int) -> int:
    return bin(x & 0xFFFFFFFF).count("1")


def test_no_wrong_answer_while_champions_swap_under_concurrent_calls(tmp_path):
    with Runtime(tmp_path, hot=0, shadow=0.0) as rt:
        fn = rt.load(ORIGINAL, "pc")
        variants = [wasmtime.wat2wasm(w) for w in (POPCNT, POPCNT_64, POPCNT_NOT)] + [fn.original.wasm]
        for v in variants:  # verified once on the held-out cases; swaps afterwards reuse the compiled variant
            assert fn.offer(v, require_better=False)
        stop = threading.Event()
        wrong, calls, failures = [], [0] * 4, []

        def caller(k: int) -> None:
            x = k * 7919
            try:
                while not stop.is_set():
                    x = (x * 1103515245 + 12345) & 0xFFFFFFFF
                    got = fn(x - (1 << 32) if x >> 31 else x)
                    calls[k] += 1
                    if got != popcount(x):
                        wrong.append((x, got))
            except BaseException as exc:  # noqa: BLE001 - any failure is a test failure
                failures.append(exc)

        threads = [threading.Thread(target=caller, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        swaps = 0
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            assert fn.offer(variants[swaps % len(variants)], require_better=False)
            swaps += 1
        stop.set()
        for t in threads:
            t.join()
        assert failures == [] and wrong == []
        assert swaps >= 40 and sum(calls) > 1000
        served = {sha for sha, n in fn.usage().items() if n > 0}
        assert len(served) >= 3  # the calls really did run on several champions
        assert fn.calls == sum(calls)


def test_a_variant_failing_a_held_out_case_is_never_served(tmp_path):
    with Runtime(tmp_path, hot=0) as rt:
        fn = rt.load(ORIGINAL, "pc")
        bad = wasmtime.wat2wasm('(module (func (export "pc") (param i32) (result i32) local.get 0 i32.clz))')
        assert not fn.offer(bad, require_better=False)
        assert fn.champion_sha256 == fn.original.sha256
        assert fn.stats()["blacklisted"] and fn(7) == 3


def test_shadow_mismatch_demotes_and_blacklists_at_once_and_returns_the_original_answer(tmp_path):
    with Runtime(tmp_path, hot=0, shadow=1.0) as rt:
        fn = rt.load(ORIGINAL, "pc")
        bad = wrong_at(7)
        sha = force_champion(fn, bad)  # test hook: no verification
        assert fn.champion_sha256 == sha
        assert fn(3) == 2  # shadow-checked, agrees
        assert fn(7) == 3  # disagrees: the original's answer
        stats = fn.stats()
        assert stats["champion_sha256"] == fn.original.sha256  # demoted by the call itself
        assert sha in stats["blacklisted"] and stats["mismatches"] == 1 and stats["shadow_checks"] == 2
        assert fn(7) == 3 and fn.stats()["mismatches"] == 1
        assert not fn.offer(bad, require_better=False)  # blacklisted: never again
    with Store(tmp_path) as store:
        assert store.is_blacklisted(sha)


def test_a_verified_champion_that_is_wrong_off_the_cases_is_caught_live(tmp_path):
    with Runtime(tmp_path, hot=0, shadow=1.0) as rt:
        fn = rt.load(ORIGINAL, "pc")
        sneaky = wrong_at(0x5EED1234)
        assert fn.offer(sneaky, require_better=False)  # passes every held-out case: the oracle tests, it does not prove
        assert fn(0x5EED1234) == popcount(0x5EED1234)
        assert fn.champion_sha256 == fn.original.sha256 and fn.stats()["mismatches"] == 1
        assert not fn.offer(sneaky, require_better=False)


def test_a_champion_that_traps_is_checked_even_without_sampling(tmp_path):
    with Runtime(tmp_path, hot=0, shadow=0.0) as rt:
        fn = rt.load(ORIGINAL, "pc")
        sha = force_champion(fn, traps_at(5))
        assert fn(6) == 2 and fn.stats()["shadow_checks"] == 0
        assert fn(5) == 2  # the champion trapped, the original did not
        assert fn.champion_sha256 == fn.original.sha256 and sha in fn.stats()["blacklisted"]


def test_shadow_checks_sample_the_configured_fraction(tmp_path):
    with Runtime(tmp_path, hot=0, shadow=0.25) as rt:
        fn = rt.load(ORIGINAL, "pc")
        assert fn.offer(wasmtime.wat2wasm(POPCNT), require_better=False)
        start = fn.calls
        for x in range(400):
            assert fn(x) == popcount(x)
        assert fn.calls - start == 400
        assert fn.stats()["shadow_checks"] == 100 and fn.stats()["mismatches"] == 0


def test_a_champion_must_be_faster_to_replace_the_current_one(tmp_path):
    with Runtime(tmp_path, hot=0) as rt:
        fn = rt.load(ORIGINAL, "pc")
        assert fn.offer(wasmtime.wat2wasm(POPCNT))
        assert not fn.offer(wasmtime.wat2wasm(POPCNT_NOT))  # more fuel than popcnt
        stats = fn.stats()
        assert stats["champion_fuel"] < stats["baseline_fuel"] and stats["held_out_cases"] >= 800


@pytest.mark.parametrize("stateful", [
    '(module (global $n (mut i32) (i32.const 0)) (func (export "pc") (param i32) (result i32) '
    'global.get $n i32.const 1 i32.add global.set $n local.get 0 global.get $n i32.add))',
])
def test_a_function_whose_results_depend_on_earlier_calls_is_pinned_to_the_original(tmp_path, stateful):
    with Runtime(tmp_path, hot=1) as rt:
        fn = rt.load(stateful, "pc")
        assert fn(10) == 11 and fn(10) == 12  # one thread, one instance: the original's own behaviour
        assert fn.wait(10) == "pinned"
        assert "stateful" in fn.stats()["pinned"] and fn(10) == 13
