"""Dictionary compression: trained on a function's population, used only when it measurably helps,
versioned, named by every blob that needs it, never deleted while used, and old blobs stay readable."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import wasmtime
import zstandard

from jeet.store import SCHEMA_VERSION, SpecimenRecord, Store, StoreError, sha256_hex
from jeet.store.schema import APPLICATION_ID, MIGRATIONS

SRC = str(Path(__file__).resolve().parents[1] / "src")


def variant(i: int, family: int = 0) -> bytes:
    """An evolved-looking variant: one module shape per family, three of its forty constants changed per variant."""
    base = random.Random(f"family{family}")
    consts = [base.randrange(1, 1 << 20) for _ in range(40)]
    ops = [base.choice(["i32.add", "i32.xor", "i32.mul", "i32.sub", "i32.and", "i32.or"]) for _ in range(40)]
    rng = random.Random(f"{family}/{i}")
    for _ in range(3):
        consts[rng.randrange(40)] = rng.randrange(1, 1 << 20)
    funcs = []
    for f in range(4):
        body = " ".join(f"i32.const {consts[f * 10 + k]} {ops[f * 10 + k]}" for k in range(10))
        funcs.append(f'(func (export "f{f}") (param i32) (result i32) local.get 0 {body})')
    return wasmtime.wat2wasm(f"(module {' '.join(funcs)})")


@pytest.fixture(scope="module")
def variants() -> list[bytes]:
    return [variant(i) for i in range(220)]


def fill(s: Store, mods: list[bytes], function: str = "f") -> list[str]:
    return s.put_many(SpecimenRecord(m, function, fitness=0.5) for m in mods)


def test_a_dictionary_trained_on_the_population_shrinks_new_blobs(tmp_path, variants):
    with Store(tmp_path, auto_dictionaries=False) as s:
        fill(s, variants[:200])
        adopted = s.train_dictionaries()
        assert [a["function"] for a in adopted] == ["f"] and adopted[0]["version"] == 1
        a = adopted[0]
        assert a["held_out_dict_bytes"] < 0.5 * a["held_out_reference_bytes"]
        sha = s.put_specimen(variants[200], function="f")
        blob, dict_id = s.conn.execute("SELECT data, dict_id FROM specimens WHERE sha256 = ?", (sha,)).fetchone()
        assert dict_id == a["id"]
        # the frame names its dictionary too: zstd's own id, checked on decompression
        assert zstandard.get_frame_parameters(blob).dict_id == s.dictionaries()[0]["zstd_id"] != 0
        assert s.get_specimen(sha) == variants[200]
        st = s.stats()
        assert st["specimens_with_dictionary"] == 1 and st["dictionaries"] == 1
        assert st["bytes_per_specimen"]["dictionary_frames"] < 0.5 * st["bytes_per_specimen"]["plain_frames"]
        assert s.train_dictionaries() == []  # not due again until the population has turned over


def test_recompress_rewrites_old_blobs_to_the_same_bytes(tmp_path, variants):
    with Store(tmp_path, auto_dictionaries=False) as s:
        hashes = fill(s, variants[:200])
        before = s.stats()["bytes_compressed"]
        s.train_dictionaries()
        out = s.recompress()
        assert out["rewritten"] == 200 == out["examined"] and out["unreadable"] == 0
        assert out["bytes_after"] < out["bytes_before"] / 2
        after = s.stats()
        assert after["bytes_compressed"] == before - (out["bytes_before"] - out["bytes_after"])
        assert after["specimens_with_dictionary"] == 200
        for sha, wasm in zip(hashes, variants):
            assert s.get_specimen(sha) == wasm
        assert s.recompress()["rewritten"] == 0  # idempotent
        report = s.compression_report()
        per = report["bytes_per_specimen"]
        assert min(per["raw"], per["zstd"]) > 2 * per["zstd_dictionary"] and per["stored"] == per["zstd_dictionary"]
        assert report["measured_specimens"] == 200 and report["functions"]["f"]["dictionary_version"] == 1


def test_no_dictionary_when_it_does_not_help(tmp_path):
    rng = random.Random(1)
    with Store(tmp_path, auto_dictionaries=False) as s:
        s.put_many(SpecimenRecord(rng.randbytes(600), "noise") for _ in range(200))
        s.put_many(SpecimenRecord(variant(i), "few") for i in range(10))  # too few to train on
        assert s.train_dictionaries(force=True) == []
        assert s.stats()["dictionaries"] == 0 and s.dictionaries() == []
        report = s.compression_report()
        assert report["bytes_per_specimen"]["zstd_dictionary"] == report["bytes_per_specimen"]["zstd"]


def test_versions_old_blobs_stay_readable_and_used_dictionaries_are_never_deleted(tmp_path, variants):
    with Store(tmp_path, auto_dictionaries=False) as s:
        old = fill(s, variants[:200])
        v1 = s.train_dictionaries()[0]
        s.recompress()
        # the population drifts to a new shape: the old dictionary no longer fits
        drifted = [variant(i, family=1) for i in range(300)]
        new = fill(s, drifted)
        v2 = s.train_dictionaries(force=True)
        assert [d["version"] for d in v2] == [2]
        v2 = v2[0]
        newest = s.put_specimen(variant(999, family=1), function="f")
        assert s.conn.execute("SELECT dict_id FROM specimens WHERE sha256 = ?", (newest,)).fetchone()[0] == v2["id"]
        for sha, wasm in zip(old + new, variants[:200] + drifted):
            assert s.get_specimen(sha) == wasm
        with pytest.raises(sqlite3.IntegrityError):
            s.conn.execute("DELETE FROM dictionaries WHERE id = ?", (v1["id"],))
        assert s.gc().dictionaries_removed == 0  # v1 still in use
        s.recompress()  # everything moves to v2 (or a plain frame, when smaller)
        assert s.conn.execute("SELECT count(*) FROM specimens WHERE dict_id = ?", (v1["id"],)).fetchone()[0] == 0
        assert s.gc().dictionaries_removed == 0  # superseded but too recent: a writer may be using it
        s.conn.execute("UPDATE dictionaries SET created = created - 3600")
        report = s.gc()
        assert report.dictionaries_removed == 1 and [d["version"] for d in s.dictionaries()] == [2]
        for sha, wasm in zip(old + new, variants[:200] + drifted):
            assert s.get_specimen(sha) == wasm


def test_a_blob_read_with_the_wrong_dictionary_is_an_error_not_wrong_bytes(tmp_path, variants):
    with Store(tmp_path, auto_dictionaries=False) as s:
        fill(s, variants[:200])
        s.train_dictionaries()
        s.recompress()
        sha = sha256_hex(variants[0])
        s.conn.execute("UPDATE specimens SET dict_id = NULL WHERE sha256 = ?", (sha,))
        with pytest.raises(StoreError, match=sha[:16]):
            s.get_specimen(sha)


def test_dictionaries_are_trained_and_applied_automatically(tmp_path, variants):
    with Store(tmp_path) as s:
        hashes = []
        for i in range(0, 300, 50):
            hashes += fill(s, [variant(j) for j in range(i, i + 50)])
        assert s.last_maintenance_error is None
        st = s.stats()
        assert st["dictionaries"] == 1 and st["specimens_with_dictionary"] == 300
        assert st["bytes_per_specimen"]["compressed_with_dictionaries"] < 0.6 * st["bytes_per_specimen"]["raw"]
        assert s.get_specimen(hashes[0]) == variant(0)


def test_a_version_1_store_is_upgraded_in_place(tmp_path):
    path = tmp_path / "jeet.db"
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode = WAL")
    for statement in MIGRATIONS[0]:
        con.execute(statement)
    con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    con.execute("PRAGMA user_version = 1")
    wasm = variant(1)
    sha = sha256_hex(wasm)
    con.execute("INSERT INTO specimens VALUES (?, 'f', ?, ?, 10, 0.5, NULL, 1.0, 1.0)",
                (sha, len(wasm), zstandard.ZstdCompressor(level=9).compress(wasm)))
    con.execute("INSERT INTO blacklist VALUES (?, 'wrong', 1.0)", ("ab" * 32,))
    con.close()
    with Store(tmp_path) as s:
        assert s.stats()["schema_version"] == SCHEMA_VERSION == 2
        assert s.get_specimen(sha) == wasm and s.is_blacklisted("ab" * 32) and s.blacklist_reason("ab" * 32) == "wrong"
        assert s.specimen_info(sha)["fuel"] == 10
        s.blacklist("cd" * 32, "trap")
        assert s.blacklisted_hashes() == {"ab" * 32, "cd" * 32}


RECOMPRESSOR = textwrap.dedent(
    """
    import os, random, signal, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[3])
    from test_store_compression import variant
    from jeet.store import SpecimenRecord, Store

    root, seed = Path(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed)
    with Store(root, auto_dictionaries=False) as s:
        s.put_many(SpecimenRecord(variant(i), "f") for i in range(1200))
        s.train_dictionaries()
        calls = [0]
        kill_at = rng.randrange(200, 1000)  # a full recompress of these makes ~1000 callbacks

        def progress():
            calls[0] += 1
            if calls[0] >= kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return 0

        s.conn.set_progress_handler(progress, 100)
        s.recompress()
        print("finished", calls[0], flush=True)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("seed", [1, 5])  # kills in the first and in the second batch
