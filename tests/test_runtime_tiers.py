"""Warm-up tiers with real background evolution; close() stops it; the store keeps the champion."""

from __future__ import annotations

import threading
import time

import wasmtime

from jeet.evolve import Evolution, EvolveConfig, load_problem
from jeet.runtime import Runtime
from jeet.store import Store

# a function with obvious waste: x + 0, * 1, | 0, + 3 - 3
SLOW = """(module (func (export "slow") (param i32) (result i32) (local i32)
   local.get 0 i32.const 0 i32.add i32.const 1 i32.mul i32.const 0 i32.or local.set 1
   local.get 1 i32.const 3 i32.add i32.const 3 i32.sub))"""
# seeded: the same run every time; fuel decides here (Cranelift folds SLOW's waste, so natively it is a tie,
# which the native gate refuses: see test_the_native_gate_keeps_a_variant_that_is_only_cheaper_in_fuel_out)
FAST_CONFIG = {"budget_s": 60.0, "generations": 4, "population": 12, "native_gate": False}


def test_cold_hot_evolving_evolved_then_a_new_runtime_starts_from_the_stored_champion(tmp_path):
    with Runtime(tmp_path, hot=20, shadow=0.1, **FAST_CONFIG) as rt:
        fn = rt.load(SLOW, "slow")
        for x in range(19):
            assert fn(x) == x
        assert fn.tier == "cold" and not rt.busy()
        assert fn(19) == 19  # the 20th call makes it hot
        assert fn.stats()["history"][:2] == ["cold", "hot"]

        wrong: list = []
        stop = threading.Event()

        def keep_calling() -> None:  # calls go on, never blocked, while evolution runs and swaps
            x = 0
            while not stop.is_set():
                x = (x * 69069 + 1) & 0x7FFFFFFF
                if fn(x) != x:
                    wrong.append(x)

        caller = threading.Thread(target=keep_calling)
        caller.start()
        try:
            assert fn.wait(60) == "evolved"
        finally:
            stop.set()
            caller.join()
        stats = fn.stats()
        assert wrong == []
        assert stats["history"] == ["cold", "hot", "evolving", "evolved"]
        assert stats["champion_sha256"] != stats["module_sha256"]
        assert stats["champion_fuel"] < stats["baseline_fuel"] and stats["rounds"] == 1
        assert stats["shadow_checks"] > 0 and stats["mismatches"] == 0
        champion = stats["champion_sha256"]
        assert stats["usage"][stats["module_sha256"]] >= 20  # the original's calls are counted for fitness

    with Store(tmp_path) as store:
        assert store.get_specimen(champion) is not None and not store.is_blacklisted(champion)

    with Runtime(tmp_path, hot=20, **FAST_CONFIG) as rt:
        fn = rt.load(SLOW, "slow")
        assert fn.tier == "evolved" and fn.champion_sha256 == champion  # re-verified, not re-evolved
        for x in range(200):
            assert fn(x) == x
        assert not rt.busy() and fn.stats()["history"] == ["cold", "evolved"]
        assert fn.stats()["usage"][champion] >= 200


def test_close_stops_background_evolution_promptly(tmp_path):
    started = time.monotonic()
    with Runtime(tmp_path, hot=1, budget_s=120.0, population=12) as rt:
        fn = rt.load(SLOW, "slow")
        fn(1)
        deadline = time.monotonic() + 30
        while fn.tier != "evolving" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert fn.tier == "evolving"
        job = next(iter(rt._supervisor.jobs.values()))
        time.sleep(1.0)
        closing = time.monotonic()
    assert time.monotonic() - closing < rt.config.stop_timeout_s + 2
    assert job.process.poll() is not None  # the evolution process is gone
    assert not rt._supervisor._thread.is_alive() and rt.closed
    assert fn.tier in ("hot", "evolved") and fn(5) == 5  # still serving after close
    assert time.monotonic() - started < 60


def test_usage_counts_feed_usage_frequency_in_the_evolution_fitness(tmp_path):
    module = tmp_path / "slow.wat"
    module.write_text(SLOW)
    problem = load_problem(module, "slow", seed=0, train_size=4, held_out_factor=10)
    served = wasmtime.wat2wasm('(module (func (export "slow") (param i32) (result i32) local.get 0))')
    unserved = wasmtime.wat2wasm('(module (func (export "slow") (param i32) (result i32) local.get 0 i32.const 0 i32.or))')
    import hashlib

    usage = {problem.sha256: 100, hashlib.sha256(served).hexdigest(): 300}
    config = EvolveConfig(population=4, workers=1, generations=1, use_wasm_opt=False)
    with Evolution(problem, config, usage=usage) as evo:
        evo.start()
        assert evo.baseline.calls == 100
        members = {m.sha256: m for m in evo.immigrate([served, unserved], policy="worst")}
    metrics = {sha: m.evaluation.metrics.usage_frequency for sha, m in members.items()}
    assert metrics[hashlib.sha256(served).hexdigest()] == 0.75  # 300 / (300 + 100)
    assert metrics[hashlib.sha256(unserved).hexdigest()] == 0.5  # never served: neutral


def test_the_native_gate_keeps_a_variant_that_is_only_cheaper_in_fuel_out(tmp_path):
    """Do no harm where a variant takes effect: fuel-cheaper but natively a tie is not swapped in."""
    with Runtime(tmp_path, hot=1, **(FAST_CONFIG | {"native_gate": True})) as rt:
        fn = rt.load(SLOW, "slow")
        assert fn(7) == 7
        assert fn.wait(60) == "settled"
        stats = fn.stats()
        assert stats["champion_sha256"] == stats["module_sha256"]
        assert stats["native_time"] is None or stats["native_time"]["improved"] is False
