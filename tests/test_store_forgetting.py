"""Adaptive forgetting: the store stays under its caps, never losing a live champion, a pin, an unfinished
run's population, or any of their ancestry; relevance decides the rest."""

from __future__ import annotations

import json
import random
import sqlite3
import time
from pathlib import Path

import pytest

from jeet.store import (
    Caps,
    ForgettingPolicy,
    SpecimenRecord,
    Store,
    StoreError,
    sha256_hex,
)
from jeet.store.relevance import USAGE_HALF_LIFE_S, decay, rank_scores, relevance

NOW = ForgettingPolicy(grace_s=0.0)  # tests write and collect within the same second


def blob(tag: str, size: int = 300) -> bytes:
    """Distinct, incompressible module-sized bytes for a tag."""
    return random.Random(tag).randbytes(size)


def put(s: Store, tag: str, *, parents=(), fitness=None, function="f", run_id=None, generation=None) -> str:
    return s.put_specimen(blob(tag), function=function, fitness=fitness, parents=parents, operator="op",
                          run_id=run_id, generation=generation)


@pytest.fixture
def world(tmp_path: Path):
    """A store with every kind of protected specimen and plenty of expendable ones.

    finished run: root -> a -> b -> champ        (champion of a finished run)
    pinned:       y -> x                         (x pinned)
    running run:  q -> p1, p2 in its newest checkpoint; an older checkpoint names o (not protected)
    loose:        20 good (0.9), 20 poor (0.1), 5 blacklisted (0.99), 5 unscored
    """
    s = Store(tmp_path, auto_gc=False, auto_dictionaries=False, policy=NOW)
    h: dict[str, str] = {}
    done = s.start_run("done", {})
    h["root"] = put(s, "root", fitness=0.5, run_id=done, generation=0)
    h["a"] = put(s, "a", parents=[h["root"]], fitness=0.55, run_id=done, generation=1)
    h["b"] = put(s, "b", parents=[h["a"]], fitness=0.6, run_id=done, generation=2)
    h["champ"] = put(s, "champ", parents=[h["b"]], fitness=0.3, run_id=done, generation=3)
    s.finish_run(done, {"champion": h["champ"]})
    h["y"] = put(s, "y", fitness=0.05)
    h["x"] = put(s, "x", parents=[h["y"]], fitness=0.05)
    s.pin(h["x"], "runtime champion")
    live = s.start_run("live", {})
    h["o"] = put(s, "o", fitness=0.2, run_id=live, generation=0)
    h["q"] = put(s, "q", fitness=0.2, run_id=live, generation=0)
    h["p1"] = put(s, "p1", parents=[h["q"]], fitness=0.1, run_id=live, generation=1)
    h["p2"] = put(s, "p2", fitness=0.1, run_id=live, generation=1)
    s.save_checkpoint(live, 0, {"population": [h["o"], h["q"]]})
    s.save_checkpoint(live, 1, {"population": [h["p1"]], "champion": h["p2"]})
    good = [put(s, f"good{i}", fitness=0.9) for i in range(20)]
    poor = [put(s, f"poor{i}", fitness=0.1) for i in range(20)]
    banned = [put(s, f"banned{i}", fitness=0.99) for i in range(5)]
    for sha in banned:
        s.blacklist(sha, "wrong")
    unscored = [put(s, f"unscored{i}") for i in range(5)]
    protected = {h[k] for k in ("root", "a", "b", "champ", "y", "x", "q", "p1", "p2")}
    yield s, h, protected, {"good": good, "poor": poor, "banned": banned, "unscored": unscored}
    s.close()


def tag_of(h: dict[str, str], sha: str) -> str:
    return next(k for k, v in h.items() if v == sha)


def test_protected_set_names_every_kind_of_live_specimen(world):
    s, h, protected, _ = world
    why = s.protected()
    assert protected <= set(why)
    assert why[h["champ"]] == "champion" and why[h["x"]] == "pinned" and why[h["p1"]] == "checkpoint"
    assert why[h["p2"]] == "checkpoint"  # named as the running run's champion
    assert {why[h[k]] for k in ("root", "a", "b", "y", "q")} == {"ancestry"}
    assert h["o"] not in why  # only the newest checkpoint of a running run counts


