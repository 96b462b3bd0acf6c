"""The native-time predictor: exact class counts, non-negative fitted costs, a per-machine cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
import wasmtime

from jeet.kernels import get_kernel
from jeet.oracle import Case, load_tests
from jeet.timing import (FEATURES, CostModel, CostStore, CountError, count_classes, cross_validated_spearman, fit,
                         instrument, spearman)
from jeet.wasm import decode

# x iterations of a loop: per iteration loop 1, branch 2 (br_if, br), const 2, local 5, int_arith 2.
COUNTDOWN = bytes(wasmtime.wat2wasm("""
(module (func (export "f") (param $x i32) (result i32) (local $n i32)
  (block $done (loop $l
    (br_if $done (i32.eqz (local.get $x)))
    (local.set $n (i32.add (local.get $n) (i32.const 3)))
    (local.set $x (i32.sub (local.get $x) (i32.const 1)))
    (br $l)))
  (local.get $n)))"""))

CALLS_DIV = bytes(wasmtime.wat2wasm("""
(module
  (func $half (param i32) (result i32) (i32.div_u (local.get 0) (i32.const 2)))
  (func (export "g") (param i32) (result i32) (call $half (local.get 0))))"""))


def counts_of(wasm: bytes, function: str, args: list[int], sandbox) -> dict[str, float]:
    return count_classes(wasm, function, [Case((a,)) for a in args], sandbox=sandbox).as_dict()


def test_loop_counts_are_exact(sandbox) -> None:
    c = counts_of(COUNTDOWN, "f", [4], sandbox)
    # 4 iterations plus the exit pass (loop entered 5 times; br_if, i32.eqz, local.get x each 5 times)
    assert c["entry"] == 1 and c["loop"] == 5
    assert c["branch"] == 5 + 4          # br_if five times, br four times
    assert c["int_arith"] == 5 + 4 * 2   # eqz five times; add and sub four times
    assert c["const"] == 4 * 2
    assert c["local"] == 5 + 4 * 4 + 1   # the exit test, two get/set pairs per iteration, the result
    assert sum(v for k, v in c.items() if k not in ("entry", "loop", "int_arith", "branch", "const", "local")) == 0


def test_counts_average_over_cases_and_follow_calls(sandbox) -> None:
    assert counts_of(COUNTDOWN, "f", [0, 10], sandbox)["loop"] == (1 + 11) / 2
    c = counts_of(CALLS_DIV, "g", [7, 9], sandbox)
    assert c["call"] == 1 and c["int_div"] == 1 and c["local"] == 2 and c["const"] == 1


def test_counts_match_fuel_on_a_kernel(sandbox) -> None:
    """wasmtime's fuel counts the same instructions (less the ones it does not charge)."""
    k = get_kernel("popcount")
    cases = list(load_tests(k.tests_path(), k.params, k.results))[:50]
    c = count_classes(k.wasm("O0"), k.function, cases, sandbox=sandbox).as_dict()
    fuel = np.mean([r.fuel for r in sandbox.run(k.wasm("O0"), k.function, cases)])
    assert sum(v for name, v in c.items() if name not in ("entry", "loop")) == pytest.approx(fuel, rel=0.01)


def test_instrumented_module_still_computes_the_function(sandbox) -> None:
    k = get_kernel("fnv1a32")
    cases = list(load_tests(k.tests_path(), k.params, k.results))[:20]
    instrumented = instrument(k.wasm("O0"), k.function)
    assert decode(instrumented)  # valid for jeet's codec
    for case in cases:
        assert sandbox.run(instrumented, k.function, [case])[0].results == case.expect


def test_uncountable_code_is_a_clear_error(sandbox) -> None:
    simd = bytes(wasmtime.wat2wasm(
        '(module (func (export "f") (param i32) (result i32) (i32x4.extract_lane 0 (i32x4.splat (local.get 0)))))'))
    assert count_classes(simd, "f", [Case((1,))], sandbox=sandbox).as_dict()["simd"] == 2  # SIMD is counted
    traps = bytes(wasmtime.wat2wasm('(module (func (export "f") (param i32) (result i32) unreachable))'))
    with pytest.raises(CountError, match="trap"):
        count_classes(traps, "f", [Case((1,))], sandbox=sandbox)


def test_fit_recovers_non_negative_costs_from_synthetic_timings() -> None:
    rng = np.random.default_rng(0)
    truth = rng.uniform(0.1, 3.0, len(FEATURES))
    truth[[3, 7, 11]] = 0.0  # some classes cost nothing (they vanish into registers)
    counts = rng.uniform(0, 50, (200, len(FEATURES)))
    counts[:, 0] = 1.0
    ns = counts @ truth
    exact = fit(counts, ns, shrink=0.0)
    assert all(c >= 0 for c in exact.costs)
    np.testing.assert_allclose(exact.costs, truth, atol=1e-6)
    noisy = fit(counts, ns * rng.lognormal(0, 0.02, len(ns)))
    assert all(c >= 0 for c in noisy.costs)
    np.testing.assert_allclose(noisy.costs[1:], truth[1:], atol=0.2)
    assert spearman([noisy.predict(c) for c in counts], ns) > 0.99


def test_fit_never_goes_negative_even_when_the_data_would_like_it() -> None:
    rng = np.random.default_rng(1)
    counts = rng.uniform(0, 10, (60, len(FEATURES)))
    ns = 5 * counts[:, 1] - 2 * counts[:, 2] + 100  # a negative "cost" in the truth
    model = fit(counts, ns)
    assert min(model.costs) >= 0 and model.samples == 60


def test_cross_validated_spearman_ranks_unseen_groups() -> None:
    rng = np.random.default_rng(2)
    truth = rng.uniform(0.1, 2.0, len(FEATURES))
    counts = rng.uniform(0, 30, (90, len(FEATURES)))
    ns = counts @ truth
    groups = [f"k{i % 9}" for i in range(90)]
    assert cross_validated_spearman(counts, ns, groups) > 0.95
    assert np.isnan(spearman([1.0, 2.0], [1.0, 2.0]))


def test_cost_store_refits_as_timings_accumulate_and_survives_a_restart(tmp_path) -> None:
    rng = np.random.default_rng(3)
    truth = rng.uniform(0.1, 2.0, len(FEATURES))
    store = CostStore(tmp_path, refit_every=10)
    assert store.model == CostModel.prior() and not store.path.exists()
    for i in range(25):
        counts = rng.uniform(0, 30, len(FEATURES))
        counts[0] = 1
        store.observe(counts, float(counts @ truth))
        assert store.model.samples == (20 if i >= 19 else 10 if i >= 9 else 0)
    data = json.loads(store.path.read_text())
    assert data["features"] == list(FEATURES) and len(data["observations"]) == 25
    assert store.path.parent == tmp_path / "timing" and data["machine"]["cores"] >= 1
    again = CostStore(tmp_path, refit_every=10)
    assert again.model == store.model and len(again.observations) == 25
    probe = rng.uniform(0, 30, len(FEATURES))
    assert again.predict(probe) == pytest.approx(store.predict(probe))


def test_cost_store_uses_jeet_data(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("JEET_DATA", str(tmp_path / "d"))
    assert CostStore().path.is_relative_to(tmp_path / "d" / "timing")
    (tmp_path / "d" / "timing").mkdir(parents=True)
    CostStore().path.write_text("{not json")
    assert CostStore().model == CostModel.prior()  # an unreadable cache is ignored, not fatal
