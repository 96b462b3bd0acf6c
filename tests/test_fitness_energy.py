"""The energy cost model: instruction classes, loop weighting, consistency with wasmtime's fuel."""

from __future__ import annotations

import math

import pytest
import wasmtime

from jeet.fitness import FitnessError, energy_estimate, mean_cost_per_fuel
from jeet.fitness.energy import CLASS_COSTS, DEFAULT_COST, FUEL_FREE, LOOP_WEIGHT, instruction_cost, loop_weights
from jeet.wasm.decode import decode
from jeet.wasm.ir import Body, Instr
from jeet.wasm.opcodes import CLASSES, OPCODES


def bodies(wat_funcs: str):
    """Decode a module made of the given function definitions and return its bodies."""
    return decode(wasmtime.wat2wasm(f"(module (memory 1) {wat_funcs})")).bodies


LOOP_OF = """
(func (param i32) (result i32) (local i32)
  (loop
    local.get 0
    i32.const 3
    i32.{op}
    local.set 0
    local.get 1
    i32.const 1
    i32.add
    local.tee 1
    i32.const 100
    i32.lt_u
    br_if 0)
  local.get 0)
"""


def test_every_instruction_class_has_a_cost():
    assert set(CLASS_COSTS) == set(CLASSES)
    assert all(cost >= 0 for cost in CLASS_COSTS.values())
    assert CLASS_COSTS["int_arith"] == 1.0  # the unit


def test_cost_ordering_states_the_model():
    c = CLASS_COSTS
    assert c["local"] < c["int_arith"] < c["int_mul"] < c["int_div"]
    assert c["int_arith"] < c["float_arith"] < c["float_div_sqrt"]
    assert c["local"] < c["global"] < c["load"] < c["store"]
    assert instruction_cost(0x6A) == 1.0  # i32.add
    assert instruction_cost(0x6D) == c["int_div"]  # i32.div_s
    assert instruction_cost(0x03) == 0.0 and instruction_cost(0x0B) == 0.0  # loop, end: no machine code
    assert instruction_cost(0xFFFF) == DEFAULT_COST


def test_a_division_in_a_loop_costs_more_than_an_add_in_the_same_loop():
    (div,) = bodies(LOOP_OF.format(op="div_u"))
    (add,) = bodies(LOOP_OF.format(op="add"))
    fuel = 1000
    assert energy_estimate([div], fuel) > energy_estimate([add], fuel)
    # the only difference is one instruction weighted by the loop: the gap per fuel is known exactly
    w = LOOP_WEIGHT
    charged = 11 * w + 1  # 11 charged instructions in the loop, then local.get; loop and the ends are fuel-free
    gap = w * (CLASS_COSTS["int_div"] - CLASS_COSTS["int_arith"]) / charged
    assert mean_cost_per_fuel([div]) - mean_cost_per_fuel([add]) == pytest.approx(gap)


def test_the_same_division_weighs_more_inside_a_loop_than_outside():
    inside = bodies("""
      (func (param i32) (result i32)
        (loop local.get 0 i32.const 7 i32.div_s local.set 0 local.get 0 br_if 0)
        local.get 0 i32.const 1 i32.add)""")
    outside = bodies("""
      (func (param i32) (result i32)
        (loop local.get 0 i32.const 1 i32.add local.set 0 local.get 0 br_if 0)
        local.get 0 i32.const 7 i32.div_s)""")
    assert energy_estimate(inside, 500) > energy_estimate(outside, 500)


def test_loop_depth_weights():
    (body,) = bodies("""
      (func
        nop
        (loop
          nop
          (block (loop nop))
          (if (i32.const 0) (then nop) (else nop))
          nop)
        nop)""")
    names = [i.name for i in body.instrs]
    depths = [round(math.log(w, LOOP_WEIGHT)) for w in loop_weights(body.instrs)]
    got = list(zip(names, depths))
    assert got == [
        ("nop", 0), ("loop", 0), ("nop", 1), ("block", 1), ("loop", 1), ("nop", 2), ("end", 1), ("end", 1),
        ("i32.const", 1), ("if", 1), ("nop", 1), ("else", 1), ("nop", 1), ("end", 1), ("nop", 1), ("end", 0),
        ("nop", 0), ("end", 0),
    ]


def test_straight_line_code_is_estimated_exactly():
    (body,) = bodies("""
      (func (param i32 f64) (result f64)
        local.get 1 local.get 1 f64.mul f64.sqrt
        local.get 0 f64.convert_i32_s f64.add
        i32.const 0 f64.load f64.div
        i32.const 8 local.get 1 f64.store)""")
    charged = sum(1 for i in body.instrs if i.op not in FUEL_FREE)
    exact = sum(instruction_cost(i.op) for i in body.instrs)
    assert energy_estimate([body], charged) == pytest.approx(exact)
    assert energy_estimate([body], 3 * charged) == pytest.approx(3 * exact)


def test_several_bodies_pool_their_mix():
    (a,) = bodies("(func (result i32) i32.const 1 i32.const 2 i32.add)")
    (b,) = bodies("(func (result i32) i32.const 1 i32.const 2 i32.div_u)")
    pooled = mean_cost_per_fuel([a, b])
    assert mean_cost_per_fuel([a]) < pooled < mean_cost_per_fuel([b])


def test_degenerate_inputs():
    assert energy_estimate([], 100) == 100 * DEFAULT_COST  # nothing to go on: a plain ALU op per fuel
    opaque = Body(locals=(), instrs=None, raw=b"\x00\x0b")
    assert energy_estimate([opaque], 10) == 10 * DEFAULT_COST
    only_free = Body(locals=(), instrs=(Instr(0x01), Instr(0x0B)))  # nop end: nothing is charged fuel
    assert energy_estimate([only_free], 0) == 0.0
    assert energy_estimate([only_free], 10) == 0.0  # nop and end cost nothing in the model
    with pytest.raises(FitnessError):
        energy_estimate([only_free], -1)


def fuel_of(body: str) -> int:
    cfg = wasmtime.Config()
    cfg.consume_fuel = True
    engine = wasmtime.Engine(cfg)
    store = wasmtime.Store(engine)
    store.set_fuel(1_000_000)
    module = wasmtime.Module(engine, f'(module (func (export "f") {body}))')
    instance = wasmtime.Instance(store, module, [])
    before = store.get_fuel()
    instance.exports(store)["f"](store)
    return before - store.get_fuel()


@pytest.mark.parametrize("snippet", [
    "nop", "block end", "loop end", "i32.const 0 drop", "i32.const 1 if else end", "i32.const 0 if else end",
    "i32.const 1 i32.const 2 i32.add drop", "block br 0 end", "f32.const 1 f32.sqrt drop",
])
def test_fuel_free_set_matches_wasmtime(snippet):
    """The model divides by the fuel-charged weight, so its notion of what fuel counts must be wasmtime's."""
    instrs = decode(wasmtime.wat2wasm(f"(module (func {snippet}))")).bodies[0].instrs[:-1]
    # every instruction of the snippet runs (an untaken else is fuel-free either way)
    charged = sum(1 for i in instrs if i.op not in FUEL_FREE)
    assert fuel_of(" ".join([snippet] * 3)) - fuel_of("") == 3 * charged


def test_return_is_fuel_free_too():
    assert 0x0F in FUEL_FREE and fuel_of("return") == fuel_of("")


def test_opcode_table_covers_the_classes_it_prices():
    assert {info.cls for info in OPCODES.values()} <= set(CLASS_COSTS)
