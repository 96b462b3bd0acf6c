"""Parallel evaluation over all cores, with each evaluation isolated from crashes.

Tasks go out in chunks to a process pool. If a worker process dies (a crash in native code),
the pool is rebuilt and the tasks of the broken chunk are retried one at a time, so the task that
kills its worker is identified and reported as `CRASH` while every other result is kept.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
import multiprocessing as mp

from .evaluation import Evaluation, Status
from .worker import (Context, Offspring, Task, WorkerSetup, WorkerState, init_process,
                     run_chunk_in_process, sha256)


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class Evaluator:
    """Runs tasks in this process (workers=1) or in a pool of worker processes."""

    def __init__(self, setup: WorkerSetup, workers: int = 0) -> None:
        self.setup = setup
        self.workers = workers or default_workers()
        self._local: WorkerState | None = None
        self._pool: ProcessPoolExecutor | None = None
        if self.workers == 1:
            self._local = WorkerState(setup)
        else:
            self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        # forkserver: workers never inherit the parent's threads (the sandbox's epoch ticker).
        ctx = mp.get_context("forkserver")
        return ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=init_process, initargs=(self.setup,))

    def run(self, tasks: list[Task], ctx: Context) -> list[Offspring]:
        if not tasks:
            return []
        if self._local is not None:
            return self._local.run_chunk(tasks, ctx)
        n_chunks = min(len(tasks), self.workers * 2)
        chunks = [tasks[i::n_chunks] for i in range(n_chunks)]
        results: list[list[Offspring] | None] = [None] * n_chunks
        broken: list[int] = []
        futures = [self._pool.submit(run_chunk_in_process, c, ctx) for c in chunks]
        for i, fut in enumerate(futures):
            try:
                results[i] = fut.result()
            except BrokenProcessPool:
                broken.append(i)
        if broken:
            self._restart()
            for i in broken:
                results[i] = [self._run_isolated(t, ctx) for t in chunks[i]]
        # undo the striping so results line up with tasks
        out: list[Offspring | None] = [None] * len(tasks)
        for i, chunk_result in enumerate(results):
            for j, off in enumerate(chunk_result):
                out[i + j * n_chunks] = off
        return out  # type: ignore[return-value]

    def _run_isolated(self, task: Task, ctx: Context) -> Offspring:
        fut = self._pool.submit(run_chunk_in_process, [task], ctx)
        try:
            return fut.result()[0]
        except BrokenProcessPool:
            self._restart()
            return Offspring(task.operator, tuple(sha256(p) for p in task.parents), None, None,
                             Evaluation(Status.CRASH, message="the evaluation crashed its worker"), True)

    def _restart(self) -> None:
        try:
            self._pool.shutdown(wait=False, cancel_futures=True)
        finally:
            self._pool = self._new_pool()

    def close(self) -> None:
        if self._local is not None:
            self._local.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "Evaluator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
