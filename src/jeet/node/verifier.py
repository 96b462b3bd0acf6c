"""Verification in a child process of its own, at a lower CPU priority than the node's network loop.

Checking a specimen is CPU work (compile, training cases, every held-out case); forwarding one is a few
small frames. On a loaded machine — or many nodes on one — the verifier must not delay the frames, so it
runs niced in a separate process. It is also a wall: a module that crashes the engine takes down the
verifier, not the node, which counts it as a failed check and starts a new verifier.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from ..lifeline import exit_with
from .settings import NodeSettings, load_workload
from .workload import Check


NICE = 19  # CPU-bound work (verification, the island) yields to the network loop
_workload = None


def background_priority(pid: int = 0) -> None:
    """Put a process (0: this one) below everything else on the CPU: SCHED_IDLE where the kernel has it,
    so a waking network loop preempts it at once, else the lowest nice level."""
    try:
        os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
        return
    except (AttributeError, OSError):
        pass
    try:
        if pid:
            os.setpriority(os.PRIO_PROCESS, pid, NICE)
        else:
            os.nice(NICE)
    except OSError:
        pass


def _init(settings: NodeSettings, node_pid: int) -> None:
    global _workload
    exit_with(node_pid)
    background_priority()
    _workload = load_workload(settings)
    _own_held_out(_workload, settings)
    _workload.check(_workload.original)


def _own_held_out(workload, settings: NodeSettings) -> None:
    """Held-out cases of this verifier's own, seeded from the node's identity and the time: nodes that
    checked the same cases would not verify independently."""
    from ..evolve.problem import Problem, redraw_held_out
    from ..net.identity import load_or_create
    from ..oracle import fresh_seed

    if isinstance(getattr(workload, "problem", None), Problem):
        node_id = load_or_create(settings.data).node_id
        workload.problem = redraw_held_out(workload.problem, fresh_seed(f"node:{node_id}"))


def _check(wasm: bytes) -> Check:
    return _workload.check(wasm)


class Verifier:
    """`await verifier.check(loop, wasm)` -> Check, run in the niced child."""

    def __init__(self, settings: NodeSettings) -> None:
        self.settings = settings
        self.crashes = 0
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        ctx = multiprocessing.get_context("forkserver")
        pool = ProcessPoolExecutor(1, mp_context=ctx, initializer=_init, initargs=(self.settings, os.getpid()))
        pool.submit(int)  # start the child now, not on the first specimen
        return pool

    async def check(self, loop, wasm: bytes) -> Check:
        try:
            return await loop.run_in_executor(self._pool, _check, wasm)
        except BrokenProcessPool:
            self.crashes += 1
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._start()
            return Check(False, 0.0, 0, 0.0, "the verifier crashed on this module")

    def pids(self) -> set[int]:
        return set(getattr(self._pool, "_processes", {}) or {})

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
