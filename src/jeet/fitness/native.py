"""Predicted native time from a run's exact fuel and the code's static instruction mix.

Fuel prices a `local.get` like an `i32.div_u`; native time does not. Counting which classes of
instruction ran (`jeet.timing.counts`) needs an instrumented copy of the module compiled and run
again, which roughly doubles an evaluation. This estimate costs one pass over the bodies (cached per
body, so a child re-reads only what its operator changed): the loop-weighted static mix of instruction
classes (as `jeet.fitness.energy` weighs its energy table), scaled so that the fuel-charged part of the
mix equals the fuel the run really used, and priced in ns per execution of each class by the
per-machine costs `jeet.timing.costs` fits to measured native times. A variant that trades an
`i32.div_u` for shifts, or keeps a value in a local instead of a global, is told apart from one with
the same fuel; two variants with the same mix rank by their exact fuel.

Classes are those of `jeet.timing.counts.FEATURES`: opcode classes with control split into loop
iterations ("loop") and branches, plus "entry" (the call itself, once per call).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from jeet.wasm.ir import Body

from ..wasm.classes import op_class
from .energy import FUEL_FREE, LOOP_WEIGHT, MAX_LOOP_DEPTH

_BLOCK, _LOOP, _IF, _END = 0x02, 0x03, 0x04, 0x0B


@dataclass(frozen=True, slots=True)
class StaticMix:
    """Loop-weighted executions per class of one or more bodies, and the weight wasmtime charges fuel for.

    A `loop` counts as the iterations of its body (LOOP_WEIGHT per entry, like every instruction inside).
    wasmtime also charges one unit of fuel per function invocation, counted once per body."""

    classes: tuple[tuple[str, float], ...]
    fuel_weight: float

    def __add__(self, other: "StaticMix") -> "StaticMix":
        merged = dict(self.classes)
        for name, w in other.classes:
            merged[name] = merged.get(name, 0.0) + w
        return StaticMix(tuple(sorted(merged.items())), self.fuel_weight + other.fuel_weight)


EMPTY_MIX = StaticMix((), 0.0)


def static_mix(body: Body) -> StaticMix:
    """The mix of one body (an opaque body, whose instructions the IR does not model, adds nothing)."""
    if body.instrs is None:
        return EMPTY_MIX
    hist: dict[str, float] = {}
    fuel = 1.0  # the invocation itself
    stack: list[int] = []
    depth = 0
    weight = 1.0
    for ins in body.instrs:
        op = ins.op
        if op == _END:
            if stack and stack.pop() == _LOOP:
                depth -= 1
                weight = LOOP_WEIGHT ** min(depth, MAX_LOOP_DEPTH)
            continue
        if op == _LOOP:
            stack.append(op)
            depth += 1
            weight = LOOP_WEIGHT ** min(depth, MAX_LOOP_DEPTH)
            hist["loop"] = hist.get("loop", 0.0) + weight  # one per iteration of its body
            continue
        if op == _BLOCK or op == _IF:
            stack.append(op)
        cls = op_class(op)
        if cls is not None:
            hist[cls] = hist.get(cls, 0.0) + weight
        if op not in FUEL_FREE:
            fuel += weight
    return StaticMix(tuple(sorted(hist.items())), fuel)


def combined_mix(bodies: Iterable[Body]) -> StaticMix:
    total = EMPTY_MIX
    for body in bodies:
        total = total + static_mix(body)
    return total


def predicted_ns(mix: StaticMix, fuel_per_call: float, costs: Mapping[str, float]) -> float:
    """Predicted native ns per call: the entry cost plus the mix, scaled to `fuel_per_call`, priced by `costs`
    (ns per execution of each class; a class without a price costs nothing)."""
    total = float(costs.get("entry", 0.0))
    if mix.fuel_weight <= 0 or fuel_per_call <= 0:
        return total
    scale = fuel_per_call / mix.fuel_weight
    return total + scale * sum(costs.get(name, 0.0) * w for name, w in mix.classes)


def cost_table(names: Sequence[str], costs: Sequence[float]) -> dict[str, float]:
    """A cost model's (names, ns per execution) as the mapping `predicted_ns` takes."""
    if len(names) != len(costs):
        raise ValueError(f"{len(names)} class names but {len(costs)} costs")
    return {n: float(c) for n, c in zip(names, costs)}
