"""Value types and function types, in the binary format's own encoding."""

from __future__ import annotations

from dataclasses import dataclass

ValType = int

I32: ValType = 0x7F
I64: ValType = 0x7E
F32: ValType = 0x7D
F64: ValType = 0x7C
V128: ValType = 0x7B
FUNCREF: ValType = 0x70
EXTERNREF: ValType = 0x6F

NUMERIC = (I32, I64, F32, F64)
REFERENCE = (FUNCREF, EXTERNREF)
VALTYPES = (I32, I64, F32, F64, V128, FUNCREF, EXTERNREF)

NAMES: dict[ValType, str] = {
    I32: "i32", I64: "i64", F32: "f32", F64: "f64",
    V128: "v128", FUNCREF: "funcref", EXTERNREF: "externref",
}

WIDTH: dict[ValType, int] = {I32: 32, I64: 64, F32: 32, F64: 64}

# Block types are kept as the s33 the binary format stores: -64 (0x40) is the empty
# block type, a negative value -n is the single value type whose byte is 0x80 - n,
# and a non-negative value is an index into the type section.
EMPTY_BLOCK = -64


def blocktype_of_valtype(t: ValType) -> int:
    return t - 0x80


def valtype_of_blocktype(bt: int) -> ValType:
    return bt + 0x80


@dataclass(frozen=True, slots=True)
class FuncType:
    params: tuple[ValType, ...]
    results: tuple[ValType, ...]

    def __str__(self) -> str:
        p = " ".join(NAMES.get(t, hex(t)) for t in self.params)
        r = " ".join(NAMES.get(t, hex(t)) for t in self.results)
        return f"[{p}] -> [{r}]"


# The type of a value popped from the polymorphic stack of unreachable code
# (the spec's "bot"); only `jeet.wasm.analysis` produces it, never a module.
BOT: ValType = 0x00

# Block types for the value types, as stored in `Instr.imm` of block/loop/if.
BLOCK_I32 = blocktype_of_valtype(I32)
BLOCK_I64 = blocktype_of_valtype(I64)
BLOCK_F32 = blocktype_of_valtype(F32)
BLOCK_F64 = blocktype_of_valtype(F64)


@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits of a table or memory, in elements or 64 KiB pages; `max` None means unbounded."""

    min: int
    max: int | None = None


@dataclass(frozen=True, slots=True)
class TableType:
    elem: ValType
    limits: Limits


@dataclass(frozen=True, slots=True)
class MemType:
    limits: Limits


@dataclass(frozen=True, slots=True)
class GlobalType:
    type: ValType
    mutable: bool