def test_sigkill_mid_recompress_leaves_every_blob_readable(tmp_path, seed):
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    here = str(Path(__file__).resolve().parent)
    proc = subprocess.run([sys.executable, "-c", RECOMPRESSOR, str(tmp_path), str(seed), here], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    with Store(tmp_path, auto_dictionaries=False) as s:
        assert s.integrity_check() == []
        with_dict = s.stats()["specimens_with_dictionary"]
        assert with_dict in (0, 500, 1000)  # batches of 500 blobs are rewritten all or nothing
        for i in range(1200):
            assert s.get_specimen(sha256_hex(variant(i))) == variant(i)
        assert s.recompress()["rewritten"] == 1200 - with_dict


def test_a_population_zstd_cannot_learn_from_is_retried_ever_less_often(tmp_path, monkeypatch):
    from jeet.store import dictionaries as dl

    tries = []
    real = dl.train
    monkeypatch.setattr(dl, "train", lambda samples, level: tries.append(len(samples)) or real(samples, level))
    rng = random.Random(4)
    with Store(tmp_path) as s:
        for _ in range(40):
            s.put_many(SpecimenRecord(rng.randbytes(150), "noise") for _ in range(100))
        assert s.dictionaries() == [] and s.last_maintenance_error is None
    # 4000 writes are 15 maintenance windows; with the wait doubling after each fruitless try, far fewer tries
    assert 3 <= len(tries) <= 7
