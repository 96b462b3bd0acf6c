"""`jeet bench --suite tuner` end to end at toy sizes: it tunes on training kernels only, compares the
tuned and default settings on the unseen ones at equal budget, and writes tuner.md and tuner.json."""

from __future__ import annotations

import json

from rich.console import Console

from jeet.bench import tuner
from jeet.bench.options import BenchOptions, load_suite


def test_the_suite_tunes_then_compares_on_unseen_kernels(tmp_path, monkeypatch):
    monkeypatch.setattr(tuner, "TRAIN_KERNELS", ("clamp", "sign", "gcd"))
    monkeypatch.setattr(tuner, "OFFSPRING", 100)
    monkeypatch.setattr(tuner, "TUNE_SEEDS", 1)
    monkeypatch.setattr(tuner, "EVAL_SEEDS", 1)
    assert load_suite("tuner") is tuner.run
    opts = BenchOptions(budget=30, runs=1, seed=0, kernels=("sign",), workers=1, out=tmp_path / "b")
    doc = tuner.run(opts, Console(quiet=True))
    assert doc["training_kernels"] == ["clamp", "gcd"]  # a kernel named for evaluation is never trained on
    assert doc["evaluation_kernels"] == ["sign"] and doc["evaluation_seeds"] == [1000]
    # one trial: the default itself, so the "tuned" setting is the default and the two runs agree exactly
    assert doc["tune"]["best_trial"] == 0 and doc["tune"]["default_value"] == doc["tune"]["best_value"]
    (row,) = doc["comparison"]
    assert row["default_ratio"] == row["tuned_ratio"] < 1.0
    assert doc["summary"]["improvement_geomean"] == doc["summary"]["improvement_median"] == 0.0
    assert doc["summary"]["target_met"] is False
    md = (tmp_path / "b" / "tuner.md").read_text()
    assert "| sign | 1000 |" in md and "geometric mean of the fuel ratios" in md
    assert json.loads((tmp_path / "b" / "tuner.json").read_text())["summary"] == doc["summary"]
    assert json.loads((tmp_path / "b" / "tuned.json").read_text())["evolve"] == doc["tune"]["config"]


def test_without_wasm_opt_seeds_both_the_study_and_the_comparison_evolve_from_the_input_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(tuner, "TRAIN_KERNELS", ("clamp",))
    monkeypatch.setattr(tuner, "OFFSPRING", 60)
    monkeypatch.setattr(tuner, "TUNE_SEEDS", 1)
    monkeypatch.setattr(tuner, "EVAL_SEEDS", 1)
    seen = []
    real = tuner.run_unit

    def spy(kernel, seed, overrides, offspring, **kw):
        seen.append(kw.get("use_wasm_opt"))
        return real(kernel, seed, overrides, offspring, **kw)

    monkeypatch.setattr(tuner, "run_unit", spy)
    opts = BenchOptions(budget=30, runs=1, kernels=("sign",), workers=1, out=tmp_path / "b", wasm_opt=False)
    doc = tuner.run(opts, Console(quiet=True))
    assert doc["wasm_opt_seeds"] is False and doc["tune"]["setup"]["use_wasm_opt"] is False
    assert seen == [False, False]  # default and tuned, each without the seeds
    assert "without wasm-opt seeds" in (tmp_path / "b" / "tuner.md").read_text()
