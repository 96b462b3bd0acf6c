"""`jeet simulate` as a user runs it: JSON report, plot, determinism across processes, bad arguments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

JEET = [sys.executable, "-m", "jeet", "simulate"]
REQUIRED = {"rounds_to_99", "final_coverage", "payload_copies_per_node", "duplicate_overhead", "bad_adopted",
            "honest_ignored", "seconds", "bad_deliveries_until_ignored"}


def run(args: list[str], cwd: Path, hashseed: str = "0") -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONHASHSEED=hashseed)
    return subprocess.run(JEET + args, capture_output=True, text=True, timeout=120, cwd=cwd, env=env)


def without_seconds(doc):
    if isinstance(doc, dict):
        return {k: without_seconds(v) for k, v in doc.items() if k != "seconds"}
    if isinstance(doc, list):
        return [without_seconds(v) for v in doc]
    return doc


def test_json_report_and_plot(tmp_path):
    png = tmp_path / "coverage.png"
    proc = run(["--nodes", "150", "--rounds", "5", "--malicious", "0.2", "--json", "--plot", str(png)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert REQUIRED <= set(doc)
    assert set(doc["baselines"]) == {"flooding", "push"}
    assert all(REQUIRED <= set(b) for b in doc["baselines"].values())
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_same_json_in_different_processes(tmp_path):
    args = ["--nodes", "150", "--rounds", "5", "--malicious", "0.2", "--loss", "0.05", "--churn", "0.02",
            "--seed", "3", "--json"]
    a, b = run(args, tmp_path, hashseed="1"), run(args, tmp_path, hashseed="2")
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert without_seconds(json.loads(a.stdout)) == without_seconds(json.loads(b.stdout))


def test_text_report_lists_every_round(tmp_path):
    proc = run(["--nodes", "100", "--rounds", "4", "--no-baselines"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.split()[:1] == ["4"] for line in lines) and "jeet gossip" in proc.stdout


def test_many_seeds_are_aggregated(tmp_path):
    proc = run(["--nodes", "80", "--rounds", "4", "--seeds", "3", "--no-baselines", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["runs"] == 3 and doc["seeds"] == [0, 1, 2] and len(doc["rounds_to_99"]) == 3
    assert 0 <= doc["within_6"] <= 3


@pytest.mark.parametrize("args,needle", [
    (["--nodes", "0"], "--nodes"),
    (["--nodes", "10", "--loss", "1.5"], "--loss"),
    (["--nodes", "10", "--malicious", "1"], "--malicious"),
    (["--nodes", "10", "--churn", "-0.5"], "--churn"),
    (["--nodes", "10", "--latency", "0"], "--latency"),
    (["--nodes", "10", "--degree", "0"], "--degree"),
    (["--nodes", "10", "--rounds", "0"], "--rounds"),
    (["--nodes", "10", "--seeds", "0"], "--seeds"),
    (["--nodes", "10", "--jobs", "-1"], "--jobs"),
    (["--nodes", "10", "--plot", "no/such/folder/x.png"], "--plot"),
])
def test_bad_arguments_exit_2_with_one_line(tmp_path, args, needle):
    proc = run(args, tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in proc.stderr


@pytest.mark.parametrize("args", [[], ["--nodes", "many"], ["--nodes", "10", "--loss", "x"]])
def test_unparseable_arguments_exit_2(tmp_path, args):
    proc = run(args, tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
