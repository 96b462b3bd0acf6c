"""`jeet bench --suite kernels`: each kernel from each starting point against clang -O2 + wasm-opt -O3,
in native time and fuel; the do-no-harm verdict; what the bench reads from an evolve run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import wasmtime
from rich.console import Console

from jeet.bench.native import time_kernel
from jeet.bench.options import BenchOptions, load_suite, parse_starts
from jeet.bench.runs import DistinctCounter, StartRun, distinct_evaluations, load_start
from jeet.bench.suite import run_kernels
from jeet.evolve import EvolveConfig
from jeet.evolve.worker import Offspring
from jeet.kernels import get_kernel
from jeet.sandbox import Limits, Sandbox

# the kernel's interface kept (its exported memory is observable): only the function changes
POPCNT = wasmtime.wat2wasm('(module (memory (export "memory") 2 16) '
                           '(func (export "popcount") (param i32) (result i32) local.get 0 i32.popcnt))')
SLOW = wasmtime.wat2wasm("""(module (memory (export "memory") 2 16)
  (func (export "popcount") (param i32) (result i32) (local i32 i32)
    loop
      local.get 1 local.get 0 local.get 2 i32.shr_u i32.const 1 i32.and i32.add local.set 1
      local.get 2 i32.const 1 i32.add local.tee 2 i32.const 32 i32.lt_u br_if 0
    end
    local.get 1))""")


def _run(start: str, output: bytes | None = None, result: dict | None = None) -> StartRun:
    """A finished run of popcount from `start` whose output is `output` (default: its input unchanged)."""
    k = get_kernel("popcount")
    problem = load_start(k, start, 0, Limits(), EvolveConfig())
    return StartRun(k, start, problem, problem.wasm if output is None else output, result or {}, 10, "bench",
                    1.0, 1, 0, 0.0)


def test_from_o0_o2_by_default_and_o2_means_the_production_build():
    assert BenchOptions().starts == ("O0", "O2")
    assert parse_starts("O0, O2") == ("O0", "O2")
    assert parse_starts("O2opt") == ("O2",) and parse_starts("O2,O2opt") == ("O2",)
    for bad in ("O3", "", "O0,Os"):
        with pytest.raises(ValueError, match="O2 = clang -O2 \\+ wasm-opt -O3"):
            parse_starts(bad)
    assert load_start(get_kernel("gcd"), "O2", 0, Limits(), EvolveConfig()).wasm == get_kernel("gcd").wasm("O2opt")


def test_a_bad_from_is_one_line_before_any_budget(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "jeet", "bench", "--from", "O3", "--out", str(tmp_path / "b")],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2 and "--from 'O3'" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "b").exists()


def test_an_output_that_is_its_input_is_neither_faster_nor_slower():
    with Sandbox() as sb:
        rows, samples = time_kernel(get_kernel("popcount"), [_run("O0"), _run("O2")], sb, seed=0, rounds=5)
    for r in rows:
        assert r.output_is_input and r.ratio == 1.0 and r.ratio_ci == (1.0, 1.0)
        assert not r.improved and not r.slower and r.held_out_failures == 0
        assert r.fuel_jeet == r.fuel_input > 0 and r.timing_rounds >= 5
    o0, o2 = rows
    assert o0.fuel_O2opt == o2.fuel_input and o0.ns_O2opt == o2.ns_input  # one measurement, shared builds
    assert o0.O2opt_ratio_ci[0] <= o0.O2opt_ratio <= o0.O2opt_ratio_ci[1] and o2.O2opt_ratio is None
    assert {s.roles for s in samples} == {("O0", "jeet O0"), ("O2", "O2opt", "jeet O2")}  # copies not counted


def test_the_verdict_sees_a_much_faster_output_and_flags_a_slower_one():
    """popcount's bit loop against `i32.popcnt` (tens of times apart), and a bit-by-bit loop over all 32
    bits offered as the output of a run from the production build (several times its time)."""
    k = get_kernel("popcount")
    with Sandbox() as sb:
        rows, _ = time_kernel(k, [_run("O0", POPCNT), _run("O2", SLOW)], sb, seed=1, rounds=9)
    faster, slower = rows
    assert faster.improved and not faster.slower and faster.ratio_ci[1] < 0.5
    assert faster.fuel_jeet < faster.fuel_O2opt < faster.fuel_input
    assert not slower.improved and slower.ratio > 1.0  # its interval may reach below 1 on a loaded machine
    # flagged slower when the whole interval clears the identical copy's spread; on a loaded machine that
    # spread can itself be wide, and then the flag stays down (the verdict never calls noise a change)
    assert slower.slower or slower.ratio_ci[0] <= 1.0 + slower.judge_margin
    assert faster.held_out_failures == 0 == slower.held_out_failures
    assert faster.timing_note == "" == slower.timing_note  # every variant returned the same results


def test_what_the_bench_reads_from_a_run_result():
    assert _run("O0").evolve_timing_share == 0.0  # a loop with no native-time fields times nothing
    assert _run("O0", result={"improved": True, "time_ratio": 0.8}).evolve_timing_share is None
    assert _run("O0", result={"timing_seconds": 0.25}).evolve_timing_share == 0.25
    assert _run("O0", result={"improved": False}).evolve_improved is False


def test_distinct_evaluations_are_counted_by_content_hash():
    def off(sha, evaluated=True):
        return Offspring("op", (), b"", sha, None, evaluated)

    class Inner:
        workers = 3

        def run(self, tasks, ctx):
            return [off("a"), off("a"), off("b", False)]

        def collect(self, pending):
            return [off("c"), off(None), off("a")]

    counter = DistinctCounter(Inner())
    counter.run([], None)
    counter.collect(None)
    assert counter.hashes == {"a", "c"} and counter.workers == 3
    assert distinct_evaluations({"evaluations": 5}, counter) == (2, "bench")
    assert distinct_evaluations({"evaluations": 5, "distinct_candidates": 4}, counter) == (4, "run")
    # a loop that evaluates elsewhere than evo.evaluator: its own figure, named for what it is
    assert distinct_evaluations({"evaluations": 5}, DistinctCounter(Inner())) == (5, "run evaluations, repeats not removed")


def test_the_suite_on_two_kernels_writes_its_table_json_and_plots(tmp_path):
    assert load_suite("kernels") is run_kernels
    opts = BenchOptions(budget=2, runs=3, seed=0, kernels=("popcount", "sign"), workers=1, out=tmp_path / "b")
    doc = run_kernels(opts, Console(quiet=True))
    assert [(r["kernel"], r["start"], r["build"]) for r in doc["rows"]] == [
        ("popcount", "O0", "O0"), ("popcount", "O2", "O2opt"), ("sign", "O0", "O0"), ("sign", "O2", "O2opt")]
    for r in doc["rows"]:
        assert r["held_out_failures"] == 0 and r["held_out_cases"] >= 100
        assert r["ns_input"] > 0 and r["ns_O2opt"] > 0 and r["ns_jeet"] > 0
        assert r["ratio_ci"][0] <= r["ratio"] <= r["ratio_ci"][1]
        assert r["fuel_jeet"] > 0 and r["distinct"] > 0 and r["peak_rss_mb"] > 0
        assert isinstance(r["improved"], bool) and isinstance(r["slower"], bool)
        assert r["evolve_timing_share"] is None or 0 <= r["evolve_timing_share"] <= 1
    s = doc["summary"]
    assert set(s["median_ratio"]) == {"O0", "O2"} and s["held_out_failures"] == 0
    assert s["median_O2opt_vs_O0"] > 0 and set(s["improved"]) == {"O0", "O2"}
    assert 0 <= s["share_faster_1_25x_from_O2"] <= 1 and isinstance(s["slower_than_input"], list)
    assert -1 <= doc["predictor"]["spearman_predictor"] <= 1 and doc["predictor"]["kernels"] == 2
    assert s["median_distinct_per_s_per_core"] > 0 and 0 < s["bench_timing_share"] < 1
    out = Path(opts.out)
    assert json.loads((out / "bench.json").read_text())["summary"] == s
    md = (out / "bench.md").read_text()
    assert "Command: `jeet bench" in md and "Machine: " in md
    # every operator the runs used has its line, with what it won in native time
    ops = {o["operator"]: o for o in doc["operators"]}
    assert ops and all(o["made"] >= o["correct"] >= o["improving"] >= 0 for o in ops.values())
    assert all(o["native_speedup"] >= 1.0 and (o["native_wins"] > 0) == (o["kernels_won"] > 0) for o in ops.values())
    assert "## Operators in native time" in md and all(f"| {name} |" in md for name in ops)
    assert "| popcount | O0 |" in md and "| sign | O2 (+opt) |" in md and "slower than its input" in md
    for png in ("native_time.png", "fitness.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in (out / "evolved").iterdir()) == [
        "popcount.from-O0.wasm", "popcount.from-O2.wasm", "sign.from-O0.wasm", "sign.from-O2.wasm"]


def test_operator_speedups_average_over_the_runs_they_won_in():
    """Two kernels each made 2x faster by one operator: 2x per run, not 4x over the suite."""
    from types import SimpleNamespace
    from jeet.bench.results import BenchReport

    def row(kernel, wins, speedup):
        return SimpleNamespace(kernel=kernel, operators=[{"operator": "licm", "made": 5, "correct": 4, "improving": 1,
                                                          "native_wins": wins, "native_speedup": speedup}])
    report = BenchReport(1.0, 1, ["O2"], [row("a", 1, 2.0), row("b", 2, 2.0), row("c", 0, 1.0)], [], False, 0.0, {})
    (licm,) = report.operators()
    assert licm["native_speedup"] == 2.0 and licm["native_wins"] == 3 and licm["kernels_won"] == 2
    assert licm["made"] == 15
