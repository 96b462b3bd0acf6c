"""Several offspring, one compile: each candidate in a merged module runs exactly as it would alone."""

from __future__ import annotations

import random
from dataclasses import replace

import wasmtime

from jeet.evolve import EvolveConfig, Evolution, load_problem
from jeet.evolve.batch import EXPORT, merge, shape_key
from jeet.evolve.evaluation import Status
from jeet.evolve.pool import Evaluator
from jeet.evolve.worker import Context, Task, WorkerSetup, WorkerState, _Child, evaluate_candidate, sha256
from jeet.genetics import Genome, operator_set
from jeet.oracle import Case, Oracle
from jeet.sandbox import Limits, Sandbox
from jeet.wasm.decode import decode
from jeet.wasm.ir import Instr

HELPER = """(module (memory (export "memory") 1) (global $g (mut i32) (i32.const 0))
  (func $twice (param i32) (result i32) local.get 0 i32.const {k} i32.mul)
  (func (export "f") (param i32) (result i32)
    global.get $g i32.const 1 i32.add global.set $g
    local.get 0 call $twice i32.const 3 i32.add))"""


def wat(text: str) -> bytes:
    return bytes(wasmtime.wat2wasm(text))


def genome(text: str) -> Genome:
    return Genome.from_bytes(wat(text), "f")


def test_each_candidate_calls_its_own_functions_in_the_merged_module():
    a, b = decode(wat(HELPER.format(k=2))), decode(wat(HELPER.format(k=5)))
    assert shape_key(a, "f") == shape_key(b, "f") is not None
    merged = merge([a, b], "f")
    assert merged is not None and merged.exports == (EXPORT.format(0), EXPORT.format(1))
    m = decode(merged.wasm)
    assert len(m.bodies) == 4 and m.bodies[3].instrs[-4] == Instr.named("call", 2)  # b's f calls b's helper
    with Sandbox() as sb:
        assert sb.call(merged.wasm, merged.exports[0], (10,)).results == (23,)
        assert sb.call(merged.wasm, merged.exports[1], (10,)).results == (53,)


def test_what_cannot_share_a_module_is_judged_alone():
    assert shape_key(decode(wat(HELPER.format(k=2))), "f") != shape_key(decode(wat(
        HELPER.format(k=2).replace("(i32.const 0)", "(i32.const 1)"))), "f")  # other globals: other shape
    start = '(module (func $s) (start $s) (func (export "f") (param i32) (result i32) local.get 0))'
    assert shape_key(decode(wat(start)), "f") is None
    table = ('(module (table 1 funcref) (elem (i32.const 0) $g) (func $g (result i32) i32.const 1)'
             ' (func (export "f") (param i32) (result i32) local.get 0))')
    assert shape_key(decode(wat(table)), "f") is None
    # a body that calls past its own functions would call another candidate's in the batch
    m = decode(wat(HELPER.format(k=2)))
    body = m.bodies[1]
    wild = m.replace(bodies=(m.bodies[0], body.with_instrs(
        [Instr.named("call", 2) if i.op == 0x10 else i for i in body.instrs])))
    assert merge([m, wild], "f") is None


def random_offspring(kernel: str, level: str, batch: int, n: int = 96):
    k = __import__("jeet.kernels", fromlist=["get_kernel"]).get_kernel(kernel)
    p = load_problem(k.wasm_path(level) if level != "O0" else None, k.function,
                     k.tests_path() if level != "O0" else None, kernel=kernel, seed=0, train_size=8)
    oracle = replace(p.oracle, held_out=())
    with Sandbox(p.limits) as sb:
        base = evaluate_candidate(sb, p.function, p.wasm, oracle, None).measurement()
    rng = random.Random(3)
    ops = operator_set("all")
    tasks = []
    for _ in range(n):
        op = rng.choice(ops)
        tasks.append(Task(op.name, (p.wasm,) * op.arity, rng.getrandbits(63)))
    state = WorkerState(WorkerSetup(p.function, p.limits, "all", batch=batch))
    try:
        out = [o for i in range(0, n, 32) for o in state.run_chunk(tasks[i:i + 32], Context(oracle, base))]
        return out, state.sandbox.stats.compiled
    finally:
        state.close()


def test_batched_offspring_are_judged_exactly_as_alone():
    for kernel, level in (("popcount", "O2opt"), ("crc8", "O0"), ("count_byte", "O0")):
        alone, compiles_alone = random_offspring(kernel, level, batch=1)
        batched, compiles_batched = random_offspring(kernel, level, batch=16)
        assert batched == alone  # status, fuel, pages, fitness, messages: everything
        assert sum(o.evaluation is not None and o.evaluation.status is Status.OK for o in alone) > 5
        assert compiles_batched * 3 < compiles_alone


def test_an_invalid_member_sends_its_batch_back_to_one_compile_each():
    g = genome(HELPER.format(k=2))
    ok = g.with_bodies({1: g.module.bodies[1].with_instrs(
        [Instr.named("i32.const", 7) if i == Instr.named("i32.const", 3) else i for i in g.module.bodies[1].instrs])})
    bad = g.with_bodies({0: g.module.bodies[0].with_instrs([Instr.named("i32.add"), Instr.named("end")])})
    oracle = Oracle(("i32",), ("i32",), train=(Case((1,), (9,)),), held_out=(), source="tests")
    state = WorkerState(WorkerSetup("f", Limits(), "structural"))
    try:
        children = [_Child("x", (), c.wasm, sha256(c.wasm), c, (), (), True) for c in (ok, bad, g)]
        evals = state._judge(children, Context(oracle, None))
    finally:
        state.close()
    assert evals[sha256(ok.wasm)].correct and evals[sha256(g.wasm)].status is Status.WRONG
    assert evals[sha256(bad.wasm)].status is Status.INVALID


def test_a_seeded_run_is_the_same_with_and_without_batches():
    problem = load_problem(None, kernel="popcount", seed=1, train_size=8)
    cfg = EvolveConfig(population=16, generations=6, budget_s=None, workers=1, use_wasm_opt=False, seed=4,
                       objective="fuel", prove=False)
    runs = []
    for batch in (1, 16):
        setup = WorkerSetup(problem.function, problem.limits, cfg.operators, novelty_retries=cfg.novelty_retries,
                            batch=batch)
        with Evaluator(setup, 1) as evaluator, Evolution(problem, cfg, evaluator=evaluator) as evo:
            evo.run()
            runs.append(([m.sha256 for m in evo.population], evo.champion.sha256, evo.state.evaluations))
    assert runs[0] == runs[1]
