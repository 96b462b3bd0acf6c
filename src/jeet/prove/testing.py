"""Test hooks: run the semantics on concrete inputs (no solver), to compare it with wasmtime."""

from __future__ import annotations

from dataclasses import dataclass

from ..wasm import Module, decode
from .evaluate import Evaluator
from .semantics import make_inputs, translate
from .terms import Builder


@dataclass(frozen=True)
class Concrete:
    """What the semantics says one call does: trapped, results, globals, final memory bytes."""

    trapped: bool
    exceeded: bool
    results: tuple[int, ...]
    globals: tuple[int, ...]
    memory: bytes


def run_concrete(module: bytes | Module, function: str, args: tuple[int, ...] = (),
                 memory: bytes | None = None, globals_: dict[int, int] | None = None,
                 bound: int = 16) -> Concrete:
    """Evaluate the symbolic outcome of `function` on concrete inputs.

    `memory` is the whole initial memory (default: zeros); `globals_` the values of the
    mutable and imported globals (default: 0).
    """
    m = decode(module) if isinstance(module, (bytes, bytearray)) else module
    func = m.export_func(function)
    assert func is not None, function
    b = Builder()
    inputs = make_inputs(b, m, func)
    out = translate(b, m, func, inputs, bound=bound)
    size = out.memory_size
    init = memory if memory is not None else bytes(size)
    scalars = {t.p[0]: v for t, v in zip(inputs.args, args)}
    for i, t in inputs.globals.items():
        scalars[t.p[0]] = (globals_ or {}).get(i, 0)
    ev = Evaluator(scalars, {"mem0": lambda a: init[a] if a < len(init) else 0})
    final = b""
    if out.memory is not None:
        mem = ev(out.memory)
        final = bytes(mem[a] for a in range(size))  # type: ignore[index]
    return Concrete(bool(ev(out.trapped)), bool(ev(out.exceeded)), ev.ints(out.results), ev.ints(out.globals), final)
