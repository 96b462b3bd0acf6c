"""`jeet express` and `jeet bench --suite epigenetics` as a user runs them."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from rich.console import Console
from typer.testing import CliRunner

from jeet.bench.epigenetics import run as run_suite
from jeet.bench.options import BenchOptions, load_suite
from jeet.cli.main import app
from jeet.epigenetics import Expression
from jeet.kernels import BUFFER_BASE


def express(*args: str):
    return CliRunner().invoke(app, ["express", *args])


def test_express_json_and_out_folder(tmp_path):
    out = tmp_path / "expr"
    r = express("crc8", "--budget", "0", "--no-wasm-opt", "--json", "--out", str(out))
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    envs = {e["environment"]: e for e in doc["environments"]}
    assert set(envs) == {"size=small", "size=large"}
    for e in envs.values():
        assert e["gain"] >= 0.2 and e["expressed_fuel"] < e["best_overall_fuel"]
    assert doc["best_overall"]["origin"] == "clang -O2 crc8.nibble.c"
    assert "geometric mean" in doc["best_overall_definition"]
    assert json.loads((out / "build.json").read_text())["environments"] == doc["environments"]
    expr = Expression.load(out)
    assert expr.choose((BUFFER_BASE, 4, 7)) == envs["size=small"]["expressed"]
    assert expr.choose((BUFFER_BASE, 4000, 7)) == envs["size=large"]["expressed"]


def test_express_prints_a_table_per_environment():
    r = express("crc8", "--budget", "0", "--no-wasm-opt", "--bounds", "8")
    assert r.exit_code == 0, r.output
    for text in ("size=small", "size=large", "best overall", "gain", "crc8.nibble.c"):
        assert text in r.stdout


@pytest.mark.parametrize("args, message", [
    (["no_such_kernel"], "neither a file nor a built-in kernel"),
    (["crc8", "--bounds", "8,x"], "--bounds"),
    (["crc8", "--bounds", "16,8"], "increasing"),
    (["crc8", "--budget", "-1"], "negative"),
    (["crc8", "--function", "other"], "exports crc8"),
    (["crc8", "--size-arg", "9"], "--size-arg"),
])
def test_bad_input_is_one_line_and_exit_status_2(args, message):
    r = express(*args)
    assert r.exit_code == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_module_without_integer_parameters_is_refused(tmp_path):
    wat = tmp_path / "f.wat"
    wat.write_text('(module (func (export "f") (param f64) (result f64) local.get 0))')
    proc = subprocess.run([sys.executable, "-m", "jeet", "express", str(wat), "--budget", "0"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == ["jeet: error: cannot tell input sizes of a function of (f64): "
                                                "it has no integer parameter"]


def test_a_scalar_module_gets_argument_magnitude_environments(tmp_path):
    wat = tmp_path / "sq.wat"
    wat.write_text('(module (func (export "sq") (param i32) (result i32) local.get 0 local.get 0 i32.mul))')
    r = express(str(wat), "--budget", "0", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["unit"] == "bits" and [e["sizes"] for e in doc["environments"]] == [[0, 7], [8, 32]]


def test_bench_suite_writes_its_report(tmp_path):
    assert load_suite("epigenetics") is run_suite
    opts = BenchOptions(budget=0.5, kernels=("crc8",), workers=1, out=tmp_path)
    report = run_suite(opts, Console(file=io.StringIO()))
    md = (tmp_path / "epigenetics.md").read_text()
    assert report["target_met"] and "target met" in md
    assert "| size=small |" in md and "| size=large |" in md and "Evolution per environment" in md
    assert json.loads((tmp_path / "epigenetics.json").read_text())["target_met"] is True