def test_gc_keeps_protected_and_drops_the_least_relevant_first(world):
    s, h, protected, loose = world
    total = s.count_specimens()
    assert total == 10 + 50
    before = {r[0] for r in s.conn.execute("SELECT sha256 FROM specimens")}
    lineage_before = {sha: s.ancestry(sha) for sha in protected}
    report = s.gc(max_specimens=40)  # low water 0.85 -> 34 kept
    assert report.specimens_before == total and report.specimens_after == 34 == s.count_specimens()
    assert report.removed == total - 34 and report.cap_met and report.protected == len(protected)
    for sha in protected:
        assert s.get_specimen(sha) is not None
        assert s.ancestry(sha) == lineage_before[sha]
    kept = {sha for sha in loose["good"] if s.has_specimen(sha)}
    assert kept == set(loose["good"])  # 34 = 9 protected + 20 good + 5 more
    assert not any(s.has_specimen(sha) for sha in loose["banned"])  # blacklisted go first despite fitness
    assert not any(s.has_specimen(sha) for sha in loose["unscored"])
    assert s.is_blacklisted(loose["banned"][0])  # the blacklist itself is never pruned
    assert s.has_specimen(h["o"])  # fitter than every poor one
    assert sum(s.has_specimen(sha) for sha in loose["poor"]) == 4
    after = {r[0] for r in s.conn.execute("SELECT sha256 FROM specimens")}
    assert set(report.removed_hashes) == before - after
    assert report.removed_by_function == {"f": report.removed} and report.kept_by_function == {"f": 34}
    assert s.integrity_check() == []


def test_lineage_through_removed_specimens_ends_at_the_first_removed_parent(tmp_path):
    with Store(tmp_path, auto_gc=False, policy=NOW) as s:
        e = put(s, "e", fitness=0.01)
        d = put(s, "d", parents=[e], fitness=0.01)
        k = put(s, "k", parents=[d], fitness=0.99)
        for i in range(6):
            put(s, f"filler{i}", fitness=0.5)
        report = s.gc(max_specimens=7)  # 9 -> 5: the two poorest unprotected (d, e) are among the removed
        assert report.removed == 4
        assert s.has_specimen(k) and not s.has_specimen(d) and not s.has_specimen(e)
        assert s.parents_of(k) == [(d, "op", None)]  # the kept child still names its parent
        assert s.ancestry(k) == {d}                    # ... and its ancestry ends there
        assert s.conn.execute("SELECT count(*) FROM lineage WHERE child IN (?, ?)", (d, e)).fetchone()[0] == 0
        assert report.lineage_edges_removed == 1


def test_a_cap_the_protected_alone_exceed_is_reported_not_enforced(world):
    s, _, protected, _ = world
    report = s.gc(max_specimens=3)
    assert not report.cap_met
    assert s.count_specimens() == len(protected) == report.specimens_after
    assert any("max_specimens 3 not met" in n and "protected" in n for n in report.notes)
    assert all(s.has_specimen(sha) for sha in protected)


def test_dry_run_reports_without_removing(world):
    s, _, _, _ = world
    before = (s.count_specimens(), s.stats()["lineage_edges"])
    report = s.gc(max_specimens=20, dry_run=True)
    assert report.dry_run and report.removed > 0 and report.specimens_after == before[0] - report.removed
    assert (s.count_specimens(), s.stats()["lineage_edges"]) == before
    assert all(s.has_specimen(sha) for sha in report.removed_hashes)


def test_no_caps_means_nothing_is_removed(world):
    s, _, _, _ = world
    n = s.count_specimens()
    report = s.gc()
    assert report.removed == 0 and s.count_specimens() == n and report.cap_met
    assert any("no caps" in note for note in report.notes)


def test_pins_are_per_reason(tmp_path):
    with Store(tmp_path, auto_gc=False, policy=NOW) as s:
        sha = put(s, "pinned", fitness=0.0)
        ghost = sha256_hex(b"not stored yet")
        s.pin(sha, "runtime")
        s.pin(sha, "symbiosis")
        s.pin(sha, "runtime")  # idempotent
        s.pin(ghost, "runtime")
        assert s.pinned() == {sha: ["runtime", "symbiosis"], ghost: ["runtime"]}
        assert s.unpin(sha, "runtime") == 1
        put(s, "other", fitness=0.9)
        s.gc(max_specimens=0)
        assert s.has_specimen(sha)  # still pinned for symbiosis
        assert s.unpin(sha) == 1 and s.unpin(sha) == 0
        s.gc(max_specimens=0)
        assert s.count_specimens() == 0
        with pytest.raises(StoreError):
            s.pin("nope", "x")
        with pytest.raises(StoreError):
            s.pin(sha, "")


def test_caps_are_validated_and_remembered_in_the_folder(tmp_path):
    for bad in ({"max_specimens": -1}, {"max_store_mb": -0.5}, {"max_specimens": True},
                {"max_store_mb": float("nan")}, {"max_store_mb": float("inf")}, {"max_specimens": 2.5}):
        with pytest.raises(StoreError):
            Store(tmp_path / "never", **bad)
    assert not (tmp_path / "never").exists()
    with Store(tmp_path, max_specimens=100) as s:
        assert s.caps == Caps(100, None)
    with Store(tmp_path, max_store_mb=2.5) as s:
        assert s.caps == Caps(100, 2.5)  # each cap given replaces only itself
    with Store(tmp_path) as s:
        assert s.caps == Caps(100, 2.5) and s.stats()["caps"] == {"max_specimens": 100, "max_store_mb": 2.5}
        assert s.set_caps(None, 1) == Caps(None, 1)
    with Store(tmp_path) as s:
        assert s.caps == Caps(None, 1) and s.caps.max_store_bytes == 1024 * 1024


