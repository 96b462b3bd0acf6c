"""One background evolution round: `jeet.evolve.Evolution` in a process of its own.

The process is `python -m jeet.runtime.job`, not a multiprocessing child: multiprocessing's
spawn and forkserver methods re-import the caller's main script in the child, which would re-run
an unguarded embedding program. The parent writes a pickled `JobSpec` (the problem with the
runtime's oracle, the evolve config, the store folder, usage counts, seeds) to the child's stdin;
the child writes length-prefixed pickled messages to its stdout:
("champion", wasm, fuel) each time its champion changes — only champions whose held-out
evidence shows no failure; ("done", reason) at the end; ("error", message) if it fails.
A byte on stdin, or stdin closing (the parent went away), ends the run after the generation in
flight, cleanly: the final champion is verified and stored, the run is closed in the store.
"""

from __future__ import annotations

import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

_LEN = struct.Struct("<I")


@dataclass(frozen=True, slots=True)
class JobSpec:
    problem: Any  # jeet.evolve.Problem
    config: Any   # jeet.evolve.EvolveConfig
    data_dir: str
    usage: dict[str, int]
    seeds: tuple[bytes, ...] = ()  # variants that join the first population (e.g. the current champion)


def _write(out: IO[bytes], lock: threading.Lock, message: tuple) -> None:
    blob = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    with lock:
        out.write(_LEN.pack(len(blob)) + blob)
        out.flush()


def _read(stream: IO[bytes]) -> Any:
    head = stream.read(_LEN.size)
    if len(head) < _LEN.size:
        raise EOFError
    size = _LEN.unpack(head)[0]
    blob = stream.read(size)
    if len(blob) < size:
        raise EOFError
    return pickle.loads(blob)


def run(spec: JobSpec, send: Any, stop: threading.Event) -> None:
    """Evolve, hand over verified champions through `send`, report how it ended."""
    from ..evolve import Evolution
    from ..store import Store

    with Store(spec.data_dir) as store, Evolution(spec.problem, spec.config, store=store, usage=spec.usage) as evo:
        evo.start()
        if spec.seeds:
            evo.immigrate(list(spec.seeds), source="runtime")
        sent = {spec.problem.sha256}

        def offer(e: Evolution) -> None:
            champ, evidence = e.champion, e.champion_evidence
            if champ is None or evidence is None or evidence.failures or champ.sha256 in sent:
                return
            sent.add(champ.sha256)
            send(("champion", champ.wasm, champ.evaluation.fuel))

        def on_generation(e: Evolution, _row: Any) -> None:
            offer(e)
            if stop.is_set():  # finish after this generation: done() now answers "generations"
                e.config = replace(e.config, generations=e.state.generation)

        if stop.is_set():
            evo.config = replace(evo.config, generations=evo.state.generation)
        reason = evo.run(on_generation)
        offer(evo)
        send(("done", "stopped" if stop.is_set() else reason))


def main() -> None:  # pragma: no cover - runs in the child process
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything else printing must not corrupt the message stream
    lock = threading.Lock()
    stdin = sys.stdin.buffer
    stop = threading.Event()
    try:
        spec = _read(stdin)
    except Exception:
        return

    def watch() -> None:
        stdin.read(1)  # a stop byte, or EOF when the parent is gone
        stop.set()

    threading.Thread(target=watch, daemon=True, name="jeet-job-stop").start()
    try:
        run(spec, lambda m: _write(out, lock, m), stop)
    except BaseException as exc:  # the parent must hear about any ending
        text = str(exc).strip().splitlines()
        try:
            _write(out, lock, ("error", f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")))
        except OSError:
            pass
    finally:
        out.close()


class EvolutionJob:
    """A running round for one function; the supervisor polls it and stops it."""

    def __init__(self, spec: JobSpec, log_path: Path | None = None) -> None:
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        log = open(log_path, "ab") if log_path is not None else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen([sys.executable, "-m", "jeet.runtime.job"], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=log, env=env, close_fds=True)
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        self._inbox: queue.Queue = queue.Queue()
        self.finished = False
        self._reader = threading.Thread(target=self._pump, daemon=True, name="jeet-job-reader")
        self._reader.start()
        try:
            blob = pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL)
            self.process.stdin.write(_LEN.pack(len(blob)) + blob)
            self.process.stdin.flush()
        except OSError:
            pass  # the process died at once: the reader reports it

    def _pump(self) -> None:
        stream = self.process.stdout
        try:
            while True:
                self._inbox.put(_read(stream))
        except (EOFError, OSError, pickle.UnpicklingError, ValueError):
            pass
        finally:
            self._inbox.put(None)

    def messages(self) -> list[tuple]:
        """Everything received so far; a process that ended without a word ends with an ("error", ...)."""
        out: list[tuple] = []
        while True:
            try:
                message = self._inbox.get_nowait()
            except queue.Empty:
                break
            if message is None:
                if not self.finished and not any(m[0] in ("done", "error") for m in out):
                    self.process.wait(timeout=5)
                    out.append(("error", f"the evolution process ended unexpectedly "
                                         f"(exit code {self.process.returncode})"))
                self.finished = True
                break
            out.append(message)
        if any(m[0] in ("done", "error") for m in out):
            self.finished = True
        return out

    def drain(self) -> list[tuple]:
        """The remaining messages of a process that has exited (waits for the reader to finish)."""
        self._reader.join(timeout=5)
        return self.messages()

    def request_stop(self) -> None:
        try:
            self.process.stdin.write(b"S")
            self.process.stdin.flush()
        except (OSError, ValueError):
            pass

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=5)

    def close(self) -> None:
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
        self._reader.join(timeout=5)
        self.process.stdout.close()


if __name__ == "__main__":  # pragma: no cover
    main()
