"""Read function signatures, imports and exports straight from a validated module's bytes.

wasmtime's C API aborts the whole process when asked the kind of a v128 value type
(`wasm_valtype_kind` is unimplemented for it), so the sandbox cannot read signatures
through `FuncType.params`. This reader covers only what the sandbox needs (the type,
import, function and export sections of a WebAssembly 2.0 module) and runs after
wasmtime has validated the bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VALTYPE_NAMES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128",
                 0x70: "funcref", 0x6F: "externref"}

_SECTION_TYPE, _SECTION_IMPORT, _SECTION_FUNCTION, _SECTION_GLOBAL, _SECTION_EXPORT, _SECTION_CODE = 1, 2, 3, 6, 7, 10


class ScanError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ScannedImport:
    module: str
    name: str
    kind: str
    functype: tuple[tuple[str, ...], tuple[str, ...]] | None = None  # funcs
    valtype: str | None = None  # globals


@dataclass(frozen=True, slots=True)
class ScannedModule:
    imports: tuple[ScannedImport, ...]
    functions: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]  # exported name -> (params, results)
    memory_export: str | None
    mutable_globals: tuple[tuple[str, str], ...] = ()  # exported mutable globals: (name, value type)


class _Reader:
    __slots__ = ("data", "pos", "end")

    def __init__(self, data: bytes, pos: int, end: int) -> None:
        self.data, self.pos, self.end = data, pos, end

    def byte(self) -> int:
        if self.pos >= self.end:
            raise ScanError("unexpected end of section")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def u32(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 35:
                raise ScanError("LEB128 too long")

    def name(self) -> str:
        n = self.u32()
        if self.pos + n > self.end:
            raise ScanError("name runs past the section")
        raw = self.data[self.pos:self.pos + n]
        self.pos += n
        return raw.decode("utf-8")

    def valtype(self) -> str:
        b = self.byte()
        if b not in VALTYPE_NAMES:
            raise ScanError(f"unsupported value type {b:#x}")
        return VALTYPE_NAMES[b]

    def limits(self) -> None:
        flags = self.byte()
        self.u32()
        if flags & 1:
            self.u32()


def scan(wasm: bytes) -> ScannedModule:
    """Signatures of exported functions, imports in order, and the first exported memory."""
    if wasm[:4] != b"\0asm" or len(wasm) < 8:
        raise ScanError("not a WebAssembly binary")
    types: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    func_types: list[int] = []
    imports: list[ScannedImport] = []
    exports: list[tuple[str, int, int]] = []
    globals_: list[tuple[str, bool]] = []  # (value type, mutable) in index order
    pos = 8
    while pos < len(wasm):
        section = wasm[pos]
        r = _Reader(wasm, pos + 1, len(wasm))
        size = r.u32()
        start, end = r.pos, r.pos + size
        if end > len(wasm):
            raise ScanError("section runs past the end")
        r = _Reader(wasm, start, end)
        if section == _SECTION_TYPE:
            for _ in range(r.u32()):
                if r.byte() != 0x60:
                    raise ScanError("only function types are supported")
                params = tuple(r.valtype() for _ in range(r.u32()))
                results = tuple(r.valtype() for _ in range(r.u32()))
                types.append((params, results))
        elif section == _SECTION_IMPORT:
            for _ in range(r.u32()):
                module, name = r.name(), r.name()
                kind = r.byte()
                if kind == 0:
                    index = r.u32()
                    func_types.append(index)
                    imports.append(ScannedImport(module, name, "func", functype=types[index]))
                elif kind == 1:
                    r.valtype()
                    r.limits()
                    imports.append(ScannedImport(module, name, "table"))
                elif kind == 2:
                    r.limits()
                    imports.append(ScannedImport(module, name, "memory"))
                elif kind == 3:
                    valtype = r.valtype()
                    globals_.append((valtype, r.byte() == 1))
                    imports.append(ScannedImport(module, name, "global", valtype=valtype))
                else:
                    raise ScanError(f"unsupported import kind {kind:#x}")
        elif section == _SECTION_FUNCTION:
            func_types.extend(r.u32() for _ in range(r.u32()))
        elif section == _SECTION_GLOBAL:
            for _ in range(r.u32()):
                valtype = r.valtype()
                globals_.append((valtype, r.byte() == 1))
                _skip_const_expr(r)
        elif section == _SECTION_EXPORT:
            for _ in range(r.u32()):
                name = r.name()
                kind = r.byte()
                exports.append((name, kind, r.u32()))
        pos = end
    functions: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    memory_export = None
    for name, kind, index in exports:
        if kind == 0:
            if index >= len(func_types) or func_types[index] >= len(types):
                raise ScanError(f"export {name!r} names an unknown function")
            functions[name] = types[func_types[index]]
        elif kind == 2 and memory_export is None:
            memory_export = name
    mutable = tuple((name, globals_[index][0]) for name, kind, index in exports
                    if kind == 3 and index < len(globals_) and globals_[index][1]
                    and globals_[index][0] in ("i32", "i64", "f32", "f64"))
    return ScannedModule(tuple(imports), functions, memory_export, mutable)


def _skip_const_expr(r: _Reader) -> None:
    """Skip a constant expression up to and including its `end`."""
    while True:
        op = r.byte()
        if op == 0x0B:
            return
        shape = _SHAPE[op]
        if shape == _LEB:
            r.u32() if op != 0x41 and op != 0x42 else _skip_leb(r)
        elif shape == _BYTES4:
            r.pos += 4
        elif shape == _BYTES8:
            r.pos += 8
        elif shape == _BYTE:
            r.pos += 1
        elif op == 0xFD:
            r.u32()
            r.pos += 16  # v128.const
        elif shape != _NONE:
            raise ScanError(f"unexpected instruction {op:#x} in a constant expression")


def _skip_leb(r: _Reader) -> None:
    while r.byte() & 0x80:
        pass


# Bytes every sized instruction must contain: memory.grow is 0x40 then memory index 0 (a
# LEB starting 0x00 or 0x80); the 0xFC ones start their subopcode LEB with one of these.
# No match proves there is none; a match is confirmed by decoding.
_SIZED_PATTERN = re.compile(rb"\x40[\x00\x80]|\xfc[\x08\x0a\x0b\x0c\x0e\x0f\x11\x88\x8a\x8b\x8c\x8e\x8f\x91]")

# Instruction shapes for skipping immediates, indexed by opcode byte.
_UNKNOWN, _NONE, _LEB, _LEB2, _BLOCK, _BR_TABLE, _SELECT_T, _BYTES4, _BYTES8, _BYTE, _FC, _FD = range(12)
_SHAPE = bytearray(256)
for _op in (0x00, 0x01, 0x05, 0x0B, 0x0F, 0x1A, 0x1B, 0xD1, *range(0x45, 0xC5)):
    _SHAPE[_op] = _NONE
for _op in (0x0C, 0x0D, 0x10, 0x12, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x3F, 0x41, 0x42, 0xD2):
    _SHAPE[_op] = _LEB
for _op in (0x11, 0x13, *range(0x28, 0x3F)):
    _SHAPE[_op] = _LEB2  # call_indirect, return_call_indirect, loads and stores (memarg)
for _op in (0x02, 0x03, 0x04):
    _SHAPE[_op] = _BLOCK
_SHAPE[0x0E], _SHAPE[0x1C], _SHAPE[0x43], _SHAPE[0x44] = _BR_TABLE, _SELECT_T, _BYTES4, _BYTES8
_SHAPE[0xD0], _SHAPE[0xFC], _SHAPE[0xFD], _SHAPE[0x40] = _BYTE, _FC, _FD, _LEB  # 0x40: memory.grow
del _op
# Valid block types that are a single byte: empty (0x40) or one value type.
_BLOCKTYPE_BYTES = frozenset((0x40, 0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F))
# 0xFC subopcodes: how many u32 immediates follow. memory.init/copy/fill and
# table.init/copy/grow/fill are the sized ones.
_FC_IMMEDIATES = {0: 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0, 7: 0, 9: 1, 13: 1, 16: 1}
_FC_SIZED = frozenset((8, 10, 11, 12, 14, 15, 17))
_SIZED_OPS = frozenset((0x40,))  # memory.grow
# What may write linear memory: the stores, memory.grow, memory.init/copy/fill, and SIMD stores.
_WRITE_OPS = frozenset((*range(0x36, 0x3F), 0x40))
_FC_WRITES = frozenset((8, 10, 11))
_FD_WRITES = frozenset((0x0B, 0x58, 0x59, 0x5A, 0x5B))
_FD_MEMARG = frozenset(range(0x00, 0x0C)) | {0x5C, 0x5D}
_FD_LANE = frozenset(range(0x15, 0x23))
_FD_MEMARG_LANE = frozenset(range(0x54, 0x5C))


def _body_has(data: bytes, pos: int, end: int, ops: frozenset, fc_ops: frozenset, fd_ops: frozenset) -> bool:
    """Whether one function body (locals, then instructions; immediates skipped) holds one of `ops`, or one
    of `fc_ops` / `fd_ops` after a 0xFC / 0xFD prefix."""
    shape = _SHAPE
    n, shift = 0, 0
    while True:  # number of local declarations
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    for _ in range(n):
        while data[pos] & 0x80:
            pos += 1
        pos += 2  # last count byte, then the value type
    while pos < end:
        op = data[pos]
        pos += 1
        if op in ops:
            return True
        k = shape[op]
        if k == _NONE:
            continue
        if k == _LEB:
            while data[pos] & 0x80:
                pos += 1
            pos += 1
        elif k == _LEB2:
            while data[pos] & 0x80:
                pos += 1
            pos += 1
            while data[pos] & 0x80:
                pos += 1
            pos += 1
        elif k == _BLOCK:
            if data[pos] in _BLOCKTYPE_BYTES:
                pos += 1
            else:
                while data[pos] & 0x80:
                    pos += 1
                pos += 1
        elif k in (_BR_TABLE, _SELECT_T, _FC, _FD):
            r = _Reader(data, pos, end)
            if k == _BR_TABLE:
                for _ in range(r.u32() + 1):
                    r.u32()
            elif k == _SELECT_T:
                for _ in range(r.u32()):
                    r.valtype()
            elif k == _FC:
                sub = r.u32()
                if sub in fc_ops:
                    return True
                if sub not in _FC_IMMEDIATES:
                    raise ScanError(f"unknown instruction 0xfc {sub}")
                for _ in range(_FC_IMMEDIATES[sub]):
                    r.u32()
            else:
                sub = r.u32()
                if sub in fd_ops:
                    return True
                if sub in _FD_MEMARG or sub in _FD_MEMARG_LANE:
                    r.u32()
                    r.u32()
                if sub in (0x0C, 0x0D):
                    r.pos += 16
                elif sub in _FD_LANE or sub in _FD_MEMARG_LANE:
                    r.pos += 1
            pos = r.pos
        elif k == _BYTES4:
            pos += 4
        elif k == _BYTES8:
            pos += 8
        elif k == _BYTE:
            pos += 1
        else:
            raise ScanError(f"unknown instruction {op:#x}")
    return False


def may_use_sized_ops(wasm: bytes) -> bool:
    """Whether any function body contains an instruction whose fuel cost depends on an operand.

    Those are memory.grow, memory.init/copy/fill and table.init/copy/grow/fill: Cranelift
    charges them per page, byte or element, Winch as one instruction. A byte pattern rules
    most modules out at once; otherwise the bodies are decoded instruction by instruction
    (skipping immediates), so the answer is exact for WebAssembly 2.0. Anything
    unrecognised answers True, the safe side.
    """
    pos = 8
    while pos < len(wasm):
        section = wasm[pos]
        r = _Reader(wasm, pos + 1, len(wasm))
        size = r.u32()
        if section == _SECTION_CODE:
            if _SIZED_PATTERN.search(wasm, r.pos, r.pos + size) is None:
                return False
            code = _Reader(wasm, r.pos, r.pos + size)
            try:
                for _ in range(code.u32()):
                    body_size = code.u32()
                    if _body_has(wasm, code.pos, code.pos + body_size, _SIZED_OPS, _FC_SIZED, frozenset()):
                        return True
                    code.pos += body_size
            except (ScanError, IndexError):
                return True
            return False
        pos = r.pos + size
    return False


def may_write_memory(wasm: bytes) -> bool:
    """Whether any function body holds an instruction that may write linear memory (a store, memory.grow,
    memory.init/copy/fill, a SIMD store); exact for WebAssembly 2.0, True for anything unrecognised.

    A module without one cannot change memory, so the sandbox need not look at memory after its calls.
    """
    pos = 8
    try:
        while pos < len(wasm):
            section = wasm[pos]
            r = _Reader(wasm, pos + 1, len(wasm))
            size = r.u32()
            if section == _SECTION_CODE:
                code = _Reader(wasm, r.pos, r.pos + size)
                for _ in range(code.u32()):
                    body_size = code.u32()
                    if _body_has(wasm, code.pos, code.pos + body_size, _WRITE_OPS, _FC_WRITES, _FD_WRITES):
                        return True
                    code.pos += body_size
                return False
            pos = r.pos + size
    except (ScanError, IndexError):
        return True
    return False
