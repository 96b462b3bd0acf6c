"""`jeet run`: drive the runtime from the command line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from jeet.cli.main import app

SLOW = """(module (func (export "slow") (param i32) (result i32) (local i32)
   local.get 0 i32.const 0 i32.add i32.const 1 i32.mul i32.const 0 i32.or local.set 1
   local.get 1 i32.const 3 i32.add i32.const 3 i32.sub))"""


def test_run_evolves_a_hot_function_and_reports_json(tmp_path):
    module = tmp_path / "slow.wat"
    module.write_text(SLOW)
    tests = tmp_path / "slow.jsonl"
    tests.write_text('{"args": [1], "expect": [1]}\n{"args": [-5], "expect": [-5]}\n{"args": [7]}\n')
    result = CliRunner().invoke(app, ["run", str(module), "--tests", str(tests), "--calls", "60", "--hot", "20",
                                      "--budget", "3", "--data", str(tmp_path / "data"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["function"] == "slow" and report["calls"] == 120
    assert report["history"][:3] == ["cold", "hot", "evolving"]
    # SLOW's waste costs fuel but Cranelift folds it: a variant only takes effect if it is faster natively
    if report["tier"] == "evolved":
        assert report["champion_fuel"] < report["baseline_fuel"] and report["native_time"]["improved"]
    else:
        assert report["tier"] == "settled" and report["champion_sha256"] == report["module_sha256"]
    assert report["mismatches"] == 0 and report["before"]["traps"] == 0


@pytest.mark.parametrize("args, message", [
    (["run", "/nonexistent/m.wasm"], "no such file"),
    (["run", "{module}", "--calls", "0"], "--calls"),
    (["run", "{module}", "--function", "nope"], "no exported function"),
    (["run", "{module}", "--tests", "{bad}"], "bad.jsonl:1"),
])
def test_bad_input_is_one_line_and_exit_status_2(tmp_path, args, message):
    module = tmp_path / "slow.wat"
    module.write_text(SLOW)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    args = [a.format(module=module, bad=bad) for a in args] + ["--data", str(tmp_path / "data")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0]
