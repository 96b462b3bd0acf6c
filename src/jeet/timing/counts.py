"""How often each class of instruction runs: counters added by jeet's codec, run in jeet's sandbox.

A copy of the module gets one mutable i64 global per instruction class, and at the start of every
basic block of every defined function, increments of those globals by the block's static class
histogram (the increments are stack-neutral, so they fit anywhere). A block starts at a function's
entry and after every `loop`, `if`, `else`, `end`, `br`, `br_if`, `br_table`, `return` and
`unreachable`; within a block every instruction runs once the block is entered (a trap ends the call
anyway), so the counts are exact. The `loop` instruction is counted in the block after it as a
"loop" (an iteration: a back-edge target with Cranelift's epoch check), `block`, `end` and `nop`
are free. An exported wrapper zeroes the counters, calls the function, and returns the counters as
its results, so the sandbox's ordinary `run` yields them case by case under its limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .. import wasm as w
from ..oracle import Case
from ..sandbox import Limits, Sandbox
from ..wasm.classes import op_class
from ..errors import TimingError
from .harness import decode_module, timing_cases

COUNT_EXPORT = "__jeet_counts"

# The classes the predictor prices: jeet.wasm.opcodes classes, with control split into iterations
# ("loop") and branches, and scope markers left out. "entry" is one per call of the function.
COUNTED = ("loop", "branch", "const", "local", "global", "load", "store", "memory", "call", "int_arith",
           "int_mul", "int_div", "float_arith", "float_div_sqrt", "convert", "bitcount", "ref", "table",
           "parametric", "simd")
FEATURES = ("entry",) + COUNTED

_LOOP = 0x03
_BLOCK_ENDERS = frozenset({0x03, 0x04, 0x05, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x00})


class CountError(TimingError):
    """The function's execution cannot be counted (an opaque body, a trap, a module jeet cannot read)."""


@dataclass(frozen=True, slots=True)
class ClassCounts:
    """Mean executions per call of each class in FEATURES ("entry" is 1), over `cases` calls."""

    per_call: tuple[float, ...]
    cases: int

    def as_dict(self) -> dict[str, float]:
        return dict(zip(FEATURES, self.per_call))

    @property
    def vector(self) -> np.ndarray:
        return np.asarray(self.per_call, dtype=float)


def _instrument_body(body: w.Body, globals_of: dict[str, int]) -> w.Body:
    instrs = body.instrs
    assert instrs is not None
    leaders = [0] + [i + 1 for i, ins in enumerate(instrs[:-1]) if ins.op in _BLOCK_ENDERS]
    out: list[w.Instr] = []
    for n, start in enumerate(leaders):
        stop = leaders[n + 1] if n + 1 < len(leaders) else len(instrs)
        hist: dict[str, int] = {}
        for ins in instrs[start:stop]:
            cls = op_class(ins.op)
            if cls is not None and cls != "loop":
                hist[cls] = hist.get(cls, 0) + 1
        if start > 0 and instrs[start - 1].op == _LOOP:
            hist["loop"] = 1
        for cls, k in hist.items():
            g = globals_of[cls]
            out += [w.Instr.named("global.get", g), w.Instr.named("i64.const", k), w.Instr.named("i64.add"),
                    w.Instr.named("global.set", g)]
        out.extend(instrs[start:stop])
    return body.with_instrs(out)


def instrument(wasm: bytes, function: str) -> bytes:
    """`wasm` with class counters in every function and the COUNT_EXPORT wrapper (see module doc)."""
    module = decode_module(wasm)
    index = module.export_func(function)
    if index is None:
        raise CountError(f"no exported function {function!r} to count")
    reachable = module.reachable_functions(index)
    nimp = module.num_imported_funcs
    if any(module.bodies[f - nimp].opaque for f in reachable if f >= nimp):
        raise CountError(f"{function!r} runs code jeet's IR does not model (relaxed SIMD): its execution cannot be counted")
    base = len(module.global_types)
    globals_of = {cls: base + i for i, cls in enumerate(COUNTED)}
    zero = w.ConstExpr((w.Instr.named("i64.const", 0), w.Instr.named("end")))
    new_globals = tuple(w.Global(w.GlobalType(w.I64, True), zero) for _ in COUNTED)
    bodies = tuple(b if b.opaque else _instrument_body(b, globals_of) for b in module.bodies)
    ft = module.func_type(index)
    wrapper: list[w.Instr] = []
    for g in globals_of.values():
        wrapper += [w.Instr.named("i64.const", 0), w.Instr.named("global.set", g)]
    wrapper += [w.Instr.named("local.get", i) for i in range(len(ft.params))]
    wrapper += [w.Instr.named("call", index)] + [w.Instr.named("drop") for _ in ft.results]
    wrapper += [w.Instr.named("global.get", g) for g in globals_of.values()] + [w.Instr.named("end")]
    module, type_index = module.add_type(w.FuncType(ft.params, tuple(w.I64 for _ in COUNTED)))
    module = module.replace(
        globals=module.globals + new_globals,
        funcs=module.funcs + (type_index,),
        bodies=bodies + (w.Body((), tuple(wrapper)),),
        exports=module.exports + (w.Export(COUNT_EXPORT, w.FUNC, module.num_funcs),),
    )
    try:
        return module.encode()
    except w.WasmError as exc:
        raise CountError(f"cannot instrument {function!r}: {exc}") from None


def count_classes(wasm: bytes, function: str, cases: Sequence[Case], *, sandbox: Sandbox | None = None,
                  fuel_factor: int = 8) -> ClassCounts:
    """Mean per-call executions of each class of `function` over `cases` (trap cases skipped).

    Runs in `sandbox` (a fresh default one if None) with `fuel_factor` times its fuel, since the
    counters cost fuel too. CountError when a case does not return normally."""
    cases = timing_cases(cases)
    instrumented = instrument(wasm, function)
    own = sandbox is None
    sb = sandbox if sandbox is not None else Sandbox()
    try:
        base = sb.limits
        limits = Limits(fuel=base.fuel * fuel_factor, memory_bytes=base.memory_bytes,
                        table_elements=base.table_elements, instances=base.instances, tables=base.tables,
                        memories=base.memories, deadline_s=base.deadline_s * fuel_factor,
                        max_wasm_stack=base.max_wasm_stack)
        results = sb.run(instrumented, COUNT_EXPORT, cases, limits=limits)
    finally:
        if own:
            sb.close()
    totals = np.zeros(len(COUNTED))
    for r in results:
        if not r.ok:
            raise CountError(f"counting {function!r} failed on a case: {r.outcome.value} {r.message}".rstrip())
        totals += np.asarray(r.results, dtype=float)
    return ClassCounts((1.0,) + tuple(float(x) for x in totals / len(results)), len(results))
