"""A search that does not spin: repeats are counted and bred again, a stalled search widens, and a run with
patience stops once nothing improves, saying so."""

from __future__ import annotations

import json
import subprocess
import sys

import wasmtime

from jeet.evolve import EvolveConfig, Evolution, load_problem
from jeet.evolve.algorithm import GeneticAlgorithm
from jeet.evolve.driver import PATIENCE_MIN_GENERATIONS, Progress, describe_stop, stop_reason
from jeet.evolve.evaluation import Evaluation, Status
from jeet.evolve.population import Member
from jeet.evolve.problem import Problem
from jeet.evolve.worker import Context, Offspring, Task, WorkerSetup, WorkerState, seen_key, sha256
from jeet.fitness import Measurement
from jeet.oracle import Case, Oracle
from jeet.sandbox import Limits

IDENTITY = bytes(wasmtime.wat2wasm('(module (func (export "f") (param i32) (result i32) local.get 0))'))
ADD = bytes(wasmtime.wat2wasm('(module (func (export "f") (param i32) (result i32)'
                              ' local.get 0 i32.const 7 i32.add i32.const 3 i32.mul))'))


def cfg(**kw) -> EvolveConfig:
    base = dict(population=16, generations=30, budget_s=None, workers=1, use_wasm_opt=False, seed=4)
    base.update(kw)
    return EvolveConfig(**base)


def test_a_repeat_is_bred_again_with_a_seed_derived_from_the_task():
    oracle = Oracle(("i32",), ("i32",), train=tuple(Case((x,), ((3 * x + 21) & 0xFFFFFFFF,)) for x in (0, 5)),
                    held_out=(), source="tests")
    ctx = Context(oracle, Measurement(fuel=10, peak_pages=0, code_size=len(ADD)))
    task = Task("const_perturb", (ADD,), seed=11)
    setup = WorkerSetup("f", Limits(), "all", novelty_retries=3)
    first = WorkerState(setup).run_task(task, ctx)
    assert first.sha256 not in (None, sha256(ADD))
    told = WorkerState(setup)
    told.run_chunk([], Context(oracle, ctx.baseline, seen_delta=(seen_key(first.sha256),)))
    again = told.run_task(task, ctx)
    assert again.sha256 is not None and again.sha256 != first.sha256  # the repeat was bred again
    assert first.steps == () and first.made_by == "const_perturb"
    assert again.made_by == "+".join(("const_perturb", *again.steps))  # a retry's further mutations are named
    other = WorkerState(setup)  # any worker told the same makes the same child: runs stay reproducible
    other.run_chunk([], Context(oracle, ctx.baseline, seen_delta=(seen_key(first.sha256),)))
    assert other.run_task(task, ctx).sha256 == again.sha256
    plain = WorkerState(WorkerSetup("f", Limits(), "all", novelty_retries=0))
    plain.run_chunk([], Context(oracle, ctx.baseline, seen_delta=(seen_key(first.sha256),)))
    assert plain.run_task(task, ctx).sha256 == first.sha256  # retries off: the repeat stands


def test_a_child_with_further_steps_is_credited_to_all_of_them():
    """A chained (or retried) child is the operator's and its further mutations' together: the ledger
    must not hold a semantics-preserving operator answerable for a random mutation after it."""
    oracle = Oracle(("i32",), ("i32",), train=(Case((1,), (24,)),), held_out=(), source="tests")
    ctx = Context(oracle, Measurement(fuel=10, peak_pages=0, code_size=len(ADD)))
    state = WorkerState(WorkerSetup("f", Limits(), "all"))
    off = state.run_task(Task("const_perturb", (ADD,), seed=11, chain=("const_perturb",)), ctx)
    assert off.steps == ("const_perturb",) and off.made_by == "const_perturb+const_perturb"
    alg = GeneticAlgorithm(cfg(operators="const_perturb", population=4))
    alg.population = [Member(sha256(ADD), ADD, Evaluation(Status.OK, fitness=0.5), (), None, 0)]
    good = Offspring("const_perturb", (sha256(ADD),), IDENTITY, sha256(IDENTITY),
                     Evaluation(Status.OK, fitness=0.9), True, steps=("replace_expr",))
    alg.tell([off, good], 1)
    assert alg.ledger.get("const_perturb").made == 0 and alg.ledger.get("const_perturb+more").made == 2
    assert alg.ledger.get("const_perturb+more").correct == 1 + off.evaluation.correct
    # the line of descent names every step
    assert {m.operator for m in alg.population} == {None, "const_perturb+replace_expr"}


def test_a_task_whose_operator_does_not_apply_falls_back_to_its_alternatives():
    """A crossover of two single-function modules has no function to swap: the slot is not wasted, the next
    operator the task names makes the child, and the one that did not apply counts as a draw without credit."""
    oracle = Oracle(("i32",), ("i32",), train=(Case((1,), (24,)),), held_out=(), source="tests")
    ctx = Context(oracle, Measurement(fuel=10, peak_pages=0, code_size=len(ADD)))
    state = WorkerState(WorkerSetup("f", Limits(), "all"))
    lone = Task("crossover_function", (ADD, IDENTITY), seed=3)
    assert state.run_task(lone, ctx).wasm is None  # no alternatives: not applicable, as before
    task = Task("crossover_function", (ADD, IDENTITY), seed=3, alternatives=("idiom_rotate", "const_perturb"))
    off = state.run_task(task, ctx)
    assert off.wasm is not None and off.operator == "const_perturb"
    assert off.skipped == ("crossover_function", "idiom_rotate")
    assert off.parents == (sha256(ADD),)  # a mutation's one parent, not the crossover's two
    alg = GeneticAlgorithm(cfg(operators="all", population=4, adaptive_operators="matching"))
    alg.population = [Member(sha256(ADD), ADD, Evaluation(Status.OK, fitness=0.5), (), None, 0)]
    credits: list[dict] = []

    class Recorder:
        update = staticmethod(credits.append)

    alg.rates = {"mutation": Recorder(), "crossover": Recorder()}
    alg.tell([off], 1)
    assert credits[0]["crossover_function"] == [1, 0] and credits[0]["idiom_rotate"] == [1, 0]
    assert credits[0]["const_perturb"][0] == 1
    drawn = GeneticAlgorithm(cfg(operators="all", population=4)).mutation_task(alg.population)
    assert drawn.operator not in drawn.alternatives and len(set(drawn.alternatives)) == len(drawn.alternatives)


