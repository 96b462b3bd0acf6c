"""jeet's WebAssembly codec: binary <-> module IR, opcode table, and the typing pass.

`decode(bytes) -> Module`, `Module.encode() -> bytes` (identical bytes when unmodified),
`analyze(module, defined_index)` for per-instruction stack types. Every malformed or
ill-typed input raises `WasmError`.
"""

from .analysis import InstrInfo, analyze, block_ends, else_of, validate
from .decode import decode
from .encode import encode_body, encode_const_expr, encode_instr, encode_module
from ..errors import WasmError
from .ir import Body, Instr
from .module import (
    FUNC, GLOBAL, MEMORY, TABLE, ConstExpr, Custom, Data, Element, Export, Global, Import, Module,
)
from .opcodes import BY_NAME, OPCODES, OpInfo
from .types import (
    BOT, EMPTY_BLOCK, EXTERNREF, F32, F64, FUNCREF, I32, I64, V128, FuncType, GlobalType, Limits,
    MemType, TableType, ValType,
)

__all__ = [
    "decode", "encode_module", "encode_instr", "encode_body", "encode_const_expr",
    "analyze", "validate", "block_ends", "else_of", "InstrInfo",
    "WasmError", "Module", "Body", "Instr", "ConstExpr", "Custom", "Data", "Element", "Export",
    "Global", "Import", "FUNC", "TABLE", "MEMORY", "GLOBAL",
    "OPCODES", "BY_NAME", "OpInfo",
    "ValType", "I32", "I64", "F32", "F64", "V128", "FUNCREF", "EXTERNREF", "BOT", "EMPTY_BLOCK",
    "FuncType", "GlobalType", "Limits", "MemType", "TableType",
]
