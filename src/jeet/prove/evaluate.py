"""Concrete evaluation of terms: the same meaning the solver gets, on plain ints.

Used to read a counterexample out of a solver model (every byte of initial memory the
evaluation touches is recorded, so the case writes exactly those), and by the tests to run
the semantics against wasmtime without a solver.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping

from .terms import ARRAY, Term, apply, postorder


class ArrayValue:
    """A concrete memory: a base (a function of the address) under a chain of stores."""

    __slots__ = ("base", "parent", "addr", "byte")

    def __init__(self, base: Callable[[int], int] | None, parent: "ArrayValue | None" = None,
                 addr: int = 0, byte: int = 0) -> None:
        self.base = base
        self.parent = parent
        self.addr = addr
        self.byte = byte

    def __getitem__(self, addr: int) -> int:
        node = self
        while node.parent is not None:
            if node.addr == addr:
                return node.byte
            node = node.parent
        return node.base(addr)  # type: ignore[misc]


class Evaluator:
    """Evaluates terms under an environment; `initial_reads` records base-memory bytes read.

    `scalars` maps variable names to ints; `arrays` maps array names to functions from an
    address to its byte (e.g. a model's initial memory, or a bytearray's `__getitem__`).
    """

    def __init__(self, scalars: Mapping[str, int], arrays: Mapping[str, Callable[[int], int]]) -> None:
        self.scalars = scalars
        self.initial_reads: dict[str, dict[int, int]] = {name: {} for name in arrays}
        self._arrays = {name: ArrayValue(self._reader(name, fn)) for name, fn in arrays.items()}
        self._memo: dict[int, object] = {}
        self._keep: list[Term] = []  # keeps memo keys (ids) alive

    def _reader(self, name: str, fn: Callable[[int], int]) -> Callable[[int], int]:
        reads = self.initial_reads[name]

        def read(addr: int) -> int:
            if addr not in reads:
                reads[addr] = fn(addr) & 0xFF
            return reads[addr]

        return read

    def __call__(self, term: Term) -> object:
        """The value of `term`: an int, or an ArrayValue for memory."""
        return postorder(term, self._memo, self._keep, self._one)

    def _one(self, t: Term) -> object:
        memo = self._memo
        op = t.op
        if op == "const":
            return t.p[0]
        if op == "var":
            return self.scalars[t.p[0]]
        if op == "avar":
            return self._arrays[t.p[0]]
        vals = [memo[id(a)] for a in t.args]
        if op == "select":
            return vals[0][vals[1]]  # type: ignore[index]
        if op == "store":
            return ArrayValue(None, vals[0], vals[1], vals[2])  # type: ignore[arg-type]
        if op == "ite" and t.w == ARRAY:
            return vals[1] if vals[0] else vals[2]
        return apply(op, vals, [a.w for a in t.args], t.p, t.w)

    def ints(self, terms: Iterable[Term]) -> tuple[int, ...]:
        return tuple(int(self(t)) for t in terms)  # type: ignore[arg-type]
