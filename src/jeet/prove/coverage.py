"""What the semantics covers: a scan of a function's call tree before any solver time.

`uncovered(module, func)` names the first thing the symbolic semantics cannot state exactly
(float arithmetic, float or lane-wise SIMD memory access, memory.grow, call_indirect, a called host
import, ...); integer SIMD is covered (`jeet.prove.vector`); recursion is
bounded like a loop (calls nest at most `max_depth` deep);
`loop_free(module, func)` says whether the call tree has loops (then a proof covers every
input; otherwise it is bounded by the unrolling depth).
"""

from __future__ import annotations

from ..wasm import Module, decode
from ..wasm.types import F32, F64, I32, I64, V128
from .memory import LOADS, STORES
from .numeric import NUMERIC
from .vector import VECTOR, VECTOR_LOADS

# Float values can be moved and stored exactly as bit patterns; arithmetic on them cannot
# be compared exactly (NaN results are nondeterministic), so it is tested, not proved.
FLOAT_MOVES = {
    "f32.const", "f64.const", "f32.load", "f64.load", "f32.store", "f64.store",
    "i32.reinterpret_f32", "i64.reinterpret_f64", "f32.reinterpret_i32", "f64.reinterpret_i64",
}
CONTROL = {
    "unreachable", "nop", "block", "loop", "if", "else", "end", "br", "br_if", "br_table", "return",
    "call", "drop", "select", "select_t", "local.get", "local.set", "local.tee", "global.get",
    "global.set", "i32.const", "i64.const", "memory.size",
}
COVERED = CONTROL | FLOAT_MOVES | set(NUMERIC) | set(LOADS) | set(STORES) | set(VECTOR) | set(VECTOR_LOADS)
VALUE_TYPES = (I32, I64, F32, F64, V128)


def call_tree(m: Module, func: int) -> list[int]:
    """`func` and every function it calls directly, in discovery order."""
    seen = [func]
    todo = [func]
    while todo:
        f = todo.pop()
        if f < m.num_imported_funcs:
            continue
        body = m.bodies[f - m.num_imported_funcs]
        for ins in body.instrs or ():
            if ins.op == 0x10 and ins.imm[0] not in seen:
                seen.append(ins.imm[0])
                todo.append(ins.imm[0])
    return seen


def recursive(m: Module, func: int) -> bool:
    """Whether the call tree of `func` has a cycle."""
    graph = {f: {i.imm[0] for i in (m.bodies[f - m.num_imported_funcs].instrs or ()) if i.op == 0x10}
             for f in call_tree(m, func) if f >= m.num_imported_funcs}
    state: dict[int, int] = {}

    def visit(f: int) -> bool:
        state[f] = 1
        for g in graph.get(f, ()):
            if state.get(g) == 1 or (g not in state and visit(g)):
                return True
        state[f] = 2
        return False

    return visit(func)


def uncovered(m: Module, func: int) -> str | None:
    """The reason the semantics cannot state `func` exactly, or None when it can."""
    floats = False
    for f in call_tree(m, func):
        if f < m.num_imported_funcs:
            imp = [i for i in m.imports if i.kind == 0][f]
            return f"calls host import {imp.module}.{imp.name}"
        body = m.bodies[f - m.num_imported_funcs]
        if body.instrs is None:
            return f"function {f} uses instructions jeet's IR does not model"
        ft = m.func_type(f)
        if f == func and V128 in ft.params + ft.results:
            return "the function takes or returns a vector (its counterexamples would not replay)"
        for t in ft.params + ft.results + body.local_types():
            if t not in VALUE_TYPES:
                return f"function {f} has a reference value"
        for ins in body.instrs:
            name = ins.name
            if name in COVERED:
                continue
            if name.startswith(("f32.", "f64.")) or "_f32" in name or "_f64" in name:
                floats = True
                continue
            return f"{name} is not covered by the semantics"
    return "floats: tested only" if floats else None


def loop_free(module_bytes: bytes | Module, function: str | int) -> bool:
    """Whether the call tree of an exported (or indexed) function has neither loops nor recursion."""
    m = decode(module_bytes) if isinstance(module_bytes, (bytes, bytearray)) else module_bytes
    func = m.export_func(function) if isinstance(function, str) else function
    if func is None:
        raise KeyError(function)
    if recursive(m, func):
        return False
    for f in call_tree(m, func):
        if f >= m.num_imported_funcs:
            body = m.bodies[f - m.num_imported_funcs]
            if body.instrs is None or any(ins.op == 0x03 for ins in body.instrs):
                return False
    return True


def uses_vectors(m: Module, func: int) -> bool:
    """Whether the call tree of `func` runs a SIMD instruction."""
    for f in call_tree(m, func):
        if f >= m.num_imported_funcs:
            body = m.bodies[f - m.num_imported_funcs]
            if body.instrs is not None and any(ins.op >> 8 == 0xFD for ins in body.instrs):
                return True
    return False
