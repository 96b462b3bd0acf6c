"""A compiled candidate: the wasmtime module plus what the sandbox needs to call it.

Everything here is read from wasmtime's own view of the module (`Module.imports` and
`Module.exports`), so the sandbox never needs the codec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

NUMERIC = ("i32", "i64", "f32", "f64")
DRIVABLE = NUMERIC + ("v128",)

_KIND_NAMES = {
    ffi.WASM_I32.value: "i32",
    ffi.WASM_I64.value: "i64",
    ffi.WASM_F32.value: "f32",
    ffi.WASM_F64.value: "f64",
    4: "v128",
    ffi.WASM_ANYREF.value: "externref",
    ffi.WASM_FUNCREF.value: "funcref",
}

# Value kinds of wasmtime's own `wasmtime_val_t`, which is what calls pass.
VAL_KINDS = {
    "i32": ffi.WASMTIME_I32.value,
    "i64": ffi.WASMTIME_I64.value,
    "f32": ffi.WASMTIME_F32.value,
    "f64": ffi.WASMTIME_F64.value,
    "v128": ffi.WASMTIME_V128.value,
}


def valtype_name(vt: wasmtime.ValType) -> str:
    """The text-format name of a wasmtime value type ("i32", ..., "v128", "funcref", "externref")."""
    kind = ffi.wasm_valtype_kind(vt.ptr())
    return _KIND_NAMES.get(kind, f"valtype{kind}")


@dataclass(frozen=True, slots=True)
class Signature:
    """A function type as value-type names, e.g. Signature(("i32", "i32"), ("i64",))."""

    params: tuple[str, ...]
    results: tuple[str, ...]

    @property
    def drivable(self) -> bool:
        """True when every parameter and result is a number or a v128 (no references)."""
        return all(t in DRIVABLE for t in self.params + self.results)

    def __str__(self) -> str:
        return f"[{' '.join(self.params)}] -> [{' '.join(self.results)}]"


@dataclass(frozen=True, slots=True)
class ImportSpec:
    """One import and the wasmtime type the sandbox must satisfy it with."""

    module: str
    name: str
    kind: str  # "func" | "memory" | "table" | "global" | "tag"
    type: Any = None

    @property
    def label(self) -> str:
        return f"{self.module}.{self.name}"


class CompiledModule:
    """A validated, compiled module, ready to instantiate in a fresh store per case.

    Exposes `sha256` (hex digest of the wasm bytes), `functions` (exported functions and
    their signatures), `memory_export` (name of the first exported memory, or None),
    `imports` and `compiler` (which wasmtime compiler produced the code). It is bound to
    the `Sandbox` (engine) that compiled it and is not picklable; ship wasm bytes instead.
    """

    __slots__ = ("sha256", "module", "engine", "functions", "memory_export", "imports",
                 "compiler", "compile_s", "owner", "plans", "memory_name", "__weakref__")

    def __init__(self, sha256: str, module: wasmtime.Module, engine: wasmtime.Engine,
                 compiler: str, compile_s: float, owner: int) -> None:
        self.sha256 = sha256
        self.module = module
        self.engine = engine
        self.compiler = compiler
        self.compile_s = compile_s
        self.owner = owner
        self.plans: dict[str, Any] = {}  # per-function call plans, filled by the sandbox
        functions: dict[str, Signature] = {}
        memory_export = None
        for export in module.exports:
            ty = export.type
            if isinstance(ty, wasmtime.FuncType):
                functions[export.name] = Signature(
                    tuple(valtype_name(t) for t in ty.params), tuple(valtype_name(t) for t in ty.results))
            elif isinstance(ty, wasmtime.MemoryType) and memory_export is None:
                memory_export = export.name
        self.functions = functions
        self.memory_export = memory_export
        imports = []
        for imp in module.imports:
            ty = imp.type
            kind = ("func" if isinstance(ty, wasmtime.FuncType) else
                    "memory" if isinstance(ty, wasmtime.MemoryType) else
                    "table" if isinstance(ty, wasmtime.TableType) else
                    "global" if isinstance(ty, wasmtime.GlobalType) else "tag")
            imports.append(ImportSpec(imp.module, imp.name or "", kind, ty))
        self.imports = tuple(imports)
        self.memory_name = memory_export.encode("utf-8") if memory_export is not None else b""

    def signature(self, function: str) -> Signature | None:
        """The exported function's signature, or None when `function` is not an exported function."""
        return self.functions.get(function)

    def __repr__(self) -> str:
        return (f"CompiledModule({self.sha256[:12]}…, {self.compiler}, "
                f"functions={list(self.functions)}, memory={self.memory_export!r})")
