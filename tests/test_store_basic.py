"""The specimen store: content addressing, compression, lineage, blacklist, runs, checkpoints, logbook, errors."""

from __future__ import annotations

import pickle
import random
import sqlite3
import time
from pathlib import Path

import pytest
import wasmtime

from jeet.store import DB_NAME, SCHEMA_VERSION, SpecimenRecord, Store, StoreError, default_data_dir, sha256_hex


def module(n: int = 0) -> bytes:
    """A small valid module whose bytes depend on n."""
    return wasmtime.wat2wasm(
        f'(module (func (export "f") (param i32) (result i32) local.get 0 i32.const {n} i32.add))'
    )


def repetitive_module(functions: int = 60) -> bytes:
    body = "local.get 0 i32.const 7 i32.add i32.const 3 i32.mul"
    funcs = " ".join(f'(func (export "f{i}") (param i32) (result i32) {body})' for i in range(functions))
    return wasmtime.wat2wasm(f"(module {funcs})")


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "data") as s:
        yield s


def test_default_data_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("JEET_DATA", str(tmp_path / "x"))
    assert default_data_dir() == tmp_path / "x"
    monkeypatch.delenv("JEET_DATA")
    assert default_data_dir() == Path.home() / ".jeet"


def test_root_is_created_and_db_lives_inside(tmp_path):
    root = tmp_path / "a" / "b"
    with Store(root) as s:
        assert s.path == root / DB_NAME
    assert (root / DB_NAME).is_file()
    con = sqlite3.connect(root / DB_NAME)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    con.close()


def test_round_trip_by_content_address(store):
    wasm = module(1)
    sha = store.put_specimen(wasm, function="f", fuel=42, fitness=0.6, metrics={"speed": 0.7})
    assert sha == sha256_hex(wasm)
    assert store.has_specimen(sha)
    assert store.get_specimen(sha) == wasm
    info = store.specimen_info(sha)
    assert info["function"] == "f" and info["size"] == len(wasm)
    assert info["fuel"] == 42 and info["fitness"] == 0.6 and info["metrics"] == {"speed": 0.7}
    assert store.get_specimen("0" * 64) is None
    assert store.specimen_info("0" * 64) is None
    assert not store.has_specimen("0" * 64)


def test_put_is_idempotent_and_updates_given_scores_only(store):
    wasm = module(2)
    a = store.put_specimen(wasm, function="f", fuel=10, fitness=0.5, metrics={"m": 1})
    created = store.specimen_info(a)["created"]
    b = store.put_specimen(wasm, function="other")
    assert a == b and store.count_specimens() == 1
    info = store.specimen_info(a)
    assert (info["function"], info["fuel"], info["fitness"], info["metrics"]) == ("f", 10, 0.5, {"m": 1})
    store.put_specimen(wasm, function="f", fitness=0.75, metrics={"m": 2})
    info = store.specimen_info(a)
    assert (info["fuel"], info["fitness"], info["metrics"], info["created"]) == (10, 0.75, {"m": 2}, created)


def test_specimens_are_zstd_compressed(store):
    wasm = repetitive_module()
    sha = store.put_specimen(wasm, function="f0")
    info = store.specimen_info(sha)
    assert info["stored_size"] < info["size"] / 2
    raw_blob = store.conn.execute("SELECT data FROM specimens WHERE sha256 = ?", (sha,)).fetchone()[0]
    assert raw_blob[:4] == b"\x28\xb5\x2f\xfd"  # zstd frame magic
    stats = store.stats()
    assert stats["bytes_raw"] == len(wasm) and stats["bytes_compressed"] == len(raw_blob)
    assert stats["compression_ratio"] > 2


def test_tampered_blob_is_detected(store):
    sha = store.put_specimen(module(3), function="f")
    other = store.db.codec.compress(module(4))
    store.conn.execute("UPDATE specimens SET data = ? WHERE sha256 = ?", (other, sha))
    with pytest.raises(StoreError, match="content address"):
        store.get_specimen(sha)


