"""Bad input to the CLI: exit status 2, one clear line on stderr, no traceback, no hang."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import wasmtime

JEET = [sys.executable, "-m", "jeet"]


def run(args: list[str], tmp_path: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(JEET + args + ["--data", str(tmp_path / "data")] if args[0] == "evolve" else JEET + args,
                          capture_output=True, text=True, timeout=timeout, cwd=tmp_path)


def assert_clean_failure(proc: subprocess.CompletedProcess, needle: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [l for l in proc.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1, proc.stderr
    assert needle.lower() in lines[0].lower(), lines[0]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    def write(name: str, data: bytes | str) -> Path:
        p = tmp_path / name
        p.write_bytes(data.encode() if isinstance(data, str) else bytes(data))
        return p

    two = wasmtime.wat2wasm('(module (func (export "a") (param i32) (result i32) local.get 0)'
                            ' (func (export "b") (param i32) (result i32) local.get 0))')
    ref = wasmtime.wat2wasm('(module (func (export "r") (param externref) (result i32) i32.const 0))')
    spin = wasmtime.wat2wasm('(module (func (export "spin") (param i32) (result i32) (loop br 0) i32.const 0))')
    invalid = bytes(wasmtime.wat2wasm('(module (func (export "f") (result i32) i32.const 1))'))
    # make it invalid: the body's i32.const becomes i64.const (0x41 -> 0x42); the result type no longer matches
    idx = invalid.rindex(b"\x41\x01\x0b")
    invalid = invalid[:idx] + b"\x42" + invalid[idx + 1:]
    return {
        "not_wasm": write("notes.wasm", b"hello, this is not a module"),
        "bad_text": write("broken.wat", "(module (func (export \"f\") (result i32) i32.const"),
        "truncated": write("trunc.wasm", two[: len(two) // 2]),
        "invalid": write("invalid.wasm", invalid),
        "two": write("two.wasm", two),
        "ref": write("ref.wasm", ref),
        "spin": write("spin.wasm", spin),
        "bad_tests": write("bad.jsonl", '{"args": [1], "expect": [1]}\n{"args": oops}\n'),
    }


@pytest.mark.parametrize("key,extra,needle", [
    ("not_wasm", [], "not a WebAssembly module"),
    ("bad_text", [], "malformed WebAssembly text"),
    ("truncated", [], "malformed module"),
    ("invalid", [], "invalid module"),
    ("two", [], "--function"),
    ("two", ["--function", "nope"], "no exported function 'nope'"),
    ("ref", [], "externref"),
    ("spin", [], "finishes on no input"),
])
def test_evolve_rejects_bad_input(files, tmp_path, key, extra, needle):
    proc = run(["evolve", str(files[key]), *extra, "--generations", "1"], tmp_path)
    assert_clean_failure(proc, needle)


def test_missing_file(tmp_path):
    assert_clean_failure(run(["evolve", str(tmp_path / "absent.wasm")], tmp_path), "no such file")


def test_bad_tests_file_names_the_line(files, tmp_path):
    proc = run(["evolve", str(files["two"]), "--function", "a", "--tests", str(files["bad_tests"])], tmp_path)
    assert_clean_failure(proc, "bad.jsonl:2: not JSON")


def test_inspect_rejects_garbage(files, tmp_path):
    assert_clean_failure(run(["inspect", str(files["not_wasm"])], tmp_path), "not a WebAssembly module")


def test_unknown_kernel_and_operator(tmp_path):
    assert_clean_failure(run(["evolve", "--kernel", "nope"], tmp_path), "nope")
    assert_clean_failure(run(["evolve", "--operators", "nope", "--generations", "1"], tmp_path), "nope")


def test_config_file_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"population": 8, "mutation_rate": 0.5}')
    assert_clean_failure(run(["evolve", "--config", str(bad)], tmp_path), "unknown keys mutation_rate")
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"keep_fraction": 0.9}')
    assert_clean_failure(run(["evolve", "--config", str(wrong)], tmp_path), "sum to 1")
    assert_clean_failure(run(["evolve", "--config", str(tmp_path / "none.json")], tmp_path), "not found")
