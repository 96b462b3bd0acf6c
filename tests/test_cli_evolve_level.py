"""`jeet evolve --kernel NAME --level O0|O2|O2opt`: start from another shipped build of a kernel."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

JEET = [sys.executable, "-m", "jeet"]


def evolve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(JEET + ["evolve", "--data", str(tmp_path / "d"), *args], capture_output=True, text=True,
                          timeout=240, cwd=tmp_path)


def test_level_starts_from_the_production_build(tmp_path: Path) -> None:
    o0 = json.loads(evolve(tmp_path, "--kernel", "popcount", "--generations", "1", "--json").stdout)
    proc = evolve(tmp_path, "--kernel", "popcount", "--level", "O2opt", "--generations", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["function"] == "popcount" and doc["name"] == "popcount.O2opt"
    assert doc["oracle"] == "tests" and doc["held_out_failures"] == 0
    assert doc["baseline_fuel"] < o0["baseline_fuel"]


def test_bad_level_is_one_clear_line(tmp_path: Path) -> None:
    for args, needle in ((["--kernel", "popcount", "--level", "O3"], "unknown optimisation level 'O3'"),
                         (["in.wasm", "--level", "O2"], "--level selects a build of a built-in kernel")):
        proc = evolve(tmp_path, *args)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode == 2 and len(lines) == 1 and needle in lines[0], proc.stderr