def test_distinct_candidates_and_repeats_are_counted_and_retries_cut_repeats():
    problem = load_problem(None, kernel="popcount", seed=1, train_size=8)
    figures = {}
    for retries, after in ((0, None), (3, 10)):
        with Evolution(problem, cfg(novelty_retries=retries, diversify_after=after)) as evo:
            evo.run()
            s = evo.state
            assert s.distinct == len(evo.seen) - 1  # every distinct candidate, and only those (and the original)
            figures[retries] = (s.distinct, s.repeats)
    (d0, r0), (d3, r3) = figures[0], figures[3]
    assert r0 > 0 and r3 / (d3 + r3) < r0 / (d0 + r0)  # a smaller share of the work goes to repeats
    assert d3 > d0


def test_a_stalled_search_takes_bigger_steps_and_restarts_from_the_archive():
    problem = load_problem(None, kernel="clamp", seed=2, train_size=8)
    with Evolution(problem, cfg(generations=12)) as evo:
        evo.run()
        algo = evo.algorithm
        assert algo.archive and all(m.evaluation.correct for m in algo.archive)
        calm = algo.ask(idle=0)
        assert all(not t.chain for t in calm)
        wide = algo.ask(idle=25)  # 2 x diversify_after: chains of 2, and a third of the mutants from the archive
        chained = [t for t in wide if t.chain]
        assert chained and all(len(t.chain) == 2 for t in chained)
        archived = {m.wasm for m in algo.archive} - {m.wasm for m in evo.population[:algo.n_keep]}
        assert any(t.parents[0] in archived for t in wide)


def test_patience_needs_both_the_time_and_the_generations():
    c = cfg(patience_s=5.0, generations=None)
    p = Progress(generation=PATIENCE_MIN_GENERATIONS - 1, improved_generation=0, improved_at=100.0)
    assert stop_reason(c, p, started=100.0, now=200.0) is None  # long enough, but too few generations
    p.generation = PATIENCE_MIN_GENERATIONS
    assert stop_reason(c, p, started=100.0, now=104.0) is None  # enough generations, too soon
    assert stop_reason(c, p, started=100.0, now=105.0) == "patience"
    assert describe_stop("patience", c, p, now=105.0) == f"no improvement for 5 s ({PATIENCE_MIN_GENERATIONS} generations)"
    assert describe_stop("stagnation", c, Progress(stagnant=40)) == "no better champion for 40 generations"


def test_a_run_that_cannot_improve_stops_on_patience():
    oracle = Oracle(("i32",), ("i32",), train=tuple(Case((x,), (x,)) for x in (0, 1, 9)),
                    held_out=tuple(Case((x,), (x,)) for x in range(300)), source="tests")
    problem = Problem("identity", IDENTITY, "f", oracle, Limits())
    with Evolution(problem, cfg(generations=400, patience_s=0.01)) as evo:
        reason = evo.run()
        assert reason == "patience"
        assert evo.state.generation - evo.state.improved_generation == PATIENCE_MIN_GENERATIONS


def test_jeet_evolve_says_why_it_stopped_and_how_broad_the_search_was(tmp_path):
    src = tmp_path / "id.wat"
    src.write_text('(module (func (export "f") (param i32) (result i32) local.get 0))')
    base = [sys.executable, "-m", "jeet", "evolve", str(src), "--json", "--data", str(tmp_path / "d"), "--workers", "1",
            "--no-wasm-opt", "--budget", "60"]
    proc = subprocess.run(base + ["--patience", "0.5"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["stop_reason"] == "patience" and doc["stopped"].startswith("no improvement for ")
    assert doc["distinct_candidates"] > 0 and doc["cores"] == 1 and doc["distinct_per_s_per_core"] > 0
    off = subprocess.run(base + ["--patience", "0", "--generations", "60"], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert off.returncode == 0, off.stderr
    assert json.loads(off.stdout)["stopped"] == "reached 60 generations"
    bad = subprocess.run(base + ["--patience", "-1"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "--patience" in bad.stderr


def test_the_seen_set_is_bounded_and_workers_start_afresh_with_it(monkeypatch):
    from jeet.evolve import loop

    monkeypatch.setattr(loop, "SEEN_CAP", 40)
    problem = load_problem(None, kernel="popcount", seed=1, train_size=8)
    with Evolution(problem, cfg(generations=12, workers=2)) as evo:
        evo.run()
        assert evo._seen_epoch > 0 and len(evo.seen) <= 40 and len(evo._seen_keys) == len(evo.seen)
        ctx = evo.evaluator._for_worker(0, evo.context())
        assert ctx.seen_epoch == evo._seen_epoch and len(ctx.seen_delta) <= 40