def test_put_many_is_one_transaction_and_matches_put_specimen(store):
    run = store.start_run("fp", {})
    items = [SpecimenRecord(module(i), "f", fuel=i, fitness=i / 100, generation=1, run_id=run) for i in range(50)]
    items.append({"wasm": module(99), "function": "f", "parents": [sha256_hex(module(0))], "operator": "op"})
    hashes = store.put_many(items)
    assert hashes == [sha256_hex(module(i)) for i in range(50)] + [sha256_hex(module(99))]
    assert store.count_specimens() == 51 and store.count_specimens("f") == 51 and store.count_specimens("g") == 0
    assert store.parents_of(hashes[-1]) == [(hashes[0], "op", None)]
    # a bad item rolls the whole batch back
    with pytest.raises(StoreError):
        store.put_many([SpecimenRecord(module(200), "f"), SpecimenRecord(module(201), "")])
    assert not store.has_specimen(sha256_hex(module(200)))
    with pytest.raises(StoreError):
        store.put_many([{"wasm": module(5), "function": "f", "colour": "red"}])
    assert store.put_many([]) == []


def test_put_many_is_fast(store):
    rng = random.Random(7)
    base = repetitive_module(20)
    mods = [base + rng.randbytes(64) for _ in range(2000)]
    start = time.perf_counter()
    for i in range(0, len(mods), 200):
        store.put_many(SpecimenRecord(m, "f", fuel=1, fitness=0.5, metrics={"a": 1}) for m in mods[i:i + 200])
    rate = len(mods) / (time.perf_counter() - start)
    assert store.count_specimens() == 2000
    assert rate > 2000, f"put_many stored only {rate:.0f} specimens/s"


def test_lineage_and_ancestry(store):
    g0 = store.put_specimen(module(0), function="f")
    g1a = store.put_specimen(module(1), function="f", parents=[g0], operator="mutate", generation=1)
    g1b = store.put_specimen(module(2), function="f", parents=[g0], operator="mutate", generation=1)
    g2 = store.put_specimen(module(3), function="f", parents=[g1a, g1b], operator="crossover", generation=2)
    store.put_specimen(module(3), function="f", parents=[g1a, g1b], operator="crossover", generation=2)  # no dup
    assert store.parents_of(g2) == [(g1a, "crossover", 2), (g1b, "crossover", 2)]
    assert store.parents_of(g0) == []
    assert store.ancestry(g2) == {g0, g1a, g1b}
    assert store.ancestry(g1b) == {g0}
    assert store.ancestry(g0) == set()
    assert store.children_of(g0) == [g1a, g1b]
    with pytest.raises(StoreError, match="SHA-256"):
        store.put_specimen(module(4), function="f", parents=["not-a-hash"])


def test_ancestry_terminates_on_a_cycle(store):
    a, b = sha256_hex(module(0)), sha256_hex(module(1))
    store.put_specimen(module(0), function="f", parents=[b])
    store.put_specimen(module(1), function="f", parents=[a])
    assert store.ancestry(a) == {a, b}


def test_blacklist_persists_across_reopen(tmp_path):
    bad = sha256_hex(module(5))
    with Store(tmp_path) as s:
        assert not s.is_blacklisted(bad)
        s.blacklist(bad, "crashed the sandbox")
        s.blacklist(bad, "second reason is ignored")
    with Store(tmp_path) as s:
        assert s.is_blacklisted(bad)
        assert s.blacklist_reason(bad) == "crashed the sandbox"
        assert s.blacklisted_hashes() == {bad}
        assert s.stats()["blacklisted"] == 1


def test_top_specimens_orders_by_fitness_and_skips_blacklisted(store):
    hashes = [store.put_specimen(module(i), function="f" if i % 2 else "g", fitness=i / 10) for i in range(8)]
    store.put_specimen(module(100), function="f")  # unscored: never listed
    top = store.top_specimens("f", 3)
    assert [t["sha256"] for t in top] == [hashes[7], hashes[5], hashes[3]]
    store.blacklist(hashes[7], "wrong on held-out set")
    assert [t["sha256"] for t in store.top_specimens("f", 2)] == [hashes[5], hashes[3]]
    assert store.top_specimens("f", 1, include_blacklisted=True)[0]["sha256"] == hashes[7]
    assert [t["fitness"] for t in store.top_specimens(None, 2)] == [0.6, 0.5]