def test_writes_over_the_count_cap_collect_automatically_and_amortised(tmp_path):
    cap, batch, batches = 60, 5, 60
    with Store(tmp_path, max_specimens=cap, policy=NOW, auto_dictionaries=False) as s:
        for b in range(batches):
            recs = [SpecimenRecord(blob(f"{b}/{i}"), "f", fitness=random.Random(b * 100 + i).random())
                    for i in range(batch)]
            written = s.put_many(recs)
            assert s.count_specimens() <= cap
            assert all(s.has_specimen(sha) for sha in written)  # the batch being written is never collected
        assert s.last_maintenance_error is None
        # each collection goes down to 0.85 * cap, so one runs per ~9 specimens written, not per write
        assert 0 < len(s.gc_history) <= batch * batches // int(cap * 0.15) + 1


def test_writes_over_the_size_cap_keep_the_file_under_it(tmp_path):
    cap_mb = 0.5
    rng = random.Random(3)
    with Store(tmp_path, max_store_mb=cap_mb, policy=NOW, auto_dictionaries=False) as s:
        for _ in range(40):
            s.put_many(SpecimenRecord(rng.randbytes(2000), "f", fitness=rng.random()) for _ in range(20))
            assert s.size_on_disk() <= cap_mb * 1024 * 1024
        assert s.gc_history and all(r.cap_met for r in s.gc_history)
        # each collection goes down to 0.7 of the cap, so one runs every few writes, not after each
        assert len(s.gc_history) <= 40 // 2, [(r.bytes_before, r.bytes_after) for r in s.gc_history]
        assert all(r.bytes_after <= 0.75 * cap_mb * 1024 * 1024 for r in s.gc_history)
        assert {r.vacuum for r in s.gc_history} <= {"incremental", "full"}
        assert s.count_specimens() < 40 * 20 and s.integrity_check() == []


def test_an_unmeetable_cap_does_not_collect_on_every_write(tmp_path):
    with Store(tmp_path, max_specimens=5, policy=NOW, auto_dictionaries=False) as s:
        run = s.start_run("live", {})
        pop = s.put_many(SpecimenRecord(blob(f"pop{i}"), "f", fitness=0.5, run_id=run, generation=0) for i in range(20))
        s.save_checkpoint(run, 0, {"population": pop})  # 20 protected specimens against a cap of 5
        for i in range(20):
            s.put_specimen(blob(f"extra{i}"), function="f", fitness=0.1)
        assert all(s.has_specimen(sha) for sha in pop)
        assert len(s.gc_history) <= 3
        assert not s.gc_history[0].cap_met


def test_usage_counts_reads_and_rewrites_with_decay(tmp_path):
    assert decay(4.0, 100.0, 100.0 + USAGE_HALF_LIFE_S) == pytest.approx(2.0)
    assert decay(0.0, 1.0, 2.0) == 0.0 and decay(3.0, 50.0, 10.0) == 3.0
    with Store(tmp_path, auto_gc=False) as s:
        sha = put(s, "used")
        assert s.conn.execute("SELECT usage FROM specimens").fetchone()[0] == 0
        put(s, "used")  # the same bytes written again: a use
        assert s.conn.execute("SELECT usage FROM specimens").fetchone()[0] == pytest.approx(1.0, abs=1e-6)
        s.conn.execute("UPDATE specimens SET last_used = last_used - 120")
        for _ in range(3):
            s.get_specimen(sha)
        # the first read touched (folding 1 read in), the next two wait for the next touch or close
        assert s.conn.execute("SELECT usage FROM specimens").fetchone()[0] == pytest.approx(2.0, abs=1e-3)
    with Store(tmp_path) as s:
        assert s.conn.execute("SELECT usage FROM specimens").fetchone()[0] == pytest.approx(4.0, abs=1e-3)


def test_relevance_orders_by_rank_recency_usage_and_lineage():
    p = ForgettingPolicy()
    base = relevance(0.5, 0.0, 0.0, 0, False, p)
    assert relevance(1.0, 0.0, 0.0, 0, False, p) > base
    assert relevance(0.5, 10 * p.recency_half_life_s, 0.0, 0, False, p) < base
    assert relevance(0.5, 0.0, 5.0, 0, False, p) > base
    assert relevance(0.5, 0.0, 0.0, 3, False, p) > base
    assert relevance(1.0, 0.0, 99.0, 9, True, p) < relevance(0.0, 1e9, 0.0, 0, False, p)
    scores = rank_scores([("a", "f", 0.9), ("b", "f", 0.5), ("c", "f", 0.5), ("d", "f", 0.1), ("e", "f", None),
                          ("z", "g", 0.0)])
    assert scores == {"a": 1.0, "b": pytest.approx(2 / 3), "c": pytest.approx(2 / 3), "d": 0.0, "e": 0.0, "z": 1.0}
    with pytest.raises(StoreError):
        ForgettingPolicy(low_water=0)
    with pytest.raises(StoreError):
        ForgettingPolicy(weight_fitness=0, weight_recency=0, weight_usage=0, weight_lineage=0)


