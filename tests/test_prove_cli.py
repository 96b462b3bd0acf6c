"""`jeet prove A B --function F`: exit 0 proved, 1 refuted (a tests-file line), 2 bad input, 3 unknown/bounded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jeet.oracle import parse_tests
from jeet.sandbox import Sandbox

JEET = [sys.executable, "-m", "jeet", "prove"]

POPCNT = '(module (func (export "f") (param i32) (result i32) local.get 0 i32.popcnt))'
PLANTED = ('(module (func (export "f") (param i32) (result i32) '
           'i32.const 99 local.get 0 i32.popcnt local.get 0 i32.const 0x13371337 i32.eq select))')
LOOP = '''(module (func (export "f") (param i32) (result i32) (local i32)
  (block $done (loop $next (br_if $done (i32.eqz (local.get 0)))
    (local.set 1 (i32.add (local.get 1) (local.get 0)))
    (local.set 0 (i32.sub (local.get 0) (i32.const 1))) (br $next)))
  (local.get 1)))'''
LOOP_BLOCK = LOOP.replace("(local.get 1)))", "(loop $once) (local.get 1)))")  # loops that do not pair up
FLOATS = '(module (func (export "f") (param i32) (result i32) local.get 0 f32.convert_i32_s i32.trunc_f32_s))'
WIDE = '(module (func (export "f") (param i64) (result i32) i32.const 0))'


@pytest.fixture
def mods(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, text in {"a": POPCNT, "planted": PLANTED, "loop": LOOP, "loop_block": LOOP_BLOCK, "floats": FLOATS, "wide": WIDE}.items():
        out[name] = tmp_path / f"{name}.wat"
        out[name].write_text(text)
    (tmp_path / "junk.wasm").write_bytes(b"\0asm\1\0\0\0\x05")
    out["junk"] = tmp_path / "junk.wasm"
    return out


def prove(*args: object, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(JEET + [str(a) for a in args], capture_output=True, text=True, timeout=timeout)


def test_exit_0_when_proved(mods):
    proc = prove(mods["a"], mods["a"], "--function", "f")
    assert proc.returncode == 0, proc.stderr
    assert "proved" in proc.stdout


def test_exit_1_with_a_tests_line_that_the_variant_fails(mods):
    proc = prove(mods["a"], mods["planted"], "--function", "f")
    assert proc.returncode == 1, proc.stderr
    line = proc.stdout.strip().splitlines()[-1]
    assert json.loads(line) == {"args": [0x13371337], "expect": [16]}
    case = parse_tests([line], ["i32"], ["i32"])[0]
    import wasmtime
    with Sandbox() as sb:
        assert sb.run(wasmtime.wat2wasm(PLANTED), "f", [case])[0].results != case.expect
        assert sb.run(wasmtime.wat2wasm(POPCNT), "f", [case])[0].results == case.expect


def test_exit_3_for_bounded_and_unknown_with_json(mods):
    proc = prove(mods["loop"], mods["loop_block"], "--function", "f", "--bound", "4", "--json")
    assert proc.returncode == 3, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["result"], doc["bound"], doc["method"]) == ("bounded", 4, "smt:bitwuzla")
    proc = prove(mods["floats"], mods["floats"], "--function", "f", "--solver", "z3", "--json")
    assert proc.returncode == 3 and json.loads(proc.stdout)["reason"].endswith("floats: tested only")


@pytest.mark.parametrize("case,needle", [
    (("a", "wide"), "different signatures"),
    (("a", "junk"), "malformed"),
    (("a", "missing"), "no such file"),
    (("a", "a", "--function", "g"), "no exported function 'g'"),
    (("a", "a", "--solver", "cvc5"), "--solver must be one of"),
    (("a", "a", "--bound", "0"), "--bound must be at least 1"),
])
def test_exit_2_for_bad_input_with_one_line(mods, tmp_path, case, needle):
    paths = [mods.get(c, tmp_path / f"{c}.wasm") if c in ("a", "wide", "junk", "missing") else c for c in case]
    args = paths if "--function" in case else paths + ["--function", "f"]
    proc = prove(*args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert needle in lines[0], lines[0]
