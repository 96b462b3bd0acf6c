"""Predicted native time in the fitness: the static mix scaled to exact fuel, priced per instruction class;
execution_speed and the Pareto objective use it under the time objective, fuel stays a reported figure."""

from __future__ import annotations

from dataclasses import replace

import pytest
import wasmtime

from jeet.evolve.evaluation import Evaluation, Status
from jeet.evolve.population import Member, rank_pareto
from jeet.evolve.worker import evaluate_candidate
from jeet.fitness import Measurement, measure_metrics, predicted_ns, static_mix
from jeet.fitness.native import combined_mix
from jeet.oracle import Case, Oracle
from jeet.sandbox import Sandbox
from jeet.timing import FEATURES, CostModel, count_classes
from jeet.wasm.decode import decode

PRIOR = dict(zip(FEATURES, CostModel.prior().costs))


def module(body: str) -> bytes:
    return bytes(wasmtime.wat2wasm(f'(module (func (export "f") (param i32) (result i32) {body}))'))


def oracle(f, args=(0, 1, 7, 1000, 65535)) -> Oracle:
    return Oracle(("i32",), ("i32",), train=tuple(Case((x,), (f(x) & 0xFFFFFFFF,)) for x in args), held_out=(),
                  source="tests")


DIV = module("local.get 0 i32.const 4 i32.div_u")
SHR = module("local.get 0 i32.const 2 i32.shr_u")
LOOP = module("(local i32) (loop local.get 1 i32.const 1 i32.add local.tee 1 i32.const 8 i32.lt_u br_if 0)"
              " local.get 0 local.get 1 i32.add")


def predicted(wasm: bytes, fuel_per_call: float) -> float:
    return predicted_ns(combined_mix(decode(wasm).bodies), fuel_per_call, PRIOR)


@pytest.mark.parametrize("wasm", [DIV, SHR, module("local.get 0 local.get 0 i32.mul i32.const 1 i32.add")])
def test_for_straight_line_code_the_static_mix_is_the_counted_one(wasm):
    with Sandbox() as sb:
        cases = oracle(lambda x: 0).train
        fuel = sb.run(wasm, "f", cases)[0].fuel
        counted = CostModel.prior().predict(count_classes(wasm, "f", cases, sandbox=sb))
    assert predicted(wasm, fuel) == pytest.approx(counted)


def test_a_loop_counts_its_iterations_and_the_body_inside_it():
    mix = dict(static_mix(decode(LOOP).bodies[0]).classes)
    assert mix["loop"] == 8 and mix["int_arith"] == 2 * 8 + 1  # the add and lt_u inside, 8 times; the last add once
    with Sandbox() as sb:  # the loop really runs 8 times: the static guess is the count here
        cases = oracle(lambda x: x + 8).train
        fuel = sb.run(LOOP, "f", cases)[0].fuel
        counted = CostModel.prior().predict(count_classes(LOOP, "f", cases, sandbox=sb))
    assert predicted(LOOP, fuel) == pytest.approx(counted)


def test_at_equal_fuel_a_division_is_predicted_slower_than_a_shift():
    assert predicted(DIV, 3) > predicted(SHR, 3)


def test_execution_speed_compares_native_time_when_both_sides_have_it():
    base = Measurement(fuel=100, peak_pages=0, code_size=40, ns=10.0)
    slower_but_less_fuel = replace(base, fuel=50, ns=20.0)
    assert measure_metrics(slower_but_less_fuel, base).execution_speed == pytest.approx(1 / 3)
    assert measure_metrics(replace(slower_but_less_fuel, ns=None), base).execution_speed == pytest.approx(2 / 3)
    assert slower_but_less_fuel.objectives() == (20.0, 0.0, 40.0)
    assert replace(slower_but_less_fuel, ns=None).objectives() == (50.0, 0.0, 40.0)


def test_with_costs_an_evaluation_carries_predicted_time_and_scores_by_it():
    o = oracle(lambda x: x // 4)
    costs = tuple(PRIOR.items())
    with Sandbox() as sb:
        base = evaluate_candidate(sb, "f", DIV, o, None, costs=costs)
        fast = evaluate_candidate(sb, "f", SHR, o, base.measurement(), costs=costs)
        by_fuel = evaluate_candidate(sb, "f", SHR, o, replace(base.measurement(), ns=None))
    assert base.ns is not None and fast.ns is not None and fast.ns < base.ns
    assert fast.fuel == base.fuel  # fuel is still measured and reported
    assert fast.metrics.execution_speed > 0.5  # faster natively at equal fuel
    assert by_fuel.ns is None and by_fuel.metrics.execution_speed == 0.5  # objective fuel: equal fuel, a tie


def test_pareto_ranks_on_native_time_when_the_evaluations_have_it():
    def member(name: str, fuel: int, ns: float | None) -> Member:
        return Member(name, b"", Evaluation(Status.OK, fuel=fuel, peak_pages=1, size=10, ns=ns))

    # same memory and size: the one that is faster natively dominates, whatever its fuel
    ranked = rank_pareto([member("less fuel", 10, 5.0), member("faster", 20, 2.0)])
    assert ranked[0].sha256 == "faster"
    ranked = rank_pareto([member("less fuel", 10, None), member("faster", 20, None)])
    assert ranked[0].sha256 == "less fuel"
