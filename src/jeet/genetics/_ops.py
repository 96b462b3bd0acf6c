"""Opcode numbers and memory-access facts the operators need, from the WebAssembly core spec."""

from __future__ import annotations

from jeet.wasm.types import F32, F64, I32, I64, ValType

UNREACHABLE = 0x00
NOP = 0x01
BLOCK = 0x02
LOOP = 0x03
IF = 0x04
ELSE = 0x05
END = 0x0B
BR = 0x0C
BR_IF = 0x0D
BR_TABLE = 0x0E
RETURN = 0x0F
CALL = 0x10
CALL_INDIRECT = 0x11
DROP = 0x1A
LOCAL_GET = 0x20
LOCAL_SET = 0x21
LOCAL_TEE = 0x22
GLOBAL_GET = 0x23
GLOBAL_SET = 0x24
I32_CONST = 0x41
I64_CONST = 0x42
F32_CONST = 0x43
F64_CONST = 0x44
I32_EQZ = 0x45
I32_CLZ = 0x67
I32_CTZ = 0x68
I32_POPCNT = 0x69
I32_ADD = 0x6A
I32_SUB = 0x6B
I64_CLZ = 0x79
I64_CTZ = 0x7A
I64_POPCNT = 0x7B
F32_ABS, F32_NEG, F32_CEIL, F32_FLOOR, F32_TRUNC, F32_NEAREST, F32_SQRT = range(0x8B, 0x92)
F64_ABS, F64_NEG, F64_CEIL, F64_FLOOR, F64_TRUNC, F64_NEAREST, F64_SQRT = range(0x99, 0xA0)

BLOCK_STARTS = frozenset((BLOCK, LOOP, IF))
BRANCHES = frozenset((BR, BR_IF, BR_TABLE))
LOCAL_OPS = frozenset((LOCAL_GET, LOCAL_SET, LOCAL_TEE))

CONST_TYPE: dict[int, ValType] = {I32_CONST: I32, I64_CONST: I64, F32_CONST: F32, F64_CONST: F64}
CONST_OF: dict[ValType, int] = {t: op for op, t in CONST_TYPE.items()}

# opcode -> (value type, access width in bytes, full width?) for loads and stores.
LOADS: dict[int, tuple[ValType, int, bool]] = {
    0x28: (I32, 4, True), 0x29: (I64, 8, True), 0x2A: (F32, 4, True), 0x2B: (F64, 8, True),
    0x2C: (I32, 1, False), 0x2D: (I32, 1, False), 0x2E: (I32, 2, False), 0x2F: (I32, 2, False),
    0x30: (I64, 1, False), 0x31: (I64, 1, False), 0x32: (I64, 2, False), 0x33: (I64, 2, False),
    0x34: (I64, 4, False), 0x35: (I64, 4, False),
}
STORES: dict[int, tuple[ValType, int, bool]] = {
    0x36: (I32, 4, True), 0x37: (I64, 8, True), 0x38: (F32, 4, True), 0x39: (F64, 8, True),
    0x3A: (I32, 1, False), 0x3B: (I32, 2, False), 0x3C: (I64, 1, False), 0x3D: (I64, 2, False),
    0x3E: (I64, 4, False),
}
MEMORY_ACCESS = {**LOADS, **STORES}

# Unary operators T -> T that replace_expr may put after a `local.get`.
UNARY_SAME_TYPE: dict[ValType, tuple[int, ...]] = {
    I32: (I32_POPCNT, I32_CLZ, I32_CTZ, I32_EQZ),
    I64: (I64_POPCNT, I64_CLZ, I64_CTZ),
    F32: (F32_ABS, F32_NEG, F32_CEIL, F32_FLOOR, F32_TRUNC, F32_NEAREST, F32_SQRT),
    F64: (F64_ABS, F64_NEG, F64_CEIL, F64_FLOOR, F64_TRUNC, F64_NEAREST, F64_SQRT),
}


def natural_align(op: int) -> int:
    """log2 of the access width of a load/store: the largest alignment its memarg may claim."""
    return MEMORY_ACCESS[op][1].bit_length() - 1