def test_runs_and_find_resumable_run(store):
    assert store.find_resumable_run("abc") is None
    r1 = store.start_run("abc", {"pop": 10})
    r2 = store.start_run("abc", {"pop": 10})
    r3 = store.start_run("other", {})
    assert store.find_resumable_run("abc") == r2
    store.finish_run(r2, {"best": 0.7})
    assert store.find_resumable_run("abc") == r1
    store.finish_run(r1, {"error": "boom"}, status="failed")
    assert store.find_resumable_run("abc") is None
    assert store.find_resumable_run("other") == r3
    info = store.run_info(r2)
    assert info["status"] == "finished" and info["summary"] == {"best": 0.7} and info["config"] == {"pop": 10}
    assert info["finished"] >= info["started"]
    assert store.stats()["runs"] == {"running": 1, "finished": 1, "failed": 1}
    with pytest.raises(StoreError):
        store.finish_run(999, {})
    with pytest.raises(StoreError):
        store.finish_run(r3, {}, status="running")


def test_checkpoints_keep_the_last_few_and_round_trip_state(tmp_path):
    rng = random.Random(11)
    state = {"rng": rng.getstate(), "population": ["a" * 64], "big": 2**80, "blob": b"\x00\x01", "pair": (1, 2)}
    with Store(tmp_path, keep_checkpoints=2) as s:
        run = s.start_run("fp", {})
        assert s.load_checkpoint(run) is None
        for gen in range(5):
            s.save_checkpoint(run, gen, {**state, "generation": gen})
        assert s.checkpoint_generations(run) == [3, 4]
        s.save_checkpoint(run, 4, {**state, "generation": 4, "again": True})  # same generation: replaced
        assert s.checkpoint_generations(run) == [3, 4]
    with Store(tmp_path) as s:
        gen, loaded = s.load_checkpoint(run)
        assert gen == 4 and loaded == {**state, "generation": 4, "again": True}
        restored = random.Random()
        restored.setstate(loaded["rng"])
        assert restored.random() == rng.random()
        with pytest.raises(StoreError, match="serialisable"):
            s.save_checkpoint(run, 5, {"x": object()})
        with pytest.raises(StoreError):
            s.save_checkpoint(12345, 0, {})  # no such run


def test_checkpoints_of_different_runs_are_independent(store):
    a, b = store.start_run("a", {}), store.start_run("b", {})
    for gen in range(6):
        store.save_checkpoint(a, gen, {"g": gen})
    store.save_checkpoint(b, 0, {"g": "b0"})
    assert store.load_checkpoint(b) == (0, {"g": "b0"})
    assert store.checkpoint_generations(a) == [3, 4, 5]


def test_logbook_in_generation_order_and_replaced_on_resume(store):
    run = store.start_run("fp", {})
    for gen in (2, 0, 1):
        store.log_generation(run, gen, {"generation": gen, "best": gen * 0.1})
    store.log_generation(run, 1, {"generation": 1, "best": 0.99})
    assert store.logbook(run) == [
        {"generation": 0, "best": 0.0}, {"generation": 1, "best": 0.99}, {"generation": 2, "best": 0.2}
    ]
    assert store.logbook(run + 1) == []


def test_stats_counts_everything(store):
    run = store.start_run("fp", {})
    a = store.put_specimen(module(0), function="f")
    store.put_specimen(module(1), function="g", parents=[a], run_id=run)
    store.save_checkpoint(run, 0, {})
    store.log_generation(run, 0, {})
    st = store.stats()
    assert (st["specimens"], st["functions"], st["lineage_edges"], st["checkpoints"], st["logbook_rows"]) == (
        2, 2, 1, 1, 1
    )
    assert st["bytes_raw"] == len(module(0)) + len(module(1)) and st["db_bytes"] > 0


