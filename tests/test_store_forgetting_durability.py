"""Forgetting is crash-safe (a SIGKILL mid-collection loses nothing protected) and keeps a real
evolution run's champion lineage intact under small caps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jeet.evolve import Evolution, EvolveConfig, load_problem
from jeet.store import ForgettingPolicy, Store

SRC = str(Path(__file__).resolve().parents[1] / "src")

# Builds protected specimens of every kind (all with fitness 0, the first to go if unprotected), fills the
# store with junk and collects it once while counting SQLite's progress callbacks, then fills it again and
# SIGKILLs itself from inside the second collection, after a seeded fraction of the same number of callbacks:
# the kill lands mid-transaction, mid-delete or mid-VACUUM, wherever that count falls.
COLLECTOR = textwrap.dedent(
    """
    import os, random, signal, sys
    from pathlib import Path
    from jeet.store import ForgettingPolicy, SpecimenRecord, Store

    import jeet.store.forgetting as forgetting

    root, seed, where = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    rng = random.Random(seed)
    with Store(root, auto_gc=False, auto_dictionaries=False) as s:
        done = s.start_run("done", {})
        chain, parents = [], ()
        for g in range(8):
            sha = s.put_specimen(rng.randbytes(500), function="f", fitness=0.0, parents=parents, operator="op",
                                 generation=g, run_id=done)
            chain.append(sha)
            parents = (sha,)
        s.finish_run(done, {"champion": chain[-1]})
        pinned = s.put_specimen(rng.randbytes(500), function="f", fitness=0.0, parents=(chain[2],), operator="op")
        s.pin(pinned, "test")
        live = s.start_run("live", {})
        pop = s.put_many(SpecimenRecord(rng.randbytes(500), "f", fitness=0.0, parents=(chain[0],), operator="op",
                                        generation=1, run_id=live) for _ in range(10))
        s.save_checkpoint(live, 1, {"population": pop})
        print("chain", *chain, flush=True)
        print("others", pinned, *pop, flush=True)
        calls = [0, None]

        def progress():
            calls[0] += 1
            if calls[1] is not None and calls[0] >= calls[1]:
                os.kill(os.getpid(), signal.SIGKILL)
            return 0

        s.conn.set_progress_handler(progress, 200)
        window = []
        reclaim = forgetting.reclaim

        def watched_reclaim(*args):
            window.append(calls[0])
            try:
                return reclaim(*args)
            finally:
                window.append(calls[0])

        forgetting.reclaim = watched_reclaim
        for round in range(2):
            s.put_many(SpecimenRecord(rng.randbytes(rng.randrange(200, 1500)), "g", fitness=rng.random())
                       for _ in range(2500))
            if round == 1 and where == "anywhere":
                calls[1] = int(rng.uniform(0.02, 0.98) * total)
            elif round == 1:  # inside the VACUUM that hands the space back
                calls[1] = rng.randrange(window[0] + 1, window[-1])
            window.clear()
            calls[0] = 0
            print("gc", round, flush=True)
            report = s.gc(max_specimens=100, policy=ForgettingPolicy(grace_s=0))
            total = calls[0]
            print("done", round, report.removed, total, flush=True)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("seed,where", [(1, "anywhere"), (2, "anywhere"), (3, "anywhere"), (4, "vacuum")])
def test_sigkill_mid_gc_loses_nothing_protected(tmp_path, seed, where):
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-c", COLLECTOR, str(tmp_path), str(seed), where],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err
    lines = [line.split() for line in out.splitlines()]
    chain, others = lines[0][1:], lines[1][1:]
    assert len(chain) == 8 and len(others) == 11
    assert [l[:2] for l in lines[2:]] == [["gc", "0"], ["done", "0"], ["gc", "1"]]  # killed inside the second

    with Store(tmp_path, auto_gc=False) as s:
        assert s.integrity_check() == []
        for sha in chain + others:
            assert s.get_specimen(sha) is not None  # present, and decodes to its content address
        assert s.ancestry(chain[-1]) == set(chain[:-1])
        assert s.ancestry(others[0]) == set(chain[:3])
        assert s.pinned() == {others[0]: ["test"]}
        report = s.gc(max_specimens=100, policy=ForgettingPolicy(grace_s=0))  # and it still collects
        assert report.cap_met and s.count_specimens() <= 100
        assert all(s.has_specimen(sha) for sha in chain + others)


def test_evolution_under_small_caps_keeps_the_champion_lineage(tmp_path):
    problem = load_problem(None, kernel="popcount", seed=1, train_size=8)
    config = EvolveConfig(population=16, generations=25, budget_s=60, workers=1, use_wasm_opt=False, seed=3)
    counts = []
    with Store(tmp_path, max_specimens=40, policy=ForgettingPolicy(grace_s=0)) as store, \
            Evolution(problem, config, store=store) as evo:
        evo.run(lambda e, row: counts.append(store.count_specimens()))
        collections = len(store.gc_history)
        champion = evo.champion.sha256
        assert store.last_maintenance_error is None
    assert collections > 0 and max(counts) <= 40
    with Store(tmp_path) as store:
        lineage = store.ancestry(champion) | {champion}
        assert store.missing(lineage) == set()
        assert champion == problem.sha256 or problem.sha256 in lineage  # back to the original, unbroken
        assert all(store.get_specimen(sha) is not None for sha in lineage)
