"""A compiled candidate: the wasmtime module plus what the sandbox needs to call it.

Import types come from wasmtime's own `Module.imports`; value types of signatures come
from `_scan` (wasmtime's C API aborts the process when asked about v128), so the sandbox
never needs the codec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import wasmtime

from ._scan import ScannedModule

NUMERIC = ("i32", "i64", "f32", "f64")
# v128 values cannot cross wasmtime's C API (it aborts the process), so they are not drivable.
DRIVABLE = NUMERIC


@dataclass(frozen=True, slots=True)
class Signature:
    """A function type as value-type names, e.g. Signature(("i32", "i32"), ("i64",))."""

    params: tuple[str, ...]
    results: tuple[str, ...]

    @property
    def drivable(self) -> bool:
        """True when every parameter and result is i32, i64, f32 or f64."""
        return all(t in DRIVABLE for t in self.params + self.results)

    def __str__(self) -> str:
        return f"[{' '.join(self.params)}] -> [{' '.join(self.results)}]"


@dataclass(frozen=True, slots=True)
class ImportSpec:
    """One import and the wasmtime type the sandbox must satisfy it with."""

    module: str
    name: str
    kind: str  # "func" | "memory" | "table" | "global"
    type: Any = None  # the wasmtime extern type to create
    valtype: str | None = None  # a global's value type

    @property
    def label(self) -> str:
        return f"{self.module}.{self.name}"


class CompiledModule:
    """A validated, compiled module, ready to instantiate in a store of its own.

    Exposes `sha256` (hex digest of the wasm bytes), `functions` (exported functions and
    their signatures), `memory_export` (name of the first exported memory, or None),
    `imports`, `compiler` (which wasmtime compiler produced the code), `mutable_globals` (exported
    mutable globals as (name, value type): part of a call's effects) and `writes_memory` (False when
    no instruction can write linear memory, so its calls cannot change memory). It is bound to
    the `Sandbox` (engine) that compiled it and is not picklable; ship wasm bytes instead.
    """

    __slots__ = ("sha256", "module", "engine", "functions", "memory_export", "imports",
                 "compiler", "compile_s", "owner", "plans", "images", "memory_name", "mutable_globals", "writes_memory",
                 "__weakref__")

    def __init__(self, sha256: str, module: wasmtime.Module, engine: wasmtime.Engine, scanned: ScannedModule,
                 compiler: str, compile_s: float, owner: int, writes_memory: bool = True) -> None:
        self.sha256 = sha256
        self.module = module
        self.engine = engine
        self.compiler = compiler
        self.compile_s = compile_s
        self.owner = owner
        self.plans: dict[str, Any] = {}  # per-function call plans, filled by the sandbox
        # per MemoryEnv: whether a fresh instance's memory is that env's reference image (instantiation is
        # deterministic, so one look per module answers for every instance of it)
        self.images: dict[Any, bool] = {}
        self.functions = {name: Signature(params, results) for name, (params, results) in scanned.functions.items()}
        self.memory_export = scanned.memory_export
        self.memory_name = scanned.memory_export.encode("utf-8") if scanned.memory_export is not None else b""
        self.mutable_globals = scanned.mutable_globals
        self.writes_memory = writes_memory
        imports = []
        if scanned.imports:
            for scan_imp, imp in zip(scanned.imports, module.imports):
                imports.append(ImportSpec(scan_imp.module, scan_imp.name, scan_imp.kind, imp.type, scan_imp.valtype))
        self.imports = tuple(imports)

    def signature(self, function: str) -> Signature | None:
        """The exported function's signature, or None when `function` is not an exported function."""
        return self.functions.get(function)

    def __repr__(self) -> str:
        return (f"CompiledModule({self.sha256[:12]}…, {self.compiler}, "
                f"functions={list(self.functions)}, memory={self.memory_export!r})")
