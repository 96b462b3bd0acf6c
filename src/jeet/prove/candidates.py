"""Inputs worth trying before the solver: the constants the code compares its inputs with.

A variant wrong on one input usually says so in its code (`x == 0x13371337`, a byte compared
with 0xA5 at a fixed address); a solver can take long to find such a point behind unrolled
loops and wide divisions, while evaluating the formula on it takes milliseconds. Harvested
values are only candidates: a difference found this way is replayed like any other.
"""

from __future__ import annotations

import itertools

from .evaluate import Evaluator
from .terms import Term


def harvest(roots: list[Term], scalar_names: set[str],
            array: str | None) -> tuple[dict[str, list[int]], dict[int, list[int]]]:
    """Values compared for equality with each input variable, and with each byte of initial memory
    read at a constant address."""
    scalars: dict[str, list[int]] = {}
    memory: dict[int, list[int]] = {}
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.extend(t.args)
        if t.op != "eq":
            continue
        a, c = t.args
        if a.op == "const":
            a, c = c, a
        if c.op != "const":
            continue
        value = c.p[0]
        while a.op in ("zext", "sext") or (a.op == "extract" and a.p[1] == 0):
            a = a.args[0]
            value &= (1 << a.w) - 1
        if a.op == "var" and a.p[0] in scalar_names:
            _add(scalars.setdefault(a.p[0], []), value)
        elif a.op == "select" and a.args[0].op == "avar" and a.args[0].p[0] == array and a.args[1].op == "const":
            _add(memory.setdefault(a.args[1].p[0], []), value & 0xFF)
    return scalars, memory


def _add(values: list[int], v: int) -> None:
    if v not in values and len(values) < 8:
        values.append(v)


class ConcreteModel:
    """A model made of concrete values, with the solver model's `value` interface."""

    def __init__(self, scalars: dict[str, int], memory: dict[int, int], array: str | None) -> None:
        self.name = "candidates"
        self.seconds = 0.0
        self._eval = Evaluator(scalars, {array: lambda a: memory.get(a, 0)} if array else {})

    def value(self, term: Term) -> int:
        return int(self._eval(term))  # type: ignore[arg-type]


def search(condition: Term, roots: list[Term], variables: list[Term], defaults: dict[str, int],
           array: str | None, limit: int = 48) -> ConcreteModel | None:
    """A model of `condition` among the harvested candidates (each variable at one of its values,
    the others at their defaults), or None."""
    names = {v.p[0] for v in variables}
    scalars, memory = harvest(roots, names, array)
    if not scalars and not memory:
        return None
    base = {v.p[0]: defaults.get(v.p[0], 0) for v in variables}
    first = dict(base, **{name: vals[0] for name, vals in scalars.items()})
    mem_first = {addr: vals[0] for addr, vals in memory.items()}
    tries = [(first, mem_first), (base, mem_first), (first, {})]
    for name, vals in scalars.items():
        for v in vals[1:]:
            tries.append((dict(first, **{name: v}), mem_first))
    for (assign, mem) in itertools.islice(tries, limit):
        model = ConcreteModel(dict(assign, witness=0), mem, array)
        if model.value(condition):
            return model
    return None
