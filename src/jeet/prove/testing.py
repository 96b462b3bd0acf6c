"""Test hooks: run the semantics on concrete inputs (no solver), to compare it with wasmtime."""

from __future__ import annotations

from dataclasses import dataclass

from ..wasm import Module, decode
from .evaluate import ArrayValue, Evaluator
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


class ConcreteRunner:
    """The symbolic outcome of one exported function, translated once, evaluated on many inputs."""

    def __init__(self, module: bytes | Module, function: str, bound: int = 16, max_depth: int = 8) -> None:
        m = decode(module) if isinstance(module, (bytes, bytearray)) else module
        func = m.export_func(function)
        if func is None:
            raise KeyError(function)
        self.b = Builder()
        self.inputs = make_inputs(self.b, m, func)
        self.outcome = translate(self.b, m, func, self.inputs, bound=bound, max_depth=max_depth)

    def __call__(self, args: tuple[int, ...] = (), memory: bytes | None = None,
                 globals_: dict[int, int] | None = None, read: range | None = None) -> Concrete:
        """`memory`: the whole initial memory (default zeros); `globals_`: mutable/imported globals
        (default 0); `read`: the addresses of final memory to return (default all)."""
        out = self.outcome
        size = out.memory_size
        init = memory if memory is not None else bytes(size)
        scalars = {t.p[0]: v for t, v in zip(self.inputs.args, args)}
        for i, t in self.inputs.globals.items():
            scalars[t.p[0]] = (globals_ or {}).get(i, 0)
        ev = Evaluator(scalars, {"mem0": lambda a: init[a] if a < len(init) else 0})
        final = b""
        if out.memory is not None:
            mem = ev(out.memory)
            if read is not None:
                final = bytes(mem[a] for a in read)  # type: ignore[index]
            else:
                final = _overlay(mem, init, size)  # type: ignore[arg-type]
        return Concrete(bool(ev(out.trapped)), bool(ev(out.exceeded)), ev.ints(out.results), ev.ints(out.globals),
                        final)


def _overlay(mem: ArrayValue, init: bytes, size: int) -> bytes:
    """The whole final memory: the initial bytes under the chain of stores (newest wins)."""
    out = bytearray(init[:size].ljust(size, b"\0"))
    seen: set[int] = set()
    node = mem
    while node.parent is not None:
        if node.addr not in seen and node.addr < size:  # a trapped path's stores may lie outside
            seen.add(node.addr)
            out[node.addr] = node.byte
        node = node.parent
    return bytes(out)


def run_concrete(module: bytes | Module, function: str, args: tuple[int, ...] = (),
                 memory: bytes | None = None, globals_: dict[int, int] | None = None,
                 bound: int = 16) -> Concrete:
    """One evaluation of `ConcreteRunner`."""
    return ConcreteRunner(module, function, bound)(args, memory, globals_)