def test_recent_specimens_are_in_flight_for_another_process(tmp_path):
    with Store(tmp_path, auto_gc=False, policy=ForgettingPolicy(grace_s=60)) as s:
        put(s, "fresh", fitness=0.0)
        report = s.gc(max_specimens=0)
        assert report.removed == 0 and report.protected_by == {"recent": 1}


def test_unreadable_newest_checkpoint_stops_gc_instead_of_guessing(world):
    s, _, _, _ = world
    n = s.count_specimens()
    s.conn.execute("UPDATE checkpoints SET state = x'00112233' WHERE generation = 1")
    with pytest.raises(StoreError, match="cannot tell"):
        s.gc(max_specimens=1)
    assert s.count_specimens() == n


def test_old_store_gains_auto_vacuum_and_shrinks_on_disk(tmp_path):
    """A store created before auto-vacuum existed is rebuilt by its first full VACUUM."""
    path = tmp_path / "jeet.db"
    with Store(tmp_path, auto_gc=False) as s:
        for i in range(400):
            put(s, f"m{i}", fitness=i / 400)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA auto_vacuum = NONE")
    con.execute("VACUUM")
    assert con.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    con.close()
    with Store(tmp_path, auto_gc=False, policy=NOW) as s:
        report = s.gc(max_specimens=40)
        assert report.vacuum == "full" and report.bytes_after < report.bytes_before / 2
        assert s.conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2


def test_gc_waits_for_the_write_lock_then_collects(tmp_path):
    with Store(tmp_path, auto_gc=False, policy=NOW, timeout=0.3) as s:
        for i in range(10):
            put(s, f"m{i}", fitness=0.5)
        holder = sqlite3.connect(tmp_path / "jeet.db", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            start = time.perf_counter()
            with pytest.raises(StoreError, match="locked"):
                s.gc(max_specimens=2)
            assert time.perf_counter() - start < 5
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert s.count_specimens() == 10
        assert s.gc(max_specimens=2).removed == 9 and s.count_specimens() == 1


def test_size_cap_bounds_the_blacklist_and_old_logbooks_but_keeps_what_matters(tmp_path):
    rng = random.Random(9)
    with Store(tmp_path, auto_gc=False, policy=NOW) as s:
        cheap = [rng.randbytes(32).hex() for _ in range(3000)]
        precious = [rng.randbytes(32).hex() for _ in range(50)]
        done, live = s.start_run("done", {}), s.start_run("live", {})
        with s.db.write() as conn:
            conn.executemany("INSERT INTO blacklist VALUES (?, 'wrong', ?)",
                             ((h, float(i)) for i, h in enumerate(cheap)))
            conn.executemany("INSERT INTO blacklist VALUES (?, 'fails a held-out case', 1e9)", ((h,) for h in precious))
            conn.executemany("INSERT INTO logbook VALUES (?, ?, ?)",
                             ((done, g, json.dumps({"generation": g, "pad": "x" * 300})) for g in range(400)))
            conn.executemany("INSERT INTO logbook VALUES (?, ?, ?)",
                             ((live, g, json.dumps({"generation": g})) for g in range(20)))
        s.finish_run(done, {})
        s.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = s.size_on_disk()
        cap_mb = 0.5 * size / 2**20
        report = s.gc(max_store_mb=cap_mb)
        assert report.cap_met and s.size_on_disk() <= cap_mb * 2**20
        assert report.blacklist_forgotten > 0 and report.logbook_rows_removed > 0
        assert all(s.is_blacklisted(sha) for sha in precious)  # never forgotten
        assert s.is_blacklisted(cheap[-1]) and not s.is_blacklisted(cheap[0])  # oldest first
        assert len(s.logbook(live)) == 20  # a running run's logbook is what it resumes from
        assert [r["generation"] for r in s.logbook(done)] == list(range(400 - len(s.logbook(done)), 400))
        off = s.gc(max_store_mb=cap_mb / 2, policy=ForgettingPolicy(grace_s=0, blacklist_share=None,
                                                                     logbook_share=None))
        assert off.blacklist_forgotten == 0 == off.logbook_rows_removed and not off.cap_met
        assert "blacklist" in off.notes[0]
