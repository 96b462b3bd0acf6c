"""The commands as a user runs them: `jeet evolve`, `jeet inspect`, `jeet bench`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import wasmtime

from jeet.evolve import EvolveConfig

JEET = [sys.executable, "-m", "jeet"]

REQUIRED = {"function", "baseline_fuel", "best_fuel", "fuel_ratio", "held_out_cases", "held_out_failures",
            "evaluations", "seconds", "valid_offspring_rate", "best_sha256", "out"}


def jeet(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(JEET + list(args), capture_output=True, text=True, timeout=timeout, cwd=cwd)


def test_evolve_default_kernel_json(tmp_path):
    proc = jeet("evolve", "--json", "--budget", "8", "--data", str(tmp_path / "d"), cwd=tmp_path)  # start-up counts
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # exactly one JSON object on stdout
    assert REQUIRED <= set(doc)
    assert doc["function"] == "popcount" and doc["held_out_failures"] == 0
    # training grows by the held-out cases candidates failed; the held-out set is 100x its initial size
    assert doc["held_out_cases"] >= 100 * EvolveConfig().train_size
    assert isinstance(doc["held_out_seed"], int)  # drawn fresh for the run, recorded to rebuild the cases
    assert 0 < doc["best_fuel"] <= doc["baseline_fuel"] and isinstance(doc["valid_offspring_rate"], float)
    out = tmp_path / doc["out"]
    assert out.exists() and (tmp_path / (doc["out"] + ".evidence.json")).exists()


def test_evolve_user_wat_differential(tmp_path):
    """A user module in text form, no tests file: the input itself is the oracle."""
    src = tmp_path / "sq.wat"
    src.write_text("""(module (func (export "sq") (param i32 i32) (result i32) (local i32)
        local.get 0 local.get 0 i32.mul local.set 2
        local.get 2 local.get 1 i32.const 0 i32.mul i32.add))""")
    # fuel decides here: Cranelift folds the dead term itself, so natively the input is as fast (and the
    # default objective, time, would write the input unchanged: see tests/test_evolve_race.py)
    proc = jeet("evolve", str(src), "--json", "--generations", "30", "--objective", "fuel", "--data", str(tmp_path / "d"),
                "--out", str(tmp_path / "sq.best.wasm"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["oracle"] == "differential" and doc["held_out_failures"] == 0
    assert doc["best_fuel"] < doc["baseline_fuel"]  # the dead `* 0` term goes away
    best = (tmp_path / "sq.best.wasm").read_bytes()
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    f = wasmtime.Instance(store, wasmtime.Module(engine, best), []).exports(store)["sq"]
    assert f(store, 12, 99) == 144 and f(store, -3, 5) == 9


def test_evolve_with_tests_file_and_human_output(tmp_path):
    from jeet.kernels import get_kernel

    k = get_kernel("sum_bytes")
    src = tmp_path / "sum.wasm"
    src.write_bytes(k.wasm("O0"))
    proc = jeet("evolve", str(src), "--tests", str(k.tests_path()), "--generations", "10",
                "--data", str(tmp_path / "d"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "held-out cases" in proc.stdout and "passed" in proc.stdout
    # do no harm: a variant is written only when it is natively faster than the input; else it says so
    written = (tmp_path / "sum.evolved.wasm").exists()
    assert written != ("no faster variant found" in proc.stdout)


def test_inspect_lists_exports_and_mutability(tmp_path):
    from jeet.kernels import get_kernel

    src = tmp_path / "alu.wasm"
    src.write_bytes(get_kernel("alu").wasm("O2"))
    proc = jeet("inspect", str(src), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert [e["name"] for e in info["exports"]] == ["alu"]
    assert info["exports"][0]["type"] == "[i32 i32 i32] -> [i32]"
    assert all(f["mutable"] for f in info["functions"])
    assert info["exports"][0]["state_writes"] == []
    human = jeet("inspect", str(src), cwd=tmp_path)
    assert "alu" in human.stdout and "mutable" in human.stdout
    # the signature is shown as written, not eaten as markup
    assert "[i32 i32 i32] -> [i32]" in human.stdout


def test_bench_writes_table_and_plot(tmp_path):
    proc = jeet("bench", "--kernels", "popcount,clamp", "--from", "O0", "--budget", "3", "--runs", "3", "--json",
                "--out", str(tmp_path / "b"), cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [(r["kernel"], r["start"]) for r in doc["rows"]] == [("popcount", "O0"), ("clamp", "O0")]
    assert doc["summary"]["held_out_failures"] == 0
    assert all(r["ns_input"] > 0 and r["ratio"] > 0 for r in doc["rows"])
    md = (tmp_path / "b" / "bench.md").read_text()
    assert "| popcount | O0 |" in md and "median native-time ratio" in md
    assert (tmp_path / "b" / "fitness.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "b" / "native_time.png").read_bytes()[:4] == b"\x89PNG"


def test_raw_operators_run_and_report_their_valid_rate(tmp_path):
    """The roadmap's byte-level operators stay available for comparison; most of what they make is invalid."""
    proc = jeet("evolve", "--kernel", "gcd", "--operators", "raw", "--generations", "15", "--json",
                "--data", str(tmp_path / "d"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    # "+more": children further mutations changed after the operator (a novelty retry's bigger step)
    assert {r["operator"].removesuffix("+more") for r in doc["operators"]} <= {"raw_xor", "raw_splice"}
    assert doc["valid_offspring_rate"] < 0.9 and doc["held_out_failures"] == 0


def test_bench_rejects_an_unknown_suite(tmp_path):
    proc = jeet("bench", "--suite", "nope", cwd=tmp_path)
    assert proc.returncode == 2
    assert "unknown suite 'nope'" in proc.stderr and "Traceback" not in proc.stderr
