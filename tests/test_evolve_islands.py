"""Islands: K processes evolving side by side with migration. The same master seed gives the same
archipelago; an unconnected archipelago is exactly its islands run alone; stop conditions hold for
the whole archipelago; a dead island neither hangs nor spoils the run; an interrupted run resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jeet.errors import JeetError
from jeet.evolve import EvolveConfig, Evolution, load_problem
from jeet.evolve.islands import Archipelago, island_seed, merge_logbooks, sources, summarize_archipelago
from jeet.evolve.logbook import GenerationRow
from jeet.store import Store


@pytest.fixture(scope="module")
def problem():
    return load_problem(None, kernel="popcount", seed=1, train_size=8)


def cfg(**kw) -> EvolveConfig:
    # fuel decides here: native time (measured, not computed) would make the output differ between runs
    base = dict(population=12, generations=12, budget_s=None, use_wasm_opt=False, seed=5, islands=2,
                migration_interval=3, migration_rate=2, verify_every=2, objective="fuel")
    base.update(kw)
    return EvolveConfig(**base)


def _timeless(rows) -> list[dict]:
    return [{k: v for k, v in asdict(r).items() if k != "seconds"} for r in rows]


def _fingerprint(arch: Archipelago) -> tuple:
    return (arch.champion.sha256,
            [(isl.final.champion.sha256, _timeless(isl.rows)) for isl in arch.islands],
            [(i["emigrants_sent"], i["immigrants_offered"], i["immigrants_accepted"])
             for i in arch.figures()["per_island"]])


# --- topology and seeds ---------------------------------------------------------------------------

def test_topologies_say_who_hears_whom():
    assert sources("ring", [0, 1, 2, 3], 0) == (1, 3)  # pygmo's ring: both neighbours
    assert sources("ring", [0, 1], 1) == (0,)
    assert sources("ring", [0, 2, 3], 0) == (2, 3)    # island 1 died: the ring closes over it
    assert sources("fully_connected", [0, 1, 2], 1) == (0, 2)
    assert sources("unconnected", [0, 1, 2], 1) == ()
    assert sources("ring", [0], 0) == ()
    with pytest.raises(JeetError):
        sources("star", [0, 1], 0)


@given(st.lists(st.integers(0, 40), min_size=1, max_size=12, unique=True).map(sorted),
       st.sampled_from(["ring", "fully_connected", "unconnected"]))
def test_topologies_are_symmetric_and_stay_among_the_living(members, topology):
    for i in members:
        got = sources(topology, members, i)
        assert i not in got and set(got) <= set(members)
        for j in got:  # pygmo's ring and the complete graph both link both ways
            assert i in sources(topology, members, j)
        if topology == "ring" and len(members) > 1:
            assert 1 <= len(got) <= 2
        if topology == "fully_connected":
            assert set(got) == set(members) - {i}


def test_island_seeds_are_distinct_and_fixed_by_the_master_seed():
    seeds = [island_seed(7, i) for i in range(8)]
    assert len(set(seeds)) == 8 and 7 not in seeds
    assert seeds == [island_seed(7, i) for i in range(8)]
    assert island_seed(8, 0) != seeds[0]
    assert all(0 <= s < 2**63 for s in seeds)


def test_merged_logbook_sums_work_and_takes_the_best():
    def row(g, fuel, evals, secs):
        return GenerationRow(g, 0.5, 0.5, fuel, fuel, 10, 1.0, 0.5, evals, secs, 0.0, 0)
    merged = merge_logbooks([(1.0, [row(0, 90, 10, 0.5), row(1, 80, 20, 1.0)]),
                             (2.0, [row(0, 95, 12, 0.1)])])
    assert [(r.generation, r.best_fuel, r.evaluations, r.seconds) for r in merged] == [(0, 90, 22, 2.1), (1, 80, 20, 2.0)]


# --- the archipelago --------------------------------------------------------------------------------

def test_same_master_seed_same_champions_and_logbooks(problem):
    """Run twice from one master seed: identical champions, logbooks (but for the clock) and migrations."""
    runs = []
    for _ in range(2):
        with Archipelago(problem, cfg()) as arch:
            assert arch.run() == "generations"
            runs.append(_fingerprint(arch))
            figures = arch.figures()
            assert [isl.generation for isl in arch.islands] == [12, 12]
            assert arch.champion_evidence.failures == 0
            assert arch.champion_evidence.cases == len(problem.oracle.held_out)
    assert runs[0] == runs[1]
    assert figures["emigrants_sent"] > 0 and figures["immigrants_offered"] > 0
    assert runs[0][1][0][1] != runs[0][1][1][1]  # the islands search differently


def test_strict_synchronous_migration_is_reproducible_too(problem):
    """lag 0: every island waits for all at each boundary; the run still depends on the seed alone."""
    out = []
    for _ in range(2):
        with Archipelago(problem, cfg(generations=9, topology="fully_connected", emigrant_policy="random",
                                      replacement_policy="worst"), lag=0) as arch:
            arch.run()
            out.append(_fingerprint(arch))
    assert out[0] == out[1]
    assert sum(x[2] for x in out[0][2]) > 0  # "worst" lets every correct newcomer in


def test_unconnected_islands_are_their_seeds_run_alone(problem):
    c = cfg(topology="unconnected", generations=8)
    with Archipelago(problem, c) as arch:
        arch.run()
        got = [isl.final.champion.sha256 for isl in arch.islands]
        rows = [_timeless(isl.rows) for isl in arch.islands]
        assert arch.figures()["immigrants_offered"] == 0
    for i in range(2):
        with Evolution(problem, arch.island_config(i)) as evo:
            evo.run()
            assert evo.champion.sha256 == got[i]
            assert _timeless(evo.logbook.rows) == rows[i]


def test_the_archipelago_champion_is_the_best_verified_island_champion(problem):
    with Archipelago(problem, cfg(generations=15)) as arch:
        arch.run()
        result = summarize_archipelago(arch, arch.reason, 1.0)
        finals = [isl.final.champion for isl in arch.islands]
    # islands' fuel figures sum their own training sets (learned cases differ); the archipelago re-scores
    # every island champion on the merged set and keeps the best that passes its held-out check
    assert result.best_fuel < result.baseline_fuel
    assert result.best_sha256 in {m.sha256 for m in finals}
    assert result.held_out_failures == 0 and result.evaluations == sum(i.evaluations for i in arch.islands)
    assert [r.generation for r in arch.logbook.rows] == list(range(16))


def test_evaluation_cap_is_shared_and_budget_is_one_deadline(problem):
    with Archipelago(problem, cfg(generations=None, max_evaluations=120)) as arch:
        assert arch.run() == "evaluations"
        assert all(isl.evaluations >= 60 for isl in arch.islands)
        assert arch.evaluations < 120 + 2 * 40  # at most one generation over, per island
    with Archipelago(problem, cfg(generations=None, budget_s=2.5)) as arch:
        assert arch.run() == "budget"


@pytest.mark.perf
def test_the_budget_holds_for_the_whole_archipelago(problem):
    with Archipelago(problem, cfg(generations=None, budget_s=2.5)) as arch:
        assert arch.run() == "budget"
        assert max(r.seconds for r in arch.logbook.rows) < 2.5 + 2.5


def test_stagnation_stops_the_archipelago(problem):
    tiny = load_problem(None, kernel="iabs", seed=1, train_size=8)
    with Archipelago(tiny, cfg(generations=400, stagnation=6, migration_interval=2)) as arch:
        assert arch.run() == "stagnation"
        assert max(isl.generation for isl in arch.islands) < 400


def test_a_dead_island_does_not_hang_the_run(problem):
    events = []

    def kill_island_1(arch, report):
        if report.island == 1 and report.generation >= 3 and arch.islands[1].status == "running":
            os.kill(arch.pids()[1], signal.SIGKILL)

    with Archipelago(problem, cfg(generations=12), on_report=kill_island_1, on_event=events.append) as arch:
        assert arch.run() == "generations"
        assert [isl.status for isl in arch.islands] == ["finished", "died"]
        assert arch.islands[0].generation == 12
        assert arch.champion_evidence.failures == 0
    assert len(events) == 1 and "island 1 died" in events[0]
    assert arch.figures()["died"] == [1]


def test_every_island_dying_is_one_clear_error(problem):
    def kill_all(arch, report):
        for pid, isl in zip(arch.pids(), arch.islands):
            if isl.status == "running":
                os.kill(pid, signal.SIGKILL)

    with pytest.raises(JeetError, match="every island died"):
        with Archipelago(problem, cfg(), on_report=kill_all) as arch:
            arch.run()


def test_an_interrupted_archipelago_resumes_its_islands(problem, tmp_path):
    c = cfg(generations=15)

    def interrupt(arch, report):
        if min(isl.generation for isl in arch.islands) >= 6:
            raise KeyboardInterrupt

    with Store(tmp_path) as store:
        with pytest.raises(KeyboardInterrupt):
            with Archipelago(problem, c, store=store, on_report=interrupt) as arch:
                arch.run()
        assert [store.run_info(i)["status"] for i in (1, 2, 3)] == ["running"] * 3
        first = {}

        def note(arch, report):
            first.setdefault(report.island, report)

        with Archipelago(problem, c, store=store, resume=True, on_report=note) as arch:
            assert arch.run() == "generations"
            assert arch.run_id == 1
            assert sorted(i["run_id"] for i in arch.figures()["per_island"]) == [2, 3]
            assert all(first[i].generation >= 5 and first[i].rows[0].generation == 0 for i in (0, 1))
            assert [isl.generation for isl in arch.islands] == [15, 15]
        assert store.run_info(4) is None
        assert all(store.run_info(i)["status"] == "finished" for i in (1, 2, 3))


def test_workers_do_not_apply_to_islands(problem):
    with pytest.raises(JeetError, match="workers"):
        Archipelago(problem, cfg(workers=4))


# --- the command line -----------------------------------------------------------------------------

def _jeet(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "jeet", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.mark.parametrize("args, needle", [
    (["--islands", "0"], "islands"), (["--topology", "star"], "topology"),
    (["--migration-interval", "0"], "migration_interval"), (["--migration-rate", "-1"], "migration_rate"),
    (["--emigrant-policy", "worst"], "emigrant_policy"), (["--replacement-policy", "best"], "replacement_policy"),
    (["--islands", "2", "--workers", "3"], "workers"), (["--islands", "2", "--operators", "bogus"], "operator"),
])
def test_bad_island_options_are_one_line_and_exit_2(args, needle, tmp_path):
    from typer.testing import CliRunner

    from jeet.cli.main import app

    r = CliRunner().invoke(app, ["evolve", "--kernel", "iabs", "--generations", "1", "--data", str(tmp_path), *args])
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jeet: error:") and needle in lines[0]


def test_a_config_file_sets_the_island_fields(tmp_path):
    from jeet.cli.main import app
    from typer.testing import CliRunner

    (tmp_path / "c.json").write_text(json.dumps({"islands": 2, "topology": "nope"}))
    r = CliRunner().invoke(app, ["evolve", "--kernel", "iabs", "--config", str(tmp_path / "c.json"),
                                 "--data", str(tmp_path)])
    assert r.exit_code == 2 and "topology" in r.stderr


def test_cli_islands_write_what_a_single_island_run_writes(tmp_path):
    out = tmp_path / "best.wasm"
    r = _jeet("evolve", "--kernel", "popcount", "--islands", "2", "--generations", "8", "--population", "12",
              "--migration-interval", "2", "--topology", "fully_connected", "--no-wasm-opt", "--json",
              "--data", str(tmp_path / "data"), "--out", str(out), "--logbook", str(tmp_path / "log.json"))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["held_out_failures"] == 0 and doc["generations"] == 8
    isl = doc["islands"]
    assert isl["islands"] == 2 and isl["topology"] == "fully_connected" and len(isl["per_island"]) == 2
    assert out.read_bytes()[:4] == b"\0asm"
    evidence = json.loads(out.with_name("best.wasm.evidence.json").read_text())
    assert evidence["best_sha256"] == doc["best_sha256"]
    assert out.with_name("best.wasm.tests.jsonl").exists()
    assert len(json.loads((tmp_path / "log.json").read_text())) == 9


# --- the benchmark suite --------------------------------------------------------------------------

def test_islands_bench_suite_writes_its_report(tmp_path):
    from rich.console import Console

    from jeet.bench.options import BenchOptions, load_suite

    run = load_suite("islands")
    # 3 s: starting the island processes counts against the budget
    report = run(BenchOptions(budget=3, runs=1, kernels=("iabs",), out=tmp_path), Console(file=open(os.devnull, "w")))
    same, split = report["trials"]  # both layouts against one shared 1-core run
    assert (same["layout"], same["island_population"], split["layout"], split["island_population"]) == \
        ("same", 48, "split", 24)
    for trial in (same, split):
        assert trial["kernel"] == "iabs" and trial["islands"] == 2
        assert trial["one_core_fuel"] <= trial["baseline_fuel"]
        assert trial["one_core_time_s"] <= trial["one_core_wall_s"]
        if trial["islands_time_s"] is not None:  # reached: the ratios are what they say
            assert trial["wall_ratio"] == pytest.approx(trial["islands_time_s"] / trial["one_core_wall_s"], rel=1e-3)
        else:
            assert trial["wall_ratio"] is None  # never reached: infinitely slow, written as null
    assert same["one_core_fuel"] == split["one_core_fuel"]
    md = (tmp_path / "islands.md").read_text()
    assert "| iabs | 0 | same |" in md and "| iabs | 0 | split |" in md and "median wall ratio" in md
    doc = json.loads((tmp_path / "islands.json").read_text())
    assert doc["summary"]["trials"] == 1 and set(doc["by_layout"]) == {"same", "split"}
