"""Concrete replay of a counterexample on both modules in jeet's sandbox (wasmtime).

A solver's model is only a claim: every `refuted` is run for real first. Each module gets a
probe export that sets the mutable globals from extra arguments, calls the function, and
returns its results followed by every global's final value; memory is written before and read
back after the call by the sandbox itself. The probe only adds a function and exports, so
the function under test runs unchanged.
"""

from __future__ import annotations

from ..oracle.cases import Case
from ..oracle.values import values_equal
from ..sandbox import Limits, Outcome, Sandbox
from ..wasm import FUNC, MEMORY, Body, Export, FuncType, Instr, Module
from ..wasm.types import NAMES
from .counterexample import Side

PROBE = "__jeet_probe"
_PROBE_MEMORY = "__jeet_memory"


def _numeric_globals(m: Module) -> tuple[int, ...]:
    return tuple(i for i, g in enumerate(m.global_types) if NAMES.get(g.type) in ("i32", "i64", "f32", "f64"))


def probe_module(m: Module, func: int, settable: tuple[int, ...]) -> bytes:
    """`m` plus an exported probe: (params, settable globals) -> (results, all numeric globals)."""
    ft = m.func_type(func)
    gtypes = m.global_types
    shown = _numeric_globals(m)
    ptype = FuncType(ft.params + tuple(gtypes[i].type for i in settable),
                     ft.results + tuple(gtypes[i].type for i in shown))
    m, ti = m.add_type(ptype)
    n = len(ft.params)
    code = [x for j, g in enumerate(settable) for x in (Instr.named("local.get", n + j), Instr.named("global.set", g))]
    code += [Instr.named("local.get", i) for i in range(n)]
    code.append(Instr.named("call", func))
    code += [Instr.named("global.get", g) for g in shown]
    code.append(Instr.named("end"))
    exports = m.exports + (Export(PROBE, FUNC, m.num_funcs),)
    if m.memory_types and not any(e.kind == MEMORY for e in m.exports):
        exports += (Export(_PROBE_MEMORY, MEMORY, 0),)
    m = m.replace(funcs=m.funcs + (ti,), bodies=m.bodies + (Body((), tuple(code)),), exports=exports)
    return m.encode()


def run_side(sandbox: Sandbox, m: Module, func: int, args: tuple[int, ...], globals_: tuple[tuple[int, int], ...],
             memory: tuple[tuple[int, bytes], ...], watch: tuple[tuple[int, int], ...]) -> Side | None:
    """One module's behaviour on the inputs; None when the sandbox could not run it to an answer."""
    settable = tuple(i for i, _ in globals_ if m.global_types[i].mutable)
    values = dict(globals_)
    wasm = probe_module(m, func, settable)
    nres = len(m.func_type(func).results)
    case = Case(tuple(args) + tuple(values[i] for i in settable), None, memory, False,
                tuple((off, bytes(n)) for off, n in watch))
    pages = m.memory_types[0].limits.min if m.memory_types else 0
    limits = Limits(memory_bytes=max(1 << 20, (pages + 1) * 65536), deadline_s=10.0, fuel=50_000_000)
    r = sandbox.run(wasm, PROBE, [case], limits=limits, fresh_instance_per_case=True)[0]
    if r.outcome is Outcome.TRAP:
        return Side(True, message=r.message)
    if r.outcome is not Outcome.OK:
        return None
    shown = _numeric_globals(m)
    return Side(False, tuple(r.results[:nres]), tuple(zip(shown, r.results[nres:])), tuple(r.memory))


def differs(a: Side, b: Side, result_types: tuple[str, ...], global_types: dict[int, str]) -> bool:
    """Whether two observed behaviours differ (any NaN matches any NaN)."""
    if a.trapped or b.trapped:
        return a.trapped != b.trapped
    if len(a.results) != len(b.results):
        return True
    if not all(values_equal(t, x, y) for t, x, y in zip(result_types, a.results, b.results)):
        return True
    gb = dict(b.globals)
    for i, v in a.globals:
        if i in gb and not values_equal(global_types.get(i, "i64"), v, gb[i]):
            return True
    return a.memory != b.memory