def test_not_a_database_is_one_clear_store_error(tmp_path):
    (tmp_path / DB_NAME).write_bytes(b"this is not sqlite at all\n" * 200)
    with pytest.raises(StoreError) as err:
        Store(tmp_path)
    msg = str(err.value)
    assert "not a SQLite database" in msg and str(tmp_path) in msg and "\n" not in msg
    assert not isinstance(err.value, sqlite3.Error)


def test_corrupt_schema_page_is_a_store_error(tmp_path):
    with Store(tmp_path) as s:
        s.put_specimen(module(0), function="f")
    path = tmp_path / DB_NAME
    data = bytearray(path.read_bytes())
    data[100:4096] = random.Random(1).randbytes(3996)  # page 1 below the header: the schema b-tree
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError) as err:
        Store(tmp_path).count_specimens()
    assert "\n" not in str(err.value)


def test_foreign_sqlite_database_is_refused(tmp_path):
    con = sqlite3.connect(tmp_path / DB_NAME)
    con.execute("CREATE TABLE people (name TEXT)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not a jeet store"):
        Store(tmp_path)


def test_newer_schema_is_refused(tmp_path):
    Store(tmp_path).close()
    con = sqlite3.connect(tmp_path / DB_NAME)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="newer"):
        Store(tmp_path)


def test_root_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError):
        Store(tmp_path / "file")


def test_locked_store_times_out_with_a_store_error(tmp_path):
    Store(tmp_path).close()
    holder = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with Store(tmp_path, timeout=0.2) as s:
            assert s.count_specimens() == 0  # readers are never blocked in WAL mode
            with pytest.raises(StoreError, match="locked"):
                s.put_specimen(module(0), function="f")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_closed_store_and_pickling(tmp_path):
    s = Store(tmp_path)
    sha = s.put_specimen(module(0), function="f")
    clone = pickle.loads(pickle.dumps(s))
    assert clone.get_specimen(sha) == module(0)
    clone.close()
    s.close()
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.get_specimen(sha)


def test_integrity_check_of_a_sound_store(store):
    store.put_many(SpecimenRecord(module(i), "f") for i in range(10))
    assert store.integrity_check() == []


def test_corrupt_data_pages_never_leak_raw_errors_or_wrong_bytes(tmp_path):
    rng = random.Random(5)
    with Store(tmp_path) as s:
        wanted = {sha256_hex(m): m for m in (repetitive_module(5) + rng.randbytes(3000) for _ in range(60))}
        s.put_many(SpecimenRecord(m, "f") for m in wanted.values())
    path = tmp_path / DB_NAME
    data = bytearray(path.read_bytes())
    half = len(data) // 2
    data[half:half + 20000] = rng.randbytes(20000)
    path.write_bytes(bytes(data))
    outcomes = {"ok": 0, "error": 0}
    try:
        with Store(tmp_path) as s:
            for sha, wasm in wanted.items():
                try:
                    got = s.get_specimen(sha)
                except StoreError:
                    outcomes["error"] += 1
                    continue
                assert got is None or got == wasm
                outcomes["ok"] += 1
            assert s.integrity_check() != []
    except StoreError:
        outcomes["error"] += 1
    assert outcomes["error"] > 0


def test_reads_refresh_last_used_but_never_wait_for_the_write_lock(tmp_path):
    with Store(tmp_path, timeout=5.0) as s:
        sha = s.put_specimen(module(0), function="f")
        s.conn.execute("UPDATE specimens SET last_used = 0 WHERE sha256 = ?", (sha,))
        assert s.get_specimen(sha) == module(0)
        assert s.specimen_info(sha)["last_used"] > time.time() - 60
        s.conn.execute("UPDATE specimens SET last_used = 0 WHERE sha256 = ?", (sha,))
        holder = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            start = time.perf_counter()
            assert s.get_specimen(sha) == module(0)
            assert time.perf_counter() - start < 1.0
            assert s.specimen_info(sha)["last_used"] == 0
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        s.put_specimen(module(1), function="f")  # the normal timeout is back in force and writes work
