"""`jeet gc` as a user runs it: a table or JSON of what was removed, kept and protected; remembered caps;
bad input is one line, exit status 2, and nothing stored is lost. Also `jeet evolve --max-specimens`."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jeet.cli.main import app
from jeet.store import Caps, SpecimenRecord, Store

runner = CliRunner()


def jeet(*args: str):
    return runner.invoke(app, list(args))


def assert_clean_failure(result, needle: str) -> None:
    assert result.exit_code == 2, result.stdout + result.stderr
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and needle.lower() in lines[0].lower(), result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, set[str]]:
    """A store with a finished run (champion and its 5 ancestors) and 120 loose specimens."""
    root = tmp_path / "data"
    rng = random.Random(2)
    with Store(root, auto_gc=False) as s:
        run = s.start_run("r", {})
        chain, parents = [], ()
        for g in range(6):
            sha = s.put_specimen(rng.randbytes(400), function="f", fitness=0.0, parents=parents, operator="op",
                                 generation=g, run_id=run)
            chain.append(sha)
            parents = (sha,)
        s.finish_run(run, {"champion": chain[-1]})
        s.put_many(SpecimenRecord(rng.randbytes(400), "f" if i % 2 else "g", fitness=rng.random()) for i in range(120))
        # make them old enough to be past any grace period
        s.conn.execute("UPDATE specimens SET last_used = last_used - 3600, created = created - 3600")
    return root, set(chain)


def test_gc_prints_what_it_removed_kept_and_protected(data):
    root, chain = data
    result = jeet("gc", "--data", str(root), "--max-specimens", "40")
    assert result.exit_code == 0, result.stderr
    for words in ("removed", "kept", "protected", "size on disk before", "size on disk after", "bytes per specimen",
                  "by function"):
        assert words in result.stdout
    with Store(root) as s:
        assert s.count_specimens() == 34  # 0.85 * 40
        assert all(s.has_specimen(sha) for sha in chain)
        assert s.caps == Caps(40, None)  # remembered for later runs


def test_gc_json_uses_remembered_caps(data):
    root, chain = data
    assert jeet("gc", "--data", str(root), "--max-specimens", "60", "--json").exit_code == 0
    with Store(root, auto_gc=False) as s:
        s.put_many(SpecimenRecord(random.Random(i).randbytes(300), "f", fitness=0.1) for i in range(50))
        s.conn.execute("UPDATE specimens SET last_used = last_used - 3600")
    result = jeet("gc", "--data", str(root), "--json")
    doc = json.loads(result.stdout)
    assert doc["caps"] == {"max_specimens": 60, "max_store_mb": None}
    assert doc["specimens_before"] == 51 + 50 and doc["kept"] == 51 and doc["removed"] == 50
    assert doc["protected"] == 6 and doc["protected_by"] == {"ancestry": 5, "champion": 1}
    assert doc["bytes_after"] <= doc["bytes_before"] and doc["cap_met"] is True
    assert len(doc["removed_hashes"]) == 50 and not set(doc["removed_hashes"]) & chain
    per = doc["compression"]["bytes_per_specimen"]
    assert 300 <= per["raw"] <= 400 and per["zstd"] > per["raw"]  # random bytes: zstd cannot shrink them
    assert "on_disk" in doc["store"]["bytes_per_specimen"]


def test_gc_dry_run_and_unmet_cap(data):
    root, _ = data
    result = jeet("gc", "--data", str(root), "--max-specimens", "2", "--dry-run", "--json")
    doc = json.loads(result.stdout)
    assert doc["dry_run"] and doc["removed"] == 120 and doc["kept"] == 6 and doc["cap_met"] is False
    assert any("protected" in note for note in doc["notes"])
    with Store(root) as s:
        assert s.count_specimens() == 126 and s.caps == Caps()  # a dry run remembers nothing either
    result = jeet("gc", "--data", str(root), "--max-specimens", "2")
    assert result.exit_code == 0 and "not met" in result.stdout and "NO" in result.stdout


def test_gc_recompress_trains_dictionaries(tmp_path):
    import wasmtime

    root = tmp_path / "d"
    with Store(root, auto_dictionaries=False) as s:
        for i in range(120):
            k = random.Random(i)
            body = " ".join(f"i32.const {k.randrange(3) * 1000 + j} i32.add" for j in range(30))
            wat = f'(module (func (export "f") (param i32) (result i32) local.get 0 {body}))'
            s.put_specimen(wasmtime.wat2wasm(wat), function="f")
    doc = json.loads(jeet("gc", "--data", str(root), "--recompress", "--json").stdout)
    assert doc["dictionaries_trained"] == 1 and doc["recompressed"] == 120 and doc["removed"] == 0
    per = doc["compression"]["bytes_per_specimen"]
    assert per["stored"] == per["zstd_dictionary"] < per["zstd"] / 2
    assert doc["store"]["dictionaries"] == 1


def test_gc_bad_input_is_one_line_and_loses_nothing(data, tmp_path):
    root, _ = data
    missing = tmp_path / "nowhere"
    assert_clean_failure(jeet("gc", "--data", str(missing)), "no data folder")
    assert not missing.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_clean_failure(jeet("gc", "--data", str(empty)), "no jeet store")
    assert list(empty.iterdir()) == []
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    garbage = b"definitely not a database " * 300
    (corrupt / "jeet.db").write_bytes(garbage)
    assert_clean_failure(jeet("gc", "--data", str(corrupt), "--max-specimens", "1"), "not a SQLite database")
    assert (corrupt / "jeet.db").read_bytes() == garbage
    before = (root / "jeet.db").stat().st_size
    assert_clean_failure(jeet("gc", "--data", str(root), "--max-specimens", "-5"), "--max-specimens")
    assert_clean_failure(jeet("gc", "--data", str(root), "--max-store-mb", "-1"), "--max-store-mb")
    assert_clean_failure(jeet("gc", "--data", str(root), "--max-store-mb", "nan"), "--max-store-mb")
    with Store(root) as s:
        assert s.count_specimens() == 126 and s.caps == Caps()
    assert (root / "jeet.db").stat().st_size >= before


def test_gc_through_the_installed_entry_point(data):
    root, _ = data
    proc = subprocess.run([sys.executable, "-m", "jeet", "gc", "--data", str(root), "--max-store-mb", "0.15", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["bytes_before"] > 0.15 * 1024 * 1024 >= doc["bytes_after"] and doc["removed"] > 0
    assert doc["cap_met"] and doc["protected"] == 6 and doc["vacuum"] == "full"


def test_evolve_takes_and_remembers_caps(tmp_path):
    bad = jeet("evolve", "--max-specimens", "-3", "--data", str(tmp_path / "x"), "--generations", "1")
    assert_clean_failure(bad, "max_specimens")
    data = tmp_path / "d"
    result = jeet("evolve", "--generations", "3", "--population", "8", "--workers", "1", "--no-wasm-opt", "--json",
                  "--max-specimens", "25", "--max-store-mb", "4", "--data", str(data),
                  "--out", str(tmp_path / "out.wasm"))
    assert result.exit_code == 0, result.stderr
    with Store(data) as s:
        assert s.caps == Caps(25, 4.0) and s.count_specimens() <= 25
