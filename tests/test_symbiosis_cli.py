"""`jeet coevolve`: the built-in example end to end, and bad input as one line with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import wasmtime
from typer.testing import CliRunner

from jeet.cli.main import app
from jeet.symbiosis import EXAMPLE_CALLEE, EXAMPLE_CALLER, LinkedSandbox, Pair, PairBundle
from jeet.oracle import load_tests


def coevolve(*args: str):
    return CliRunner().invoke(app, ["coevolve", *args])


def test_the_built_in_example_end_to_end(tmp_path):
    prefix = tmp_path / "out" / "ex"
    r = coevolve("--generations", "6", "--seed", "4", "--json", "--out", str(prefix), "--data", str(tmp_path / "d"))
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout.strip().splitlines()[-1])
    assert doc["function"] == "byte_weights" and doc["callee_functions"] == ["bits_set"]
    assert doc["best_fuel"] <= doc["baseline_fuel"] and doc["held_out_failures"] == 0
    assert doc["held_out_cases"] >= 100 * 16
    caller = (tmp_path / "out" / "ex.caller.wasm").read_bytes()
    callee = (tmp_path / "out" / "ex.callee.wasm").read_bytes()
    evidence = json.loads((tmp_path / "out" / "ex.evidence.json").read_text())
    assert evidence["best_fuel"] == doc["best_fuel"] and "testing, not a proof" in evidence["checked_against"]
    bundle = PairBundle.from_bytes((tmp_path / "out" / "ex.pair").read_bytes())
    assert (bundle.caller, bundle.callee, bundle.fuel) == (caller, callee, doc["best_fuel"])
    # anyone can re-check the written pair against the written held-out cases
    cases = load_tests(tmp_path / "out" / "ex.tests.jsonl", ["i32"], ["i32"])
    with LinkedSandbox() as ls:
        results = ls.run(Pair(caller, callee), "byte_weights", cases)
    assert all(r.results == c.expect for r, c in zip(results, cases)) and len(results) == len(cases)
    assert doc["store"]["persisted"][0]["reason"] == "champion"


def test_tables_by_default(tmp_path):
    r = coevolve("--generations", "2", "--seed", "1", "--out", str(tmp_path / "p"), "--data", str(tmp_path / "d"))
    assert r.exit_code == 0, r.output
    assert "original pair" in r.stdout and "symbiosis score" in r.stdout and "x cheaper" in r.stdout


CALLER_WAT = '(module (import "callee" "bits_set" (func $f (param i32 i32) (result i32)))' \
             ' (func (export "g") (param i32) (result i32) local.get 0 i32.const 8 call $f))'


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    def write(name: str, data: bytes | str) -> Path:
        p = tmp_path / name
        p.write_bytes(data.encode() if isinstance(data, str) else data)
        return p

    return {
        "wrong_type": write("wrong.wat", CALLER_WAT.replace("param i32 i32", "param i64 i32")
                            .replace("local.get 0 i32.const 8", "local.get 0 i64.extend_i32_u i32.const 8")),
        "ok_caller": write("ok.wat", CALLER_WAT),
        "junk": write("junk.wasm", b"this is not a module"),
        "truncated": write("cut.wasm", EXAMPLE_CALLER.read_bytes()[:40]),
        "tests": write("t.jsonl", '{"args": [1, 2]}\n'),
    }


BAD = {
    "only a caller": (lambda f: [str(EXAMPLE_CALLER)], "give both CALLER and CALLEE"),
    "unlinkable": (lambda f: [str(f["wrong_type"]), str(EXAMPLE_CALLEE)], "the function types differ"),
    "missing function": (lambda f: [str(EXAMPLE_CALLER), str(EXAMPLE_CALLEE), "--function", "nope"],
                         "no exported function 'nope'"),
    "not wasm": (lambda f: [str(f["junk"]), str(EXAMPLE_CALLEE)], "not a WebAssembly module"),
    "truncated": (lambda f: [str(EXAMPLE_CALLER), str(f["truncated"])], "malformed module"),
    "swapped": (lambda f: [str(EXAMPLE_CALLEE), str(EXAMPLE_CALLER)], "must be self-contained"),
    "missing file": (lambda f: [str(f["ok_caller"]), "/no/such/callee.wasm"], "no such file"),
    "bad tests": (lambda f: [str(f["ok_caller"]), str(EXAMPLE_CALLEE), "--tests", str(f["tests"])],
                  "expected 1 values"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_is_one_line_and_exit_2(name, files, tmp_path):
    make, needle = BAD[name]
    r = coevolve(*make(files), "--generations", "1", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "o"))
    assert r.exit_code == 2, r.output
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert lines[0].startswith("jeet: error:") and needle in lines[0], lines[0]
    assert not list(tmp_path.glob("o.*"))  # nothing written


def test_a_user_pair_runs_from_the_shell(tmp_path, files):
    proc = subprocess.run([sys.executable, "-m", "jeet", "coevolve", str(files["ok_caller"]), str(EXAMPLE_CALLEE),
                           "--generations", "2", "--json", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "u")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["function"] == "g" and doc["name"] == "ok+callee"
    wasmtime.Module.validate(wasmtime.Engine(), (tmp_path / "u.caller.wasm").read_bytes())
