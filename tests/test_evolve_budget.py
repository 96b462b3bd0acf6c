"""The budget covers the set-up as well as the search: building the first population, a generation of a huge
module and starting islands all stop at the deadline, and the answer is then honest (the input unchanged, or
one line when nothing can be done). The default tests check where the deadline is looked at, not the clock;
the wall-clock bounds are behind `perf`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import wasmtime

from jeet.errors import JeetError
from jeet.evolve import EvolveConfig, Evolution, load_problem
from jeet.evolve.islands import Archipelago
from jeet.evolve.worker import Task, WorkerState

from big_module_support import with_custom_section

SRC = str(Path(__file__).resolve().parents[1] / "src")
POPCNT = '(module (func (export "f") (param i32) (result i32) local.get 0 i32.popcnt))'


def config(**kw) -> EvolveConfig:
    base = dict(population=8, generations=50, workers=1, use_wasm_opt=True, seed=5, prove=False)
    base.update(kw)
    return EvolveConfig(**base)


@pytest.fixture(scope="module")
def problem():
    return load_problem(None, kernel="popcount", seed=1, train_size=8)


def test_a_deadline_passed_during_set_up_leaves_the_input_as_the_answer(problem):
    with Evolution(problem, config(), deadline=time.monotonic()) as evo:
        reason = evo.run()
        assert reason == "budget"
        assert evo.state.evaluations == 0 and evo.state.generation == 0  # no wasm-opt seed, no mutant, no generation
        assert [m.sha256 for m in evo.population] == [problem.sha256]
        assert evo.champion.sha256 == problem.sha256 and evo.improved is False
        assert evo.champion_evidence.failures == 0  # the input, checked: an honest answer


def test_a_worker_begins_no_task_past_the_deadline(problem):
    with Evolution(problem, config()) as evo:
        evo.measure()
        worker = WorkerState(evo.evaluator.setup)
        try:
            tasks = [Task("const_perturb", (problem.wasm,), seed) for seed in range(3)]
            late = worker.run_chunk(tasks, replace(evo.context(), deadline=time.monotonic() - 1.0))
            assert [o.late for o in late] == [True] * 3
            assert not any(o.evaluated or o.wasm for o in late)
            on_time = worker.run_chunk(tasks, replace(evo.context(), deadline=time.monotonic() + 600.0))
            assert not any(o.late for o in on_time)
        finally:
            worker.close()


def test_a_declined_task_ends_the_run(problem):
    """A worker that had no time left for a task means the deadline has come, whatever the clock says yet."""
    with Evolution(problem, config(), deadline=time.monotonic() + 600.0) as evo:
        evo.measure()
        assert evo.done() is None
        declined = replace(evo.evaluator.run([Task("const_perturb", (problem.wasm,), 0)], evo.context())[0],
                           late=True)
        evo.tell([declined])
        assert evo.done() == "budget"


def test_islands_that_cannot_start_within_the_budget_say_so_in_one_line(problem, tmp_path):
    with Archipelago(problem, config(islands=4, budget_s=1e-3)) as arch:
        with pytest.raises(JeetError, match="starting 4 island processes takes more than"):
            arch.run()
        assert all(isl.process is None or not isl.process.is_alive() for isl in arch.islands)


# --- wall clock ------------------------------------------------------------------------------------------------------

def _jeet(args: list[str], cwd: Path, timeout: float) -> tuple[subprocess.CompletedProcess, float]:
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "jeet", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env={**os.environ, "PYTHONPATH": SRC})
    return proc, time.monotonic() - t0


def _honest(proc: subprocess.CompletedProcess) -> None:
    """Either a result (the input unchanged if nothing better was found) or one line and exit status 2."""
    if proc.returncode == 2:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in proc.stderr and "budget" in lines[0], proc.stderr
        return
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["held_out_failures"] == 0


@pytest.mark.perf
@pytest.mark.parametrize("budget", [10.0, 25.0])
def test_a_20_mib_module_keeps_the_budget_within_ten_percent(tmp_path, budget):
    big = tmp_path / "big.wasm"
    big.write_bytes(with_custom_section(wasmtime.wat2wasm(POPCNT), 20 << 20))
    proc, wall = _jeet(["evolve", str(big), "--budget", f"{budget:g}", "--population", "16", "--json",
                        "--data", str(tmp_path / "data"), "--out", str(tmp_path / "o.wasm")], tmp_path, 4 * budget)
    _honest(proc)
    assert wall <= 1.1 * budget + 0.5, wall


@pytest.mark.perf
def test_64_islands_keep_a_5_s_budget_within_ten_percent(tmp_path):
    (tmp_path / "pc.wat").write_text(POPCNT)
    proc, wall = _jeet(["evolve", "pc.wat", "--islands", "64", "--force", "--budget", "5", "--json",
                        "--data", str(tmp_path / "data"), "--out", str(tmp_path / "o.wasm")], tmp_path, 60)
    _honest(proc)
    assert wall <= 1.1 * 5 + 0.5, wall
