"""The values a module's sections hold (imports, exports, globals, segments, custom sections), the
section ids and their order, and `ModuleSections`: what the encoder reads of a module.

They live apart from `jeet.wasm.module` so the decoder and the encoder can share them with the
`Module` class without the module and its encoder importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from .ir import Body, Instr
from .types import FuncType, GlobalType, MemType, TableType, ValType

# External kinds, as the import/export sections encode them.
FUNC, TABLE, MEMORY, GLOBAL = 0, 1, 2, 3
KIND_NAMES = {FUNC: "func", TABLE: "table", MEMORY: "memory", GLOBAL: "global"}

# Section ids, and the order the binary format requires for the non-custom ones.
SEC_CUSTOM, SEC_TYPE, SEC_IMPORT, SEC_FUNCTION, SEC_TABLE, SEC_MEMORY = 0, 1, 2, 3, 4, 5
SEC_GLOBAL, SEC_EXPORT, SEC_START, SEC_ELEMENT, SEC_CODE, SEC_DATA, SEC_DATACOUNT = 6, 7, 8, 9, 10, 11, 12
SECTION_ORDER = (1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 10, 11)
SECTION_FIELD = {
    1: "types", 2: "imports", 3: "funcs", 4: "tables", 5: "memories", 6: "globals", 7: "exports",
    8: "start", 9: "elements", 12: "data_count", 10: "bodies", 11: "data",
}


@dataclass(frozen=True, slots=True, eq=False)
class ConstExpr:
    """A constant expression (global initializer, segment offset, element item).

    `instrs` ends with `end`; it is None for an expression the IR does not model
    (instructions after WebAssembly 2.0), which is then carried by `raw` (the exact encoding, `end` included).
    Two expressions are equal when their instructions are, or (opaque) their bytes are.
    """

    instrs: tuple[Instr, ...] | None
    raw: bytes | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ConstExpr):
            return NotImplemented
        if self.instrs is None or other.instrs is None:
            return self.instrs is other.instrs and self.raw == other.raw
        return self.instrs == other.instrs

    def __hash__(self) -> int:
        return hash(self.instrs) if self.instrs is not None else hash(self.raw)

    def func_refs(self) -> tuple[int, ...]:
        """The function indices this expression takes a reference to (`ref.func`)."""
        if not self.instrs:
            return ()
        return tuple(i.imm[0] for i in self.instrs if i.op == 0xD2)


@dataclass(frozen=True, slots=True)
class Import:
    """`desc` is a type index (FUNC), TableType, MemType or GlobalType, per `kind`."""

    module: str
    name: str
    kind: int
    desc: int | TableType | MemType | GlobalType


@dataclass(frozen=True, slots=True)
class Export:
    name: str
    kind: int
    index: int


@dataclass(frozen=True, slots=True)
class Global:
    type: GlobalType
    init: ConstExpr


@dataclass(frozen=True, slots=True)
class Element:
    """An element segment.

    `mode` is "active" (then `table` and `offset` say where it goes), "passive" or
    "declarative". `init` holds function indices when `flags & 4 == 0`, else ConstExprs.
    `flags` is the binary form (0..7) it was decoded from; None lets the encoder choose.
    """

    mode: str
    type: ValType
    init: tuple[int, ...] | tuple[ConstExpr, ...]
    table: int = 0
    offset: ConstExpr | None = None
    flags: int | None = None

    @property
    def uses_exprs(self) -> bool:
        if self.flags is not None:
            return bool(self.flags & 4)
        return any(isinstance(x, ConstExpr) for x in self.init)

    def func_indices(self) -> tuple[int, ...]:
        """Every function this segment references."""
        out: list[int] = []
        for item in self.init:
            if isinstance(item, ConstExpr):
                out.extend(item.func_refs())
            else:
                out.append(item)
        return tuple(out)


@dataclass(frozen=True, slots=True)
class Data:
    """A data segment: "active" (copied to `memory` at `offset` on instantiation) or "passive"."""

    mode: str
    init: bytes
    memory: int = 0
    offset: ConstExpr | None = None
    flags: int | None = None


@dataclass(frozen=True, slots=True)
class Custom:
    """A custom section, placed after the last non-custom section with id `after` (0: first).

    `raw` is the whole original section (id and size included) or None once changed.
    """

    name: str
    payload: bytes
    after: int = 0
    raw: bytes | None = field(default=None, compare=False)


@dataclass(slots=True)
class Origin:
    """The decoded bytes and, per present section, its byte range and the decoded value."""

    data: bytes
    ranges: dict[int, tuple[int, int]]
    values: dict[str, Any]


class ModuleSections(Protocol):
    """What `jeet.wasm.encode.encode_module` reads of a module: every section by its field name
    (`SECTION_FIELD`), the custom sections, and where a decoded module came from."""

    types: tuple[FuncType, ...]
    imports: tuple[Import, ...]
    funcs: tuple[int, ...]
    tables: tuple[TableType, ...]
    memories: tuple[MemType, ...]
    globals: tuple[Global, ...]
    exports: tuple[Export, ...]
    start: int | None
    elements: tuple[Element, ...]
    data_count: int | None
    bodies: tuple[Body, ...]
    data: tuple[Data, ...]
    customs: tuple[Custom, ...]
    _origin: Origin | None
