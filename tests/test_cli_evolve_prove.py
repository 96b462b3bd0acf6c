"""`jeet evolve` says how far its output was checked: `verification` in --json and the evidence file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

JEET = [sys.executable, "-m", "jeet"]


def evolve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(JEET + ["evolve", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "o.wasm"), *args],
                          capture_output=True, text=True, timeout=240, cwd=tmp_path)


def test_loop_free_output_is_proved_and_the_evidence_says_so(tmp_path: Path) -> None:
    proc = evolve(tmp_path, "--kernel", "sign", "--generations", "4", "--json")
    assert proc.returncode == 0, proc.stderr
    v = json.loads(proc.stdout)["verification"]
    assert v["result"] == "proved" and v["method"] in ("identical", "smt:bitwuzla", "smt:z3", "smt:bitwuzla+candidates")
    evidence = json.loads((tmp_path / "o.wasm.evidence.json").read_text())
    assert evidence["verification"]["result"] == "proved" and "proved by" in evidence["checked_against"]


def test_loop_output_is_bounded_with_k(tmp_path: Path) -> None:
    proc = evolve(tmp_path, "--kernel", "popcount", "--generations", "4", "--prove-bound", "8", "--json")
    assert proc.returncode == 0, proc.stderr
    v = json.loads(proc.stdout)["verification"]
    assert v["configured_bound"] == 8
    assert (v["result"], v["bound"]) == ("bounded", 8) or v["method"] == "identical"


def test_no_prove_says_tested_only(tmp_path: Path) -> None:
    proc = evolve(tmp_path, "--kernel", "sign", "--generations", "2", "--no-prove", "--json")
    v = json.loads(proc.stdout)["verification"]
    assert v["result"] == "off" and v["status"] == "tested only" and "--no-prove" in v["reason"]


def test_bad_prove_options_are_one_clear_line(tmp_path: Path) -> None:
    for args, needle in ((["--prove-bound", "0"], "--prove-bound must be between 1 and 4096"),
                         (["--prove-timeout", "0"], "--prove-timeout must be more than 0")):
        proc = evolve(tmp_path, "--kernel", "sign", *args)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode == 2 and len(lines) == 1 and needle in lines[0], proc.stderr
