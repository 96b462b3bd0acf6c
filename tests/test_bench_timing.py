"""`jeet bench --suite timing` end to end at toy sizes: every kernel from both starting points against
clang -O2 + wasm-opt -O3, with the noise, the predictor's Spearman, and the command and machine."""

from __future__ import annotations

import json

from rich.console import Console

from jeet.bench import timing
from jeet.bench.options import BenchOptions, load_suite


def test_the_suite_times_both_starting_points_against_the_reference(tmp_path, monkeypatch):
    monkeypatch.setenv("JEET_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(timing, "MUTANTS", 2)
    monkeypatch.setattr(timing, "MAX_CASES", 24)
    assert load_suite("timing") is timing.run
    opts = BenchOptions(budget=0.05, runs=3, seed=0, kernels=("popcount", "sum_bytes", "clamp"), out=tmp_path / "b")
    doc = timing.run(opts, Console(quiet=True))
    rows = [r for k in doc["kernels"] for r in k["rows"]]
    assert [(r["kernel"], r["level"]) for r in rows] == [(k, lv) for k in ("popcount", "sum_bytes", "clamp")
                                                         for lv in ("O0", "O2")]
    for r in rows:
        assert r["ns_input"] > 0 and r["ns_reference"] > 0 and r["fuel_input"] > 0
        assert r["ratio_ci"][0] <= r["ratio"] <= r["ratio_ci"][1]
        assert r["self_ci"][0] <= r["self_ratio"] <= r["self_ci"][1]
    o0 = {r["kernel"]: r for r in rows if r["level"] == "O0"}
    assert o0["sum_bytes"]["fuel_input"] > 5 * o0["sum_bytes"]["fuel_reference"]
    s = doc["summary"]
    assert -1 <= s["spearman_predictor_cross_validated"] <= 1 and s["variants"] >= 9
    assert s["self_vs_self"]["intervals"] == 6
    md = (tmp_path / "b" / "timing.md").read_text()
    assert "Command: `jeet bench" in md and "Machine: " in md and "| sum_bytes | O2 |" in md
    saved = json.loads((tmp_path / "b" / "timing.json").read_text())
    assert saved["summary"] == s and saved["samples"]["clamp"]["variants"][0]["samples_ns"]
    assert (tmp_path / "data" / "timing").is_dir()  # the measurements feed this machine's cost cache
