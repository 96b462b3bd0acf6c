"""The module IR: every section as plain immutable values, plus index-space helpers.

A `Module` is immutable: sequence fields are tuples and derived modules (`with_body`,
`with_bodies`, `replace`) share everything they do not change, so a specimen and its
offspring cost one new tuple each. A decoded module remembers its original bytes; `encode`
re-emits every section (and every body and instruction) that was not changed byte for byte,
so decoding and encoding an unmodified module is the identity.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from .encode import encode_module
from .ir import Body
from .sections import (  # noqa: F401 (re-exported: the module IR is the Module and its section values)
    FUNC, GLOBAL, KIND_NAMES, MEMORY, TABLE, ConstExpr, Custom, Data, Element, Export, Global, Import, Origin,
)
from .types import FuncType, GlobalType, MemType, TableType

__all__ = [
    "FUNC", "TABLE", "MEMORY", "GLOBAL", "KIND_NAMES",
    "ConstExpr", "Import", "Export", "Global", "Element", "Data", "Custom", "Module",
]

_BODY_INDEPENDENT_CACHE = ("func_type_indices", "num_imported_funcs", "global_types",
                           "table_types", "memory_types", "analysis_ctx")


@dataclass(frozen=True, slots=True)
class Module:
    """A WebAssembly 2.0 module.

    Index spaces follow the spec: imports come first in the function, table, memory and
    global index spaces; `funcs[i]` and `bodies[i]` describe defined function
    `num_imported_funcs + i`.
    """

    types: tuple[FuncType, ...] = ()
    imports: tuple[Import, ...] = ()
    funcs: tuple[int, ...] = ()
    tables: tuple[TableType, ...] = ()
    memories: tuple[MemType, ...] = ()
    globals: tuple[Global, ...] = ()
    exports: tuple[Export, ...] = ()
    start: int | None = None
    elements: tuple[Element, ...] = ()
    data_count: int | None = None
    bodies: tuple[Body, ...] = ()
    data: tuple[Data, ...] = ()
    customs: tuple[Custom, ...] = ()
    _origin: Origin | None = field(default=None, compare=False, repr=False)
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    # -- encoding and derivation ------------------------------------------------------

    def encode(self) -> bytes:
        """The binary module; unchanged sections, bodies and instructions keep their bytes."""
        out = self._cache.get("encoded")
        if out is None:
            out = self._cache["encoded"] = encode_module(self)
        return out

    def replace(self, **changes: Any) -> "Module":
        """A new module with some fields replaced (tuples expected); the rest is shared."""
        for name in changes:
            if name not in _PUBLIC_FIELDS:
                raise TypeError(f"Module has no field {name!r}")
        new = object.__new__(Module)
        for name in _ALL_FIELDS:
            object.__setattr__(new, name, changes[name] if name in changes else getattr(self, name))
        cache = {}
        if changes.keys() <= {"bodies"}:
            for k in _BODY_INDEPENDENT_CACHE:
                if k in self._cache:
                    cache[k] = self._cache[k]
        object.__setattr__(new, "_cache", cache)
        return new

    def with_body(self, defined_index: int, body: Body) -> "Module":
        """A new module whose defined function `defined_index` has `body`; self is unchanged."""
        bodies = self.bodies
        if not 0 <= defined_index < len(bodies):
            raise IndexError(f"no defined function {defined_index}")
        return self.replace(bodies=bodies[:defined_index] + (body,) + bodies[defined_index + 1 :])

    def with_bodies(self, mapping: Mapping[int, Body]) -> "Module":
        """Like `with_body` for several defined functions at once."""
        bodies = list(self.bodies)
        for i, b in mapping.items():
            if not 0 <= i < len(bodies):
                raise IndexError(f"no defined function {i}")
            bodies[i] = b
        return self.replace(bodies=tuple(bodies))

    def add_type(self, ft: FuncType) -> tuple["Module", int]:
        """The index of `ft` in the type section, appending it (in a new module) if absent."""
        try:
            return self, self.types.index(ft)
        except ValueError:
            return self.replace(types=self.types + (ft,)), len(self.types)

    def __getstate__(self) -> list:
        return [getattr(self, name) for name in _ALL_FIELDS if name != "_cache"]

    def __setstate__(self, state: list) -> None:
        names = [n for n in _ALL_FIELDS if n != "_cache"]
        for name, value in zip(names, state):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_cache", {})

    # -- index spaces --------------------------------------------------------------------

    def _imports_of(self, kind: int) -> list[Import]:
        return [imp for imp in self.imports if imp.kind == kind]

    @property
    def num_imported_funcs(self) -> int:
        n = self._cache.get("num_imported_funcs")
        if n is None:
            n = self._cache["num_imported_funcs"] = sum(1 for imp in self.imports if imp.kind == FUNC)
        return n

    @property
    def num_funcs(self) -> int:
        return self.num_imported_funcs + len(self.funcs)

    @property
    def func_type_indices(self) -> tuple[int, ...]:
        """The type index of every function in the function index space."""
        t = self._cache.get("func_type_indices")
        if t is None:
            t = tuple(imp.desc for imp in self.imports if imp.kind == FUNC) + tuple(self.funcs)
            self._cache["func_type_indices"] = t
        return t  # type: ignore[return-value]

    def func_type(self, func_index: int) -> FuncType:
        """The signature of a function in the full index space (imports first)."""
        tis = self.func_type_indices
        if not 0 <= func_index < len(tis):
            raise IndexError(f"unknown function {func_index}")
        return self.types[tis[func_index]]

    def defined_index(self, func_index: int) -> int:
        """The position in `funcs`/`bodies` of a defined function; IndexError for imports."""
        d = func_index - self.num_imported_funcs
        if not 0 <= d < len(self.funcs):
            raise IndexError(f"function {func_index} is not a defined function")
        return d

    def func_index(self, defined_index: int) -> int:
        """Inverse of `defined_index`."""
        if not 0 <= defined_index < len(self.funcs):
            raise IndexError(f"no defined function {defined_index}")
        return self.num_imported_funcs + defined_index

    @property
    def global_types(self) -> tuple[GlobalType, ...]:
        """The type of every global in the global index space."""
        t = self._cache.get("global_types")
        if t is None:
            t = tuple(imp.desc for imp in self.imports if imp.kind == GLOBAL)
            t = self._cache["global_types"] = t + tuple(g.type for g in self.globals)
        return t  # type: ignore[return-value]

    @property
    def table_types(self) -> tuple[TableType, ...]:
        t = self._cache.get("table_types")
        if t is None:
            t = tuple(imp.desc for imp in self.imports if imp.kind == TABLE) + tuple(self.tables)
            self._cache["table_types"] = t
        return t  # type: ignore[return-value]

    @property
    def memory_types(self) -> tuple[MemType, ...]:
        t = self._cache.get("memory_types")
        if t is None:
            t = tuple(imp.desc for imp in self.imports if imp.kind == MEMORY) + tuple(self.memories)
            self._cache["memory_types"] = t
        return t  # type: ignore[return-value]

    @property
    def num_imported_globals(self) -> int:
        return sum(1 for imp in self.imports if imp.kind == GLOBAL)

    # -- exports ---------------------------------------------------------------------------

    def exported_functions(self) -> dict[str, int]:
        """Export name -> function index, for function exports."""
        return {e.name: e.index for e in self.exports if e.kind == FUNC}

    def export_func(self, name: str) -> int | None:
        """The function index exported as `name`, or None."""
        for e in self.exports:
            if e.kind == FUNC and e.name == name:
                return e.index
        return None

    # -- calls -------------------------------------------------------------------------------

    def table_funcs(self) -> frozenset[int]:
        """Functions that may sit in a table: those of every element segment, plus any
        `ref.func` target in a body or global initializer (table.set can store it)."""
        t = self._cache.get("table_funcs")
        if t is None:
            s: set[int] = set()
            for el in self.elements:
                s.update(el.func_indices())
            for g in self.globals:
                s.update(g.init.func_refs())
            for body in self.bodies:
                if body.instrs is not None:
                    s.update(i.imm[0] for i in body.instrs if i.op == 0xD2)
            t = self._cache["table_funcs"] = frozenset(s)
        return t

    def call_graph(self) -> dict[int, frozenset[int]]:
        """Function index -> functions it may call directly or through `call_indirect`.

        Imported functions call nothing (as far as the module can tell); an opaque body may
        call anything, so it is linked to every function.
        """
        g = self._cache.get("call_graph")
        if g is None:
            g = {}
            nimp = self.num_imported_funcs
            everything = frozenset(range(self.num_funcs))
            for f in range(nimp):
                g[f] = frozenset()
            indirect: frozenset[int] | None = None
            for d, body in enumerate(self.bodies):
                if body.instrs is None:
                    g[nimp + d] = everything
                    continue
                callees: set[int] = set()
                for ins in body.instrs:
                    if ins.op == 0x10:
                        callees.add(ins.imm[0])
                    elif ins.op == 0x11:
                        if indirect is None:
                            indirect = self.table_funcs()
                        callees |= indirect
                g[nimp + d] = frozenset(callees)
            self._cache["call_graph"] = g
        return g

    def reachable_functions(self, func_index: int) -> set[int]:
        """`func_index` and every function it may transitively call."""
        graph = self.call_graph()
        seen = {func_index}
        todo = [func_index]
        while todo:
            for callee in graph.get(todo.pop(), ()):
                if callee not in seen:
                    seen.add(callee)
                    todo.append(callee)
        return seen


_ALL_FIELDS = tuple(f.name for f in fields(Module))
_PUBLIC_FIELDS = frozenset(n for n in _ALL_FIELDS if not n.startswith("_"))

