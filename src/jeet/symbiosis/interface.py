"""Whether a caller can be linked to a callee: every import of the caller names an export of the
callee of the same kind and a matching type.

The check runs on jeet's own codec before wasmtime sees the modules, so a mismatch is reported in
one line that names the import and both types. Functions must match exactly (same parameters,
same results); memories, tables and globals follow the WebAssembly import-matching rules (the
export's limits lie within the import's; a global has the same value type and mutability). The
callee must be self-contained (import nothing), and the caller must import at least one function
from it: without one there is nothing to co-evolve.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import wasm as wasmcodec
from ..sandbox import Signature
from ..wasm import FUNC, MEMORY, TABLE, FuncType, GlobalType, MemType, Module, TableType
from ..wasm.module import KIND_NAMES
from ..wasm.types import NAMES
from ..errors import SymbiosisError

Extern = FuncType | TableType | MemType | GlobalType


@dataclass(frozen=True, slots=True)
class ImportDecl:
    """One import of a module: where from, what, and its type."""

    module: str
    name: str
    kind: int  # jeet.wasm FUNC / TABLE / MEMORY / GLOBAL
    type: Extern

    @property
    def label(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(frozen=True, slots=True)
class Interface:
    """What linking needs to know about one module: its imports, its exports (name -> kind, type),
    the name of its first exported memory, and its exported functions as value-type names."""

    imports: tuple[ImportDecl, ...]
    exports: dict[str, tuple[int, Extern]]
    memory_export: str | None
    functions: dict[str, Signature]

    @classmethod
    def of(cls, module: Module | bytes, role: str = "module") -> "Interface":
        """The interface of a module (or its bytes); SymbiosisError naming `role` when they do not decode."""
        if not isinstance(module, Module):
            try:
                module = wasmcodec.decode(bytes(module))
            except wasmcodec.WasmError as exc:
                raise SymbiosisError(f"{role}: malformed module: {exc}") from None
        imports = tuple(ImportDecl(imp.module, imp.name, imp.kind, _import_type(module, imp)) for imp in module.imports)
        exports: dict[str, tuple[int, Extern]] = {}
        memory_export = None
        for exp in module.exports:
            exports[exp.name] = (exp.kind, _export_type(module, exp.kind, exp.index))
            if exp.kind == MEMORY and memory_export is None:
                memory_export = exp.name
        functions = {name: _signature(t) for name, (kind, t) in exports.items() if kind == FUNC}
        return cls(imports, exports, memory_export, functions)


@dataclass(frozen=True, slots=True)
class LinkPlan:
    """How a caller links to a callee: the import module names the callee instance is defined under,
    and the callee's functions the caller imports (its evolvable entry points)."""

    namespaces: tuple[str, ...]
    functions: tuple[str, ...]


def check_link(caller: Interface, callee: Interface) -> LinkPlan:
    """The plan linking `caller` to `callee`, or SymbiosisError saying which import does not match."""
    if callee.imports:
        first = callee.imports[0]
        raise SymbiosisError(f"the callee imports {first.label} ({KIND_NAMES[first.kind]}): "
                             "a callee must be self-contained (import nothing)")
    if not any(imp.kind == FUNC for imp in caller.imports):
        raise SymbiosisError("the caller imports no function: there is nothing for a callee to provide")
    namespaces: list[str] = []
    functions: list[str] = []
    for imp in caller.imports:
        found = callee.exports.get(imp.name)
        if found is None:
            names = ", ".join(sorted(n for n, (k, _) in callee.exports.items() if k == imp.kind)) or "none"
            raise SymbiosisError(f"the caller imports {imp.label} ({KIND_NAMES[imp.kind]}) but the callee exports "
                                 f"no {KIND_NAMES[imp.kind]} {imp.name!r} (its {KIND_NAMES[imp.kind]} exports: {names})")
        kind, etype = found
        if kind != imp.kind:
            raise SymbiosisError(f"the caller imports {imp.label} as a {KIND_NAMES[imp.kind]}, "
                                 f"the callee exports {imp.name!r} as a {KIND_NAMES[kind]}")
        problem = _mismatch(imp.type, etype)
        if problem:
            raise SymbiosisError(f"the caller imports {imp.label} as {_describe(imp.type)}, the callee exports "
                                 f"{imp.name!r} as {_describe(etype)}: {problem}")
        if imp.module not in namespaces:
            namespaces.append(imp.module)
        if kind == FUNC and imp.name not in functions:
            functions.append(imp.name)
    return LinkPlan(tuple(namespaces), tuple(functions))


def _import_type(module: Module, imp: wasmcodec.Import) -> Extern:
    if imp.kind == FUNC:
        if not 0 <= imp.desc < len(module.types):  # type: ignore[operator]
            raise SymbiosisError(f"import {imp.module}.{imp.name} names an unknown type {imp.desc}")
        return module.types[imp.desc]  # type: ignore[index]
    return imp.desc  # type: ignore[return-value]


def _export_type(module: Module, kind: int, index: int) -> Extern:
    try:
        if kind == FUNC:
            return module.func_type(index)
        if kind == TABLE:
            return module.table_types[index]
        if kind == MEMORY:
            return module.memory_types[index]
        return module.global_types[index]
    except IndexError:
        raise SymbiosisError(f"an export names an unknown {KIND_NAMES.get(kind, 'item')} {index}") from None


def _signature(t: Extern) -> Signature:
    assert isinstance(t, FuncType)
    return Signature(tuple(NAMES.get(v, hex(v)) for v in t.params), tuple(NAMES.get(v, hex(v)) for v in t.results))


def _within(inner: wasmcodec.Limits, outer: wasmcodec.Limits) -> bool:
    """The export's limits `inner` match the import's `outer`: at least its minimum, at most its maximum."""
    if inner.min < outer.min:
        return False
    if outer.max is None:
        return True
    return inner.max is not None and inner.max <= outer.max


def _mismatch(want: Extern, have: Extern) -> str:
    if isinstance(want, FuncType):
        return "" if want == have else "the function types differ"
    if isinstance(want, MemType):
        return "" if _within(have.limits, want.limits) else "the memory limits do not match"  # type: ignore[union-attr]
    if isinstance(want, TableType):
        assert isinstance(have, TableType)
        if want.elem != have.elem:
            return "the element types differ"
        return "" if _within(have.limits, want.limits) else "the table limits do not match"
    assert isinstance(want, GlobalType) and isinstance(have, GlobalType)
    return "" if want == have else "the global types differ"


def _describe(t: Extern) -> str:
    if isinstance(t, FuncType):
        return str(t)
    if isinstance(t, MemType):
        return f"memory {_limits(t.limits)}"
    if isinstance(t, TableType):
        return f"table {NAMES.get(t.elem, hex(t.elem))} {_limits(t.limits)}"
    return f"global {'mut ' if t.mutable else ''}{NAMES.get(t.type, hex(t.type))}"


def _limits(lim: wasmcodec.Limits) -> str:
    return f"{lim.min}" if lim.max is None else f"{lim.min}..{lim.max}"
