"""A cost MODEL of energy, not a measurement: relative energy per executed instruction, by instruction class.

jeet measures only fuel (wasmtime's count of executed instructions), not which
instructions ran. So the dynamic mix is estimated statically: each instruction of the
evolved function bodies is weighted by ``LOOP_WEIGHT ** loop_depth`` (code inside a loop is
assumed to run LOOP_WEIGHT times as often as the code around it), the weighted mean cost
per unit of fuel is taken, and ``energy = fuel * mean cost``. The mean divides by the weight
of the instructions wasmtime charges fuel for, so for straight-line code the estimate is
the exact sum of the modelled costs of what ran. Units are "one plain integer
ALU operation" (i32.add = 1.0). The figures are orders of magnitude in the spirit of
published per-operation energy tables (a multiply costs several adds, a divide tens, a
memory access more than a register move); they rank variants, they do not predict joules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from jeet.wasm.ir import Body, Instr
from jeet.wasm.opcodes import OPCODES

from ..errors import FitnessError

# Relative energy per executed instruction, keyed by jeet.wasm.opcodes.OPCODES[op].cls.
CLASS_COSTS: Mapping[str, float] = MappingProxyType({
    "nop": 0.0,             # compiled to nothing
    "const": 0.5,           # an immediate, usually folded into its consumer
    "local": 0.5,           # a register move (or nothing) once locals are register-allocated
    "parametric": 0.75,     # drop (usually free) and select (a conditional move), priced between
    "int_arith": 1.0,       # the unit: one single-cycle ALU operation
    "bitcount": 1.5,        # clz/ctz/popcnt: one instruction, longer latency on some cores
    "ref": 1.0,             # ref.null/is_null/func: a constant or a compare
    "control": 1.5,         # a branch: predictor and pipeline work beyond an ALU op
    "global": 2.0,          # a load/store through the instance context, not a register
    "int_mul": 3.0,         # the multiplier: about three adds of latency and energy
    "convert": 3.0,         # crosses between the integer and FP units, with range checks for truncation
    "float_arith": 4.0,     # FP add/mul/compare: wider datapath, ~4-cycle latency
    "load": 4.0,            # bounds check plus an L1 access: data movement dwarfs arithmetic
    "store": 5.0,           # as a load, plus dirtying a cache line that must be written back
    "table": 5.0,           # table access with bounds and type checks
    "call": 6.0,            # frame setup, argument moves, saved registers and the return
    "memory": 10.0,         # memory.size/grow/copy/fill: a runtime call or a bulk loop
    "float_div_sqrt": 15.0,  # FP divide/sqrt: long non-pipelined latency
    "int_div": 20.0,        # integer divide/remainder: iterative divider plus trap checks
    "simd": 1.5,            # one 128-bit vector operation: a wider ALU op (SIMD loads/stores count as loads/stores)
})

DEFAULT_COST = 1.0  # an opcode the table does not know is charged like a plain ALU operation
LOOP_WEIGHT = 8.0   # assumed iterations of each loop per entry, for the static mix
MAX_LOOP_DEPTH = 12  # deeper nesting is weighted like this depth (keeps weights finite)

BLOCK, LOOP, IF, ELSE, END = 0x02, 0x03, 0x04, 0x05, 0x0B
# block/loop/end only delimit scopes: no machine code, no energy (their class cost would charge a branch).
STRUCTURAL = frozenset({BLOCK, LOOP, END})
# Instructions wasmtime charges no fuel for; they still count in the energy sum, not in the fuel sum.
FUEL_FREE = frozenset({0x00, 0x01, BLOCK, LOOP, ELSE, END, 0x0F, 0x1A})  # unreachable nop block loop else end return drop


def instruction_cost(op: int, costs: Mapping[str, float] = CLASS_COSTS) -> float:
    """Modelled energy of one execution of opcode `op`."""
    if op in STRUCTURAL:
        return 0.0
    info = OPCODES.get(op)
    if info is None:
        return DEFAULT_COST
    return costs.get(info.cls, DEFAULT_COST)


def loop_weights(instrs: Iterable[Instr]) -> list[float]:
    """``LOOP_WEIGHT ** depth`` per instruction, depth = enclosing `loop`s (a loop's own opener and end are outside it)."""
    stack: list[int] = []
    depth = 0
    weights: list[float] = []
    for ins in instrs:
        op = ins.op
        if op == END:
            if stack and stack.pop() == LOOP:
                depth -= 1
            weights.append(LOOP_WEIGHT ** min(depth, MAX_LOOP_DEPTH))
            continue
        weights.append(LOOP_WEIGHT ** min(depth, MAX_LOOP_DEPTH))
        if op in (BLOCK, LOOP, IF):
            stack.append(op)
            if op == LOOP:
                depth += 1
    return weights


def mean_cost_per_fuel(bodies: Iterable[Body], costs: Mapping[str, float] = CLASS_COSTS) -> float:
    """Estimated energy per unit of fuel: sum(weight * cost) / sum(weight * fuel charged).

    Bodies the IR cannot see into (opaque) are skipped; with nothing to go on the answer
    is `DEFAULT_COST`.
    """
    energy = 0.0
    fuel = 0.0
    everything = 0.0
    cost_of: dict[int, float] = {}
    for body in bodies:
        if body.instrs is None:
            continue
        for ins, w in zip(body.instrs, loop_weights(body.instrs)):
            c = cost_of.get(ins.op)
            if c is None:
                c = cost_of[ins.op] = instruction_cost(ins.op, costs)
            energy += w * c
            everything += w
            if ins.op not in FUEL_FREE:
                fuel += w
    if fuel > 0:
        return energy / fuel
    if everything > 0:  # only fuel-free instructions: fall back to the plain weighted mean
        return energy / everything
    return DEFAULT_COST


def energy_estimate(bodies: Iterable[Body], fuel: int, costs: Mapping[str, float] = CLASS_COSTS) -> float:
    """Modelled energy of a run that consumed `fuel`, given the bodies of the evolved function(s).

    ``energy = fuel * mean_cost_per_fuel(bodies)``. Dividing by the fuel-charged weight
    (not the instruction count) keeps the estimate consistent with wasmtime's fuel rule:
    instructions it does not charge (nop, drop, block, loop, else, end, return,
    unreachable) add their energy without diluting the mean.
    """
    if fuel < 0:
        raise FitnessError(f"fuel must be >= 0, got {fuel}")
    return float(fuel) * mean_cost_per_fuel(bodies, costs)
