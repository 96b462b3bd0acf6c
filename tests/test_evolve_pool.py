"""Parallel evaluation: results do not depend on the worker, and a dying worker loses nothing."""

from __future__ import annotations

import os
import random
import signal
from dataclasses import replace

from jeet.evolve.evaluation import Status
from jeet.evolve.pool import Evaluator
from jeet.evolve.problem import load_problem
from jeet.evolve.worker import Context, Task, WorkerSetup, evaluate_candidate
from jeet.sandbox import Sandbox


def setup_and_context():
    problem = load_problem(None, kernel="gcd", seed=1, train_size=6)
    oracle = replace(problem.oracle, held_out=())
    with Sandbox() as sb:
        base = evaluate_candidate(sb, problem.function, problem.wasm, oracle, None).measurement()
    return problem, WorkerSetup(problem.function, problem.limits, "structural"), Context(oracle, base)


def tasks_for(problem, n: int, seed: int) -> list[Task]:
    rng = random.Random(seed)
    ops = ["const_perturb", "opcode_swap", "delete_run", "replace_expr", "promote_slot"]
    return [Task(rng.choice(ops), (problem.wasm,), rng.getrandbits(63), home=i % 2) for i in range(n)]


def test_pool_and_inline_agree():
    problem, setup, ctx = setup_and_context()
    tasks = tasks_for(problem, 40, seed=2)
    with Evaluator(setup, workers=1) as one, Evaluator(setup, workers=2) as two:
        a = one.run(tasks, ctx)
        b = two.run(tasks, ctx)
    def outcome(o):
        # a repeat of a bad hash is BLACKLISTED in the worker that saw it first, WRONG/TRAP in another;
        # what selection sees (correct or not, fitness, fuel) is the same either way
        e = o.evaluation
        return o.sha256, e is not None and e.correct, e.fitness if e else None, e.fuel if e and e.correct else None

    assert [outcome(o) for o in a] == [outcome(o) for o in b]
    assert {o.worker for o in b if o.wasm is not None} == {0, 1}


def test_a_killed_worker_is_replaced_and_its_tasks_rerun():
    problem, setup, ctx = setup_and_context()
    tasks = tasks_for(problem, 60, seed=3)
    with Evaluator(setup, workers=2) as pool:
        expected = pool.run(tasks, ctx)
        victim = pool._procs[0].proc
        os.kill(victim.pid, signal.SIGKILL)  # before the chunk: killed mid-chunk, it might reply first
        victim.join(10)
        got = pool.run(tasks_for(problem, 60, seed=3), ctx)
        assert pool._procs[0].proc.pid != victim.pid  # replaced
        assert all(o.evaluation is None or o.evaluation.status is not Status.CRASH for o in got)
        assert [o.sha256 for o in got] == [o.sha256 for o in expected]
        # and the pool keeps working afterwards
        assert len(pool.run(tasks[:10], ctx)) == 10


def test_a_child_past_the_growth_cap_is_not_evaluated():
    """Splicing a body's head onto another's whole body doubles it and can stay correct; past
    `growth_cap(input)` such a child counts as not applicable and costs no evaluation."""
    from jeet.evolve.worker import growth_cap

    problem, setup, ctx = setup_and_context()
    assert growth_cap(100) == 100 + 16384 and growth_cap(10_000) == 80_000
    tasks = [Task("copy_run", (problem.wasm,), seed) for seed in range(40)]  # copy_run only grows the body
    with Evaluator(setup, workers=1) as free:
        grown = [o for o in free.run(tasks, ctx) if o.wasm is not None and len(o.wasm) > len(problem.wasm)]
    assert grown, "copy_run made nothing larger"
    capped = replace(setup, max_child_bytes=len(problem.wasm))
    with Evaluator(capped, workers=1) as tight:
        out = tight.run(tasks, ctx)
    assert all(o.wasm is None or len(o.wasm) <= len(problem.wasm) for o in out)
    assert all(o.evaluation is None for o in out if o.wasm is None)
