"""Read function signatures, imports and exports straight from a validated module's bytes.

wasmtime's C API aborts the whole process when asked the kind of a v128 value type
(`wasm_valtype_kind` is unimplemented for it), so the sandbox cannot read signatures
through `FuncType.params`. This reader covers only what the sandbox needs (the type,
import, function and export sections of a WebAssembly 2.0 module) and runs after
wasmtime has validated the bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

VALTYPE_NAMES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128",
                 0x70: "funcref", 0x6F: "externref"}

_SECTION_TYPE, _SECTION_IMPORT, _SECTION_FUNCTION, _SECTION_EXPORT = 1, 2, 3, 7
EXTERN_KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}


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
                    r.byte()
                    imports.append(ScannedImport(module, name, "global", valtype=valtype))
                else:
                    raise ScanError(f"unsupported import kind {kind:#x}")
        elif section == _SECTION_FUNCTION:
            func_types.extend(r.u32() for _ in range(r.u32()))
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
    return ScannedModule(tuple(imports), functions, memory_export)
