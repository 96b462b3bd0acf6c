"""Serving is bounded: a call that loops, a start function that loops and Ctrl-C all end promptly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from jeet.runtime import CallTimeout, JeetRuntimeError, Runtime

# popcount, except that it loops for ever when x == 0
LOOPS_AT_ZERO = ('(module (func (export "f") (param i32) (result i32) '
                 'local.get 0 i32.eqz (if (then (loop br 0))) local.get 0 i32.popcnt))')
START_LOOPS = '(module (func $s (loop br 0)) (start $s) (func (export "f") (param i32) (result i32) local.get 0))'
SRC = str(Path(__file__).resolve().parents[1] / "src")


def test_a_call_past_the_deadline_raises_call_timeout_and_the_function_keeps_serving(tmp_path):
    with Runtime(tmp_path, hot=0, call_timeout_s=0.2) as rt:
        f = rt.load(LOOPS_AT_ZERO, "f")
        assert f(7) == 3
        t0 = time.monotonic()
        with pytest.raises(CallTimeout, match=r"f\(0\) did not finish within the 0.2 s call deadline"):
            f(0)
        assert time.monotonic() - t0 < 5
        assert f(7) == 3 and f.stats()["timeouts"] == 1 and f.stats()["call_timeout_s"] == 0.2


def test_load_runs_the_start_function_under_the_deadline_and_fails_fast(tmp_path):
    with Runtime(tmp_path, hot=0, call_timeout_s=0.2) as rt:
        t0 = time.monotonic()
        with pytest.raises(CallTimeout, match="start function did not finish within 0.2 s"):
            rt.load(START_LOOPS, "f")
        assert time.monotonic() - t0 < 5
        with pytest.raises(JeetRuntimeError, match="start function trapped"):
            rt.load('(module (func $s unreachable) (start $s) (func (export "f")))', "f")


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), 1e9])
def test_the_call_deadline_is_validated(tmp_path, bad):
    with pytest.raises(JeetRuntimeError, match="call_timeout_s"):
        Runtime(tmp_path, call_timeout_s=bad)


def _started(proc: subprocess.Popen, marker: str) -> None:
    line = proc.stdout.readline()
    assert marker in line, line + proc.stderr.read()
    time.sleep(0.5)  # well inside the looping call


def test_sigint_stops_a_program_using_the_runtime_promptly(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        from jeet.runtime import Runtime
        with Runtime({str(tmp_path)!r}, hot=0, call_timeout_s=600) as rt:
            f = rt.load({LOOPS_AT_ZERO!r}, "f")
            print("calling", flush=True)
            f(0)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": SRC})
    try:
        _started(proc, "calling")
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        assert time.monotonic() - t0 < 3
        assert "KeyboardInterrupt" in proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()


def test_sigint_stops_jeet_run_promptly(tmp_path):
    module = tmp_path / "loops.wat"
    module.write_text(LOOPS_AT_ZERO)
    proc = subprocess.Popen([sys.executable, "-u", "-c",
                             "import sys; print('started', flush=True); from jeet.cli.main import app; "
                             "sys.argv[0] = 'jeet'; app()",
                             "run", str(module), "--call-timeout", "600", "--hot", "0", "--calls", "5",
                             "--data", str(tmp_path / "data")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": SRC})
    try:
        _started(proc, "started")
        time.sleep(2.0)  # imports, load, then the call on 0 (the first generated input) loops
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 130
        assert time.monotonic() - t0 < 3
        assert proc.stderr.read().strip().splitlines()[-1] == "jeet: interrupted"
    finally:
        proc.kill()
        proc.wait()


def test_jeet_run_on_a_call_that_loops_is_one_line_and_exit_status_2(tmp_path):
    module = tmp_path / "loops.wat"
    module.write_text(LOOPS_AT_ZERO)
    proc = subprocess.run([sys.executable, "-m", "jeet", "run", str(module), "--call-timeout", "0.2", "--hot", "0",
                           "--calls", "5", "--data", str(tmp_path / "data")],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": SRC})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "f(0) did not finish within the 0.2 s call deadline" in lines[0], proc.stderr


def test_jeet_run_on_a_module_whose_start_function_loops_is_one_line_and_exit_status_2(tmp_path):
    module = tmp_path / "start.wat"
    module.write_text(START_LOOPS)
    proc = subprocess.run([sys.executable, "-m", "jeet", "run", str(module), "--call-timeout", "0.2", "--hot", "0",
                           "--calls", "5", "--data", str(tmp_path / "data")],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": SRC})
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "start function did not finish within 0.2 s" in lines[0], proc.stderr


def test_sigint_stops_a_call_in_another_thread_with_call_interrupted(tmp_path):
    script = textwrap.dedent(f"""
        import os, signal, threading, time
        from jeet.runtime import Runtime
        with Runtime({str(tmp_path)!r}, hot=0, call_timeout_s=600) as rt:
            f = rt.load({LOOPS_AT_ZERO!r}, "f")
            seen = []
            def call():
                try:
                    f(0)
                except Exception as exc:
                    seen.append(type(exc).__name__)
            worker = threading.Thread(target=call)
            worker.start()
            time.sleep(0.5)
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)
            except KeyboardInterrupt:
                pass
            worker.join(10)
            print(seen, f(7), flush=True)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": SRC})
    assert proc.stdout.strip() == "['CallInterrupted'] 3", proc.stdout + proc.stderr
