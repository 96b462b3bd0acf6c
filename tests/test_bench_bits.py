"""`jeet bench --suite bits` end to end at toy size: two Hacker's Delight programs evolved from -O0 by fuel,
each against clang -O2 (+ wasm-opt -O3), with the proof status, the held-out check and the summary line."""

from __future__ import annotations

import json

from rich.console import Console

from jeet.bench import bits
from jeet.bench.options import BenchOptions, default_budget, load_suite


def _row(program: str, jeet: float, o2opt: float, o2: float | None = None, verification: str = "proved"):
    return bits.BitsRow(program, "", 30.0, o2 if o2 is not None else o2opt, o2opt, jeet, jeet / o2opt,
                        bits.verdict(jeet, o2opt), verification, 100, 0, 10, 1, 1.0)


def test_the_suite_is_registered_with_a_short_default_budget():
    assert load_suite("bits") is bits.run
    assert default_budget("bits") == 15.0 and default_budget("kernels") == 60.0


def test_verdict_and_summary_count_no_more_and_strictly_less():
    assert [bits.verdict(j, 6.0) for j in (5.0, 6.0, 6.0 + 1e-12, 7.0)] == ["less", "equal", "equal", "more"]
    rows = [_row("p01", 6, 6), _row("p18", 3, 4), _row("p23", 20, 18, 19), _row("p25", 9, 12, verification="tested only")]
    s = bits.summary(rows)
    assert (s["no_more_fuel_than_O2opt"], s["less_fuel_than_O2opt"]) == (3, 2)
    assert s["more_fuel_than_O2opt"] == ["p23"] and s["proved"] == 3 and s["held_out_failures"] == 0
    assert "**3/4**" in bits.markdown({"command": "c", "machine": "m", "budget_s": 1, "workers": 1, "wasm_opt": True,
                                       "seconds": 1, "summary": s, "programs": [r.__dict__ for r in rows]})


def test_two_programs_end_to_end(tmp_path):
    opts = BenchOptions(budget=2, runs=3, seed=0, kernels=("p01", "p09"), workers=1, out=tmp_path / "b")
    doc = bits.run(opts, Console(quiet=True))
    rows = {r["program"]: r for r in doc["programs"]}
    assert list(rows) == ["p01", "p09"]
    for r in rows.values():
        assert r["fuel_O0"] > r["fuel_O2opt"] > 0 and r["fuel_jeet"] <= r["fuel_O0"]
        assert r["held_out_failures"] == 0 and r["held_out_cases"] >= 100
        assert r["verification"] == "proved"  # loop-free: the proof decides
        assert r["ratio"] == round(r["fuel_jeet"] / r["fuel_O2opt"], 4)
    assert doc["summary"]["programs"] == 2 and doc["summary"]["held_out_failures"] == 0
    assert json.loads((tmp_path / "b" / "bits.json").read_text())["summary"] == doc["summary"]
    md = (tmp_path / "b" / "bits.md").read_text()
    assert "Command: `jeet bench" in md and "| p09 |" in md and "no more fuel than clang -O2" in md
    assert (tmp_path / "b" / "evolved" / "p01.wasm").read_bytes()[:4] == b"\0asm"
