"""The evolution loop as a library: it finds real improvements, never adopts a wrong variant,
is reproducible from its seed, and survives a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import wasmtime

from jeet.evolve import EvolveConfig, Evolution, load_problem
from jeet.evolve.result import summarize, write_outputs
from jeet.sandbox import Sandbox
from jeet.store import Store


def quick(**kw) -> EvolveConfig:
    base = dict(population=24, generations=25, budget_s=60, workers=1, use_wasm_opt=False, seed=3)
    base.update(kw)
    return EvolveConfig(**base)


def test_popcount_loop_gets_cheaper_and_stays_correct():
    problem = load_problem(None, kernel="popcount", seed=1, train_size=8)
    with Evolution(problem, quick(generations=150, population=48, budget_s=None)) as evo:  # reproducible: proofs awaited
        evo.run()
        champ = evo.champion
        assert champ.evaluation.fuel < evo.baseline.fuel * 0.8
        assert evo.champion_evidence.failures == 0
        assert evo.champion_evidence.cases >= 100 * len(problem.oracle.train)
        # the champion computes what the reference says on every held-out case, run independently
        with Sandbox() as sb:
            verdict = problem.oracle.verify(sb, champ.wasm, problem.function, problem.oracle.held_out,
                                            stop_at_first_failure=False)
        assert verdict.ok and verdict.passed == len(problem.oracle.held_out)


def test_same_seed_same_run():
    problem = load_problem(None, kernel="gcd", seed=2)
    runs = []
    for _ in range(2):
        # native time is measured, not computed: the champion repeats exactly under the fuel objective
        with Evolution(problem, quick(generations=12, budget_s=None, objective="fuel")) as evo:
            evo.run()
            runs.append(([r.best_fuel for r in evo.logbook.rows], evo.champion.sha256,
                         [m.sha256 for m in evo.population]))
    assert runs[0] == runs[1]


def test_parallel_workers_give_the_same_run_as_one():
    """Each task carries its own seed, so which worker runs it does not matter."""
    problem = load_problem(None, kernel="parity", seed=4)
    out = []
    for workers in (1, 2):
        with Evolution(problem, quick(generations=8, budget_s=None, workers=workers, objective="fuel")) as evo:
            evo.run()
            out.append((evo.champion.sha256, [r.best_fuel for r in evo.logbook.rows]))
    assert out[0] == out[1]


def test_wrong_on_held_out_is_never_champion(tmp_path):
    """A variant that passes the training cases but fails a held-out case is blacklisted, never
    champion, and the failing case joins the training set."""

    from jeet.evolve.population import Member
    from jeet.evolve.problem import Problem
    from jeet.evolve.worker import evaluate_candidate, sha256
    from jeet.oracle import Case, Oracle
    from jeet.sandbox import Limits

    ref = bytes(wasmtime.wat2wasm('(module (func (export "f") (param i32) (result i32)'
                                  ' local.get 0 i32.const 3 i32.mul local.get 0 i32.const 0 i32.add i32.add'
                                  ' local.get 0 i32.sub))'))
    # cheaper, right on small inputs, wrong from 1000 on
    bad = bytes(wasmtime.wat2wasm('(module (func (export "f") (param i32) (result i32)'
                                  ' local.get 0 i32.const 1000 i32.lt_u if (result i32) local.get 0 i32.const 3'
                                  ' i32.mul else i32.const 0 end))'))
    held = tuple(Case((x,), ((3 * x) & 0xFFFFFFFF,)) for x in list(range(0, 500)) + list(range(5000, 5400)))
    oracle = Oracle(("i32",), ("i32",), train=tuple(Case((x,), (3 * x,)) for x in (1, 2, 3, 7)),
                    held_out=held, source="tests")
    problem = Problem("mul3", ref, "f", oracle, Limits())
    with Store(tmp_path) as store, Evolution(problem, quick(generations=1, population=8), store=store) as evo:
        evo.start()
        ev = evaluate_candidate(evo.sandbox, "f", bad, evo.training_oracle(), evo.baseline)
        assert ev.correct and ev.fitness > evo.champion.fitness  # it fools the training set
        evo.population = [Member(sha256(bad), bad, ev), evo.champion]
        evo.promote()
        assert evo.champion.sha256 != sha256(bad)
        assert store.is_blacklisted(sha256(bad))
        assert any(c.args[0] >= 1000 for c in evo.train)  # the counterexample is now a training case
        assert all(m.sha256 != sha256(bad) for m in evo.population)
        evo.run()
        with Sandbox() as sb:
            assert oracle.verify(sb, evo.champion.wasm, "f", held, stop_at_first_failure=False).ok


def test_pareto_mode_logs_hypervolume():
    problem = load_problem(None, kernel="clamp", seed=5)
    with Evolution(problem, quick(objectives="pareto", generations=10)) as evo:
        evo.run()
        hv = [r.hypervolume for r in evo.logbook.rows]
    # The front gains ground over the run. Not every generation: when the first front outgrows the
    # population, NSGA-II keeps its boundary points and drops crowded ones, which can cost volume.
    assert hv[-1] > 0 and hv[-1] >= hv[0]


def test_outputs_carry_evidence(tmp_path):
    problem = load_problem(None, kernel="iabs", seed=6)
    with Evolution(problem, quick(generations=10)) as evo:
        reason = evo.run()
        result = summarize(evo, reason, 1.0, tmp_path / "x.wasm")
        paths = write_outputs(evo, result, tmp_path / "x.wasm")
    wasm, evidence, tests = paths
    assert wasmtime.Module.validate(wasmtime.Engine(), wasm.read_bytes()) is None
    doc = json.loads(evidence.read_text())
    assert doc["held_out_failures"] == 0 and doc["best_sha256"] == result.best_sha256
    assert len(tests.read_text().splitlines()) == doc["held_out_cases"]


def test_store_keeps_lineage_and_logbook(tmp_path):
    problem = load_problem(None, kernel="popcount", seed=7)
    with Store(tmp_path) as store, Evolution(problem, quick(generations=15), store=store) as evo:
        evo.run()
        champ = evo.champion.sha256
        assert store.get_specimen(champ) == evo.champion.wasm
        assert len(store.logbook(evo.run_id)) == 16  # generation 0 and 15 more
        if evo.champion.sha256 != problem.sha256:
            assert problem.sha256 in store.ancestry(champ)


@pytest.mark.slow
def test_killed_run_resumes_from_its_checkpoint(tmp_path):
    """SIGKILL mid-run loses at most the generation in flight; --resume continues from there."""
    data = tmp_path / "data"
    cmd = [sys.executable, "-m", "jeet", "evolve", "--kernel", "fnv1a32", "--data", str(data), "--seed", "9",
           "--budget", "120", "--workers", "1", "--no-wasm-opt", "--out", str(tmp_path / "o.wasm")]
    proc = subprocess.Popen(cmd + ["--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    deadline = time.monotonic() + 60
    generation = 0
    while time.monotonic() < deadline and generation < 20:
        time.sleep(0.5)
        try:
            with Store(data) as store:
                rows = store.logbook(1)
                generation = rows[-1]["generation"] if rows else 0
        except Exception:
            continue
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert generation >= 20, "the run did not get going"
    with Store(data) as store:
        cp = store.load_checkpoint(1)
    assert cp is not None and cp[0] >= generation - 1
    out = subprocess.run(cmd + ["--resume", "--generations", str(cp[0] + 5), "--json"], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["generations"] == cp[0] + 5  # continued, not restarted
    assert doc["held_out_failures"] == 0
