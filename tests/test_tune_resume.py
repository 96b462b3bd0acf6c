"""`jeet tune` keeps its study in DATA/tune.db: running it again continues the same study, and a
session killed mid-trial leaves its finished trials intact and has the interrupted trial run again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from jeet.evolve import EvolveConfig
from jeet.tune import TuneSetup, study_name, tune
from jeet.tune.study import storage_url

JEET = [sys.executable, "-m", "jeet", "tune"]


def _trials(data: Path, name: str) -> list:
    return optuna.load_study(study_name=name, storage=storage_url(data)).get_trials(deepcopy=False)


def _snapshot(trials) -> list:
    return [(t.number, t.state, t.params, t.value) for t in trials]


def test_a_second_run_continues_the_study_and_writes_a_config_evolve_reads(tmp_path):
    data = tmp_path / "d"
    args = ["--kernels", "sign", "--seeds", "1", "--offspring", "150", "--jobs", "1", "--data", str(data), "--json"]
    first = subprocess.run(JEET + ["--trials", "2"] + args, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    doc1 = json.loads(first.stdout)
    assert {"best_params", "best_value", "config", "importances"} <= set(doc1)
    name = doc1["study"]
    assert name == study_name(TuneSetup(kernels=("sign",), seeds=(0,), offspring=150))
    before = _snapshot(_trials(data, name))
    assert [t[1] for t in before] == [TrialState.COMPLETE] * 2

    second = subprocess.run(JEET + ["--trials", "3"] + args, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    doc2 = json.loads(second.stdout)
    after = _trials(data, name)
    assert _snapshot(after)[:2] == before  # the first session's trials are kept as they were
    assert len(after) == 3 and doc2["new_trials"] == 1 and doc2["study"] == name
    assert after[0].user_attrs.get("default") and doc2["default_value"] == after[0].value
    assert doc2["best_value"] == min(t.value for t in after)
    # the file is the best setting, in the form `jeet evolve --config` reads
    assert EvolveConfig.from_file(Path(doc2["config_file"])) == EvolveConfig(**doc2["config"])


def test_a_killed_session_keeps_its_trials_and_reruns_the_interrupted_one(tmp_path):
    data = tmp_path / "d"
    setup = TuneSetup(kernels=("sign", "iabs"), seeds=(0,), offspring=1500, jobs=1)
    name = study_name(setup)
    # more trials than it can finish before the kill: the session is always mid-study when killed
    proc = subprocess.Popen(JEET + ["--trials", "40", "--kernels", "sign,iabs", "--seeds", "1", "--offspring", "1500",
                                    "--jobs", "1", "--data", str(data)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path)
    running, last_error = None, None
    deadline = time.monotonic() + 120
    try:
        while running is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            try:
                trials = _trials(data, name)
            except Exception as e:  # the database or the study does not exist yet
                last_error = e
                continue
            running = next((t for t in trials if t.number >= 1 and t.state == TrialState.RUNNING), None)
        time.sleep(0.5)  # a trial's heartbeat starts just after the trial: kill once it beats
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert running is not None, (proc.returncode, repr(last_error), proc.stderr.read().decode()[-2000:])
    running = next(t for t in _trials(data, name) if t.state == TrialState.RUNNING)
    kept = [t for t in _trials(data, name) if t.state == TrialState.COMPLETE]
    assert kept and kept[0].number == 0

    time.sleep(3.5)  # the killed trial's heartbeat is now older than the grace period (3 x 1 s)
    report = tune(setup, data, trials=len(kept) + 1, heartbeat_s=1)
    trials = _trials(data, name)
    assert _snapshot([t for t in trials if t.number in {k.number for k in kept}]) == _snapshot(kept)
    interrupted = trials[running.number]
    assert interrupted.state == TrialState.FAIL  # marked failed once its heartbeat went stale ...
    reruns = [t for t in trials if t.number > running.number and t.params == running.params]
    assert reruns and reruns[0].state in (TrialState.COMPLETE, TrialState.PRUNED)  # ... and run again
    assert report.new_trials == 1 and report.trials["complete"] + report.trials.get("pruned", 0) == len(kept) + 1


def test_a_trial_stopped_by_ctrl_c_is_run_again_with_the_same_setting(tmp_path):
    data = tmp_path / "d"
    setup = TuneSetup(kernels=("sign",), seeds=(0, 1), offspring=100, jobs=1)

    def ctrl_c_in_trial_1(trial, unit) -> None:
        if trial.number == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tune(setup, data, trials=3, on_unit=ctrl_c_in_trial_1)
    report = tune(setup, data, trials=2)
    trials = _trials(data, study_name(setup))
    assert trials[0].state == TrialState.COMPLETE and trials[0].user_attrs["default"]
    assert trials[1].state == TrialState.FAIL and trials[1].user_attrs["interrupted"]
    assert trials[2].params == trials[1].params and trials[2].user_attrs["retry_of"] == 1
    assert trials[2].state in (TrialState.COMPLETE, TrialState.PRUNED) and report.new_trials == 1
