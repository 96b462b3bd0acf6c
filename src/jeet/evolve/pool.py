"""Parallel evaluation over all cores, with each evaluation isolated from crashes.

Each worker is a long-lived process with its own sandbox and caches. A task goes to the worker
that made its first parent (its "home"), so that worker already holds the parent decoded and
analysed; tasks without a home, and overflow beyond a fair share, go to the least-loaded worker.
If a worker dies or stops answering, it is replaced and the tasks it held are retried one at a
time on a fresh worker, so the one task that kills its worker is identified and reported as
`CRASH` while every other result is kept.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection

from ..errors import JeetError
from ..memory import give_back
from .evaluation import Evaluation, Status
from .worker import Context, Offspring, Task, WorkerSetup, WorkerState, sha256

# Workers must never inherit the parent's threads (the sandbox's epoch ticker), so no plain fork.
_MP = mp.get_context("forkserver")


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _serve(conn: Connection, setup: WorkerSetup, index: int) -> None:
    state = WorkerState(setup, index)
    try:
        while True:
            msg = conn.recv()
            if msg is None:
                break
            tasks, ctx = msg
            conn.send(state.run_chunk(tasks, ctx))
            give_back()  # a chunk's children and modules are gone: their pages go back while the loop selects
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        state.close()


class _Process:
    def __init__(self, setup: WorkerSetup, index: int) -> None:
        self.conn, child = _MP.Pipe()
        self.proc = _MP.Process(target=_serve, args=(child, setup, index), daemon=True,
                                name=f"jeet-worker-{index}")
        self.proc.start()
        child.close()

    def send(self, tasks: list[Task], ctx: Context) -> None:
        """Hand over a chunk; a worker that already died is found out by `receive` (None), not here."""
        try:
            self.conn.send((tasks, ctx))
        except (OSError, ValueError):
            pass

    def receive(self, timeout_s: float) -> list[Offspring] | None:
        """The results, or None if the worker died or did not answer in time."""
        try:
            if not self.conn.poll(timeout_s):
                return None
            return self.conn.recv()
        except (EOFError, OSError, ConnectionError):
            return None

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.proc.kill()
        else:
            try:
                self.conn.send(None)
            except (OSError, ValueError, BrokenPipeError):
                pass
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout=5)
        self.conn.close()


@dataclass
class Pending:
    """Tasks handed out and not yet collected (`plan`: task indices per worker)."""

    tasks: list[Task]
    ctx: Context
    plan: list[list[int]]


class Evaluator:
    """Runs tasks in this process (workers=1) or on a set of worker processes."""

    MAX_CONSECUTIVE_CRASHES = 16

    def __init__(self, setup: WorkerSetup, workers: int = 0) -> None:
        self.setup = setup
        self.workers = workers or default_workers()
        self._local: WorkerState | None = WorkerState(setup, 0) if self.workers == 1 else None
        self._procs: list[_Process] = [] if self._local else [_Process(setup, i) for i in range(self.workers)]
        self._crashes = 0
        # how much of the run's blacklist and seen set (of which epoch) each worker has been sent
        self._sent = [(0, 0, 0)] * self.workers

    def run(self, tasks: list[Task], ctx: Context) -> list[Offspring]:
        return self.collect(self.submit(tasks, ctx))

    def submit(self, tasks: list[Task], ctx: Context) -> "Pending":
        """Start evaluating `tasks`; the caller may work meanwhile and `collect` later."""
        if not tasks:
            return Pending(tasks, ctx, [])
        if self._local is not None:
            return Pending(tasks, self._for_worker(0, ctx), [])
        plan = self._assign([t.home for t in tasks])
        for w, idx in enumerate(plan):
            if idx:
                self._procs[w].send([tasks[i] for i in idx], self._for_worker(w, ctx))
        return Pending(tasks, ctx, plan)

    def _for_worker(self, w: int, ctx: Context) -> Context:
        """The context with only the blacklist and seen entries worker `w` has not been sent yet."""
        bad, seen = ctx.blacklist_delta, ctx.seen_delta
        nb, ns, epoch = self._sent[w]
        if epoch != ctx.seen_epoch:
            ns = 0
        self._sent[w] = (len(bad), len(seen), ctx.seen_epoch)
        return replace(ctx, blacklist_delta=tuple(bad[nb:]), seen_delta=tuple(seen[ns:]))

    def collect(self, pending: "Pending") -> list[Offspring]:
        tasks, ctx = pending.tasks, pending.ctx
        if not tasks:
            return []
        if self._local is not None:
            return self._local.run_chunk(tasks, ctx)
        out: list[Offspring | None] = [None] * len(tasks)
        timeout = self._timeout(ctx)
        for w, idx in enumerate(pending.plan):
            if not idx:
                continue
            got = self._procs[w].receive(timeout * len(idx))
            if got is None or len(got) != len(idx):
                self._replace(w)
                got = [self._isolated(w, tasks[i], ctx, timeout) for i in idx]
            for i, off in zip(idx, got):
                out[i] = off
        return out  # type: ignore[return-value]

    def _assign(self, homes: list[int | None]) -> list[list[int]]:
        """Task indices per worker: home first, within a fair share; the rest to the least loaded."""
        plan: list[list[int]] = [[] for _ in range(self.workers)]
        share = -(-len(homes) // self.workers)
        loose = []
        for i, h in enumerate(homes):
            if h is not None and 0 <= h < self.workers and len(plan[h]) < share:
                plan[h].append(i)
            else:
                loose.append(i)
        for i in loose:
            min(plan, key=len).append(i)
        return plan

    def _timeout(self, ctx: Context) -> float:
        limits = self.setup.limits
        return 30.0 + 2.0 * max(1, len(ctx.oracle.train)) * limits.deadline_s

    def _isolated(self, w: int, task: Task, ctx: Context, timeout: float) -> Offspring:
        proc = self._procs[w]
        proc.send([task], self._for_worker(w, ctx))
        got = proc.receive(timeout)
        if got is not None and len(got) == 1:
            self._crashes = 0
            return got[0]
        self._replace(w)
        self._crashes += 1
        if self._crashes > self.MAX_CONSECUTIVE_CRASHES:
            raise JeetError("evaluation workers keep dying; see the system log (out of memory?)")
        return Offspring(task.operator, tuple(sha256(p) for p in task.parents), None, None,
                         Evaluation(Status.CRASH, message="the evaluation crashed or hung its worker"), True)

    def _replace(self, w: int) -> None:
        self._procs[w].stop(kill=True)
        self._procs[w] = _Process(self.setup, w)
        self._sent[w] = (0, 0, 0)

    def close(self) -> None:
        if self._local is not None:
            self._local.close()
        for p in self._procs:
            p.stop()
        self._procs = []

    def __enter__(self) -> "Evaluator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
