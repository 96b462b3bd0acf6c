"""Binary format -> `Module`.

The decoder checks the whole binary format of WebAssembly 2.0 (section order and sizes,
LEB128 limits, UTF-8 names, every vector length against the bytes left, instruction
encodings, the data count rule) plus the cheap index checks every helper of `Module`
relies on (type indices of functions, export and start indices). Type checking of bodies
and constant expressions is `jeet.wasm.analysis`. Any failure is a `WasmError`.

Bodies using instructions the IR does not model (relaxed SIMD, threads, tail calls,
exceptions, GC, multiple memories, ...) are kept opaque (`Body.instrs is None`). Where their encoding is known the
scan continues to the end, so a malformed opaque body is still rejected.
"""

from __future__ import annotations

from ..errors import WasmError
from .ir import Body, Instr
from .module import Module
from .sections import (
    FUNC, GLOBAL, MEMORY, TABLE, SECTION_FIELD, SECTION_ORDER,
    ConstExpr, Custom, Data, Element, Export, Global, Import, Origin,
)
from .reader import Reader, read_s32, read_s33, read_s64, read_u32, read_uleb
from .types import (
    EXTERNREF, FUNCREF, VALTYPES, FuncType, GlobalType, Limits, MemType, TableType,
)

__all__ = ["decode", "MAX_LOCALS"]

MAGIC = b"\x00asm"
VERSION = b"\x01\x00\x00\x00"

# Implementation limit (as in wasmtime/wasmparser): more locals than this is rejected, so
# that expanding a body's locals can never exhaust memory.
MAX_LOCALS = 50_000

_VALTYPES = frozenset(VALTYPES)
_REFTYPES = frozenset((FUNCREF, EXTERNREF))
_ORDER_RANK = {sid: rank for rank, sid in enumerate(SECTION_ORDER, 1)}
# negative s33 block types that denote a value type (0x40 empty is -64)
_VALID_NEG_BLOCKTYPES = frozenset([-64] + [t - 0x80 for t in VALTYPES])

# Immediate layouts of single-byte opcodes, for the hot decoding loop.
K_NONE, K_BLOCK, K_IDX, K_BRTABLE, K_IDX2, K_MEMARG, K_I32, K_I64 = 0, 1, 2, 3, 4, 5, 6, 7
K_F32, K_F64, K_SELT, K_REFTYPE, K_FC, K_FD, K_FE = 8, 9, 10, 11, 12, 13, 14
# opcodes of proposals after 2.0 that the IR does not model
K_X_NONE, K_X_IDX, K_X_IDX2, K_X_STOP = 15, 16, 17, 18
K_ILLEGAL = 19


def _build_kinds() -> list[int]:
    from .opcodes import OPCODES

    kinds = [K_ILLEGAL] * 256
    by_imm = {
        "": K_NONE, "blocktype": K_BLOCK, "label": K_IDX, "br_table": K_BRTABLE, "func": K_IDX,
        "call_indirect": K_IDX2, "local": K_IDX, "global": K_IDX, "table": K_IDX,
        "memarg": K_MEMARG, "mem": K_IDX, "i32": K_I32, "i64": K_I64, "f32": K_F32,
        "f64": K_F64, "select_t": K_SELT, "reftype": K_REFTYPE,
    }
    for op, info in OPCODES.items():
        if op < 0x100:
            kinds[op] = by_imm[info.imm]
    kinds[0xFC], kinds[0xFD], kinds[0xFE] = K_FC, K_FD, K_FE
    # tail calls, typed function references
    kinds[0x12] = K_X_IDX  # return_call
    kinds[0x13] = K_X_IDX2  # return_call_indirect
    kinds[0x14] = K_X_IDX  # call_ref
    kinds[0x15] = K_X_IDX  # return_call_ref
    kinds[0xD3] = K_X_NONE  # ref.eq
    kinds[0xD4] = K_X_NONE  # ref.as_non_null
    kinds[0xD5] = K_X_IDX  # br_on_null
    kinds[0xD6] = K_X_IDX  # br_on_non_null
    # exception handling, GC: encodings the scanner does not follow
    for b in (0x06, 0x07, 0x08, 0x09, 0x0A, 0x18, 0x19, 0x1F, 0xFB):
        kinds[b] = K_X_STOP
    return kinds


_KIND = _build_kinds()
_SIMPLE: list[Instr | None] = [
    Instr(b, (), bytes((b,))) if _KIND[b] == K_NONE else None for b in range(256)
]
_END = _SIMPLE[0x0B]

# 0xFC sub-opcodes: number of u32 immediates (the IR models 0..17)
_FC_IMMS = (0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 2, 1, 2, 1, 2, 1, 1, 1)


def _simd_imms() -> dict[int, str]:
    from .opcodes import OPCODES

    return {op & 0xFF: info.imm for op, info in OPCODES.items() if op >> 8 == 0xFD}


# modelled SIMD sub-opcode -> immediate kind (see jeet.wasm.opcodes)
_SIMD_IMM = _simd_imms()
# relaxed SIMD (0x100 .. 0x113) has no immediates: scanned, kept opaque
_RELAXED_SIMD_LAST = 0x113


class _Ctx:
    """Per-decode state: the instruction cache (equal encodings share one Instr)."""

    __slots__ = ("cache", "uses_data")

    def __init__(self) -> None:
        self.cache: dict[bytes, Instr] = {}
        self.uses_data = False


def _read_memarg(data: bytes, pos: int, end: int) -> tuple[int, int, int, bool]:
    """-> (align, offset, pos, other_memory); an explicit memory index 0 is kept (raw) as 2.0."""
    at = pos
    flags, pos = read_u32(data, pos, end)
    multi = False
    if flags >= 0x80:
        raise WasmError(at, "malformed memop flags")
    if flags & 0x40:  # multi-memory: an explicit memory index follows
        memidx, pos = read_u32(data, pos, end)
        multi = memidx != 0
        flags &= ~0x40
    offset, pos = read_u32(data, pos, end)
    return flags, offset, pos, multi


def _decode_instrs(
    data: bytes, pos: int, end: int, ctx: _Ctx, const_expr: bool
) -> tuple[list[Instr] | None, int]:
    """Instructions from `pos` up to and including the `end` closing depth 0.

    Returns (instrs, position after that end); instrs is None when the sequence uses
    something the IR does not model. For a function body (`const_expr` False) an opaque
    sequence the scanner cannot follow extends to `end`.
    """
    out: list[Instr] = []
    append = out.append
    kinds = _KIND
    simple = _SIMPLE
    cache = ctx.cache
    depth = 0
    opaque = False
    while True:
        if pos >= end:
            raise WasmError(pos, "unexpected end" if const_expr else "END opcode expected")
        b = data[pos]
        k = kinds[b]
        if k == 0:
            if b == 0x0B:
                if depth == 0:
                    append(_END)
                    return (None if opaque else out), pos + 1
                depth -= 1
            append(simple[b])  # type: ignore[arg-type]
            pos += 1
            continue
        start = pos
        pos += 1
        if k == K_IDX:
            if pos < end and data[pos] < 0x80:
                pos += 1
                raw = data[start:pos]
                ins = cache.get(raw)
                if ins is None:
                    ins = cache[raw] = Instr(b, (data[pos - 1],), raw)
            else:
                v, pos = read_uleb(data, pos, end, 32)
                raw = data[start:pos]
                ins = cache.get(raw)
                if ins is None:
                    ins = cache[raw] = Instr(b, (v,), raw)
            append(ins)
        elif k == K_I32:
            v, pos = read_s32(data, pos, end)
            raw = data[start:pos]
            ins = cache.get(raw)
            if ins is None:
                ins = cache[raw] = Instr(b, (v,), raw)
            append(ins)
        elif k == K_MEMARG:
            align, offset, pos, multi = _read_memarg(data, pos, end)
            if multi:
                opaque = True
                continue
            raw = data[start:pos]
            ins = cache.get(raw)
            if ins is None:
                ins = cache[raw] = Instr(b, (align, offset), raw)
            append(ins)
        elif k == K_BLOCK:
            bt, pos = read_s33(data, pos, end)
            if bt < 0 and bt not in _VALID_NEG_BLOCKTYPES:
                raise WasmError(start + 1, "malformed block type")
            depth += 1
            raw = data[start:pos]
            ins = cache.get(raw)
            if ins is None:
                ins = cache[raw] = Instr(b, (bt,), raw)
            append(ins)
        elif k == K_I64:
            v, pos = read_s64(data, pos, end)
            raw = data[start:pos]
            ins = cache.get(raw)
            if ins is None:
                ins = cache[raw] = Instr(b, (v,), raw)
            append(ins)
        elif k == K_F32 or k == K_F64:
            n = 4 if k == K_F32 else 8
            if pos + n > end:
                raise WasmError(pos, "unexpected end")
            pos += n
            raw = data[start:pos]
            ins = cache.get(raw)
            if ins is None:
                ins = cache[raw] = Instr(b, (int.from_bytes(raw[1:], "little"),), raw)
            append(ins)
        elif k == K_IDX2:
            x, pos = read_u32(data, pos, end)
            y, pos = read_u32(data, pos, end)
            raw = data[start:pos]
            ins = cache.get(raw)
            if ins is None:
                ins = cache[raw] = Instr(b, (x, y), raw)
            append(ins)
        elif k == K_BRTABLE:
            at = pos
            n, pos = read_u32(data, pos, end)
            if n > end - pos:
                raise WasmError(at, "length out of bounds: br_table label count")
            labels = []
            for _ in range(n):
                v, pos = read_u32(data, pos, end)
                labels.append(v)
            default, pos = read_u32(data, pos, end)
            raw = data[start:pos]
            ins = cache.get(raw)
            if ins is None:
                ins = cache[raw] = Instr(b, (tuple(labels), default), raw)
            append(ins)
        elif k == K_SELT:
            at = pos
            n, pos = read_u32(data, pos, end)
            if n > end - pos:
                raise WasmError(at, "length out of bounds: select type count")
            types = []
            for _ in range(n):
                t = data[pos]
                if t not in _VALTYPES:
                    raise WasmError(pos, "malformed value type")
                types.append(t)
                pos += 1
            raw = data[start:pos]
            ins = cache.get(raw)
            if ins is None:
                ins = cache[raw] = Instr(b, (tuple(types),), raw)
            append(ins)
        elif k == K_REFTYPE:
            if pos >= end:
                raise WasmError(pos, "unexpected end")
            t = data[pos]
            if t not in _REFTYPES:
                raise WasmError(pos, "malformed reference type")
            pos += 1
            raw = data[start:pos]
            ins = cache.get(raw)
            if ins is None:
                ins = cache[raw] = Instr(b, (t,), raw)
            append(ins)
        elif k == K_FC:
            sub, pos = read_u32(data, pos, end)
            if sub < len(_FC_IMMS):
                nimm = _FC_IMMS[sub]
                if nimm == 0:
                    imm: tuple = ()
                elif nimm == 1:
                    x, pos = read_u32(data, pos, end)
                    imm = (x,)
                else:
                    x, pos = read_u32(data, pos, end)
                    y, pos = read_u32(data, pos, end)
                    imm = (x, y)
                if sub == 8 or sub == 9:
                    ctx.uses_data = True
                raw = data[start:pos]
                ins = cache.get(raw)
                if ins is None:
                    ins = cache[raw] = Instr(0xFC00 | sub, imm, raw)
                append(ins)
            elif const_expr:
                raise WasmError(start, "unsupported instruction in a constant expression")
            else:
                return _opaque_rest(data, end)
        elif k == K_FD:
            sub, pos = read_u32(data, pos, end)
            kind = _SIMD_IMM.get(sub) if sub < 0x100 else None
            if kind is None:
                if sub < 0x100:
                    raise WasmError(start, f"illegal opcode 0xfd {sub:#x}")
                if const_expr:
                    raise WasmError(start, "unsupported instruction in a constant expression")
                if sub > _RELAXED_SIMD_LAST:
                    return _opaque_rest(data, end)
                opaque = True  # relaxed SIMD: no immediates, not modelled
                continue
            if const_expr and sub != 12:
                raise WasmError(start, "constant expression required")
            if kind == "":
                imm = ()
            elif kind == "memarg" or kind == "memarg_lane":
                align, offset, pos, multi = _read_memarg(data, pos, end)
                if multi:
                    opaque = True
                    if kind == "memarg_lane":
                        pos += 1
                    continue
                imm = (align, offset)
                if kind == "memarg_lane":
                    if pos >= end:
                        raise WasmError(pos, "unexpected end")
                    imm = (align, offset, data[pos])
                    pos += 1
            elif kind == "lane":
                if pos >= end:
                    raise WasmError(pos, "unexpected end")
                imm = (data[pos],)
                pos += 1
            else:  # "v128" and "shuffle": 16 bytes
                if pos + 16 > end:
                    raise WasmError(pos, "unexpected end")
                chunk = data[pos : pos + 16]
                imm = (int.from_bytes(chunk, "little"),) if kind == "v128" else (tuple(chunk),)
                pos += 16
            raw = data[start:pos]
            ins = cache.get(raw)
            if ins is None:
                ins = cache[raw] = Instr(0xFD00 | sub, imm, raw)
            append(ins)
        elif k == K_FE:
            sub, pos = read_u32(data, pos, end)
            if const_expr:
                raise WasmError(start, "unsupported instruction in a constant expression")
            opaque = True
            if sub == 3:
                if pos >= end:
                    raise WasmError(pos, "unexpected end")
                pos += 1
            elif sub <= 2 or 0x10 <= sub <= 0x4E:
                _, _, pos, _ = _read_memarg(data, pos, end)
            else:
                return _opaque_rest(data, end)
        elif k == K_ILLEGAL:
            raise WasmError(start, f"illegal opcode {b:#04x}")
        else:
            if const_expr:
                raise WasmError(start, "unsupported instruction in a constant expression")
            if k == K_X_STOP:
                return _opaque_rest(data, end)
            opaque = True
            if k == K_X_IDX:
                _, pos = read_u32(data, pos, end)
            elif k == K_X_IDX2:
                _, pos = read_u32(data, pos, end)
                _, pos = read_u32(data, pos, end)


def _opaque_rest(data: bytes, end: int) -> tuple[None, int]:
    if data[end - 1] != 0x0B:
        raise WasmError(end - 1, "END opcode expected")
    return None, end


def _valtype(r: Reader) -> int:
    t = r.u8()
    if t not in _VALTYPES:
        raise WasmError(r.pos - 1, "malformed value type")
    return t


def _reftype(r: Reader) -> int:
    t = r.u8()
    if t not in _REFTYPES:
        raise WasmError(r.pos - 1, "malformed reference type")
    return t


def _limits(r: Reader) -> Limits:
    flag = r.u8()
    if flag == 0:
        return Limits(r.u32())
    if flag == 1:
        lo = r.u32()
        return Limits(lo, r.u32())
    raise WasmError(r.pos - 1, "malformed limits flags")


def _const_expr(r: Reader, ctx: _Ctx) -> ConstExpr:
    start = r.pos
    instrs, r.pos = _decode_instrs(r.data, r.pos, r.end, ctx, True)
    return ConstExpr(None if instrs is None else tuple(instrs), r.data[start : r.pos])


def _types(r: Reader, ctx: _Ctx) -> tuple[FuncType, ...]:
    out = []
    for _ in range(r.count()):
        form = r.u8()
        if form != 0x60:
            raise WasmError(r.pos - 1, f"malformed function type form {form:#04x}")
        params = tuple(_valtype(r) for _ in range(r.count()))
        results = tuple(_valtype(r) for _ in range(r.count()))
        out.append(FuncType(params, results))
    return tuple(out)


def _imports(r: Reader, ctx: _Ctx) -> tuple[Import, ...]:
    out = []
    for _ in range(r.count()):
        mod = r.name()
        name = r.name()
        kind = r.u8()
        desc: int | TableType | MemType | GlobalType
        if kind == FUNC:
            desc = r.u32()
        elif kind == TABLE:
            et = _reftype(r)
            desc = TableType(et, _limits(r))
        elif kind == MEMORY:
            desc = MemType(_limits(r))
        elif kind == GLOBAL:
            desc = _globaltype(r)
        else:
            raise WasmError(r.pos - 1, "malformed import kind")
        out.append(Import(mod, name, kind, desc))
    return tuple(out)


def _globaltype(r: Reader) -> GlobalType:
    t = _valtype(r)
    m = r.u8()
    if m > 1:
        raise WasmError(r.pos - 1, "malformed mutability")
    return GlobalType(t, bool(m))


def _funcs(r: Reader, ctx: _Ctx) -> tuple[int, ...]:
    return tuple(r.u32() for _ in range(r.count()))


def _tables(r: Reader, ctx: _Ctx) -> tuple[TableType, ...]:
    out = []
    for _ in range(r.count()):
        et = _reftype(r)
        out.append(TableType(et, _limits(r)))
    return tuple(out)


def _memories(r: Reader, ctx: _Ctx) -> tuple[MemType, ...]:
    return tuple(MemType(_limits(r)) for _ in range(r.count()))


def _globals(r: Reader, ctx: _Ctx) -> tuple[Global, ...]:
    out = []
    for _ in range(r.count()):
        gt = _globaltype(r)
        out.append(Global(gt, _const_expr(r, ctx)))
    return tuple(out)


def _exports(r: Reader, ctx: _Ctx) -> tuple[Export, ...]:
    out = []
    for _ in range(r.count()):
        name = r.name()
        kind = r.u8()
        if kind > GLOBAL:
            raise WasmError(r.pos - 1, "malformed export kind")
        out.append(Export(name, kind, r.u32()))
    return tuple(out)


def _start(r: Reader, ctx: _Ctx) -> int:
    return r.u32()


def _elements(r: Reader, ctx: _Ctx) -> tuple[Element, ...]:
    out = []
    for _ in range(r.count()):
        at = r.pos
        flags = r.u32()
        if flags > 7:
            raise WasmError(at, "malformed elements segment kind")
        table = 0
        offset = None
        if flags & 1:
            mode = "declarative" if flags & 2 else "passive"
        else:
            mode = "active"
            if flags & 2:
                table = r.u32()
            offset = _const_expr(r, ctx)
        etype = FUNCREF
        if flags & 3:
            if flags & 4:
                etype = _reftype(r)
            elif r.u8() != 0x00:
                raise WasmError(r.pos - 1, "malformed element kind")
        init: tuple
        if flags & 4:
            init = tuple(_const_expr(r, ctx) for _ in range(r.count()))
        else:
            init = tuple(r.u32() for _ in range(r.count()))
        out.append(Element(mode, etype, init, table, offset, flags))
    return tuple(out)


def _data_count(r: Reader, ctx: _Ctx) -> int:
    return r.u32()


def _data(r: Reader, ctx: _Ctx) -> tuple[Data, ...]:
    out = []
    for _ in range(r.count()):
        at = r.pos
        flags = r.u32()
        if flags > 2:
            raise WasmError(at, "malformed data segment kind")
        if flags == 1:
            out.append(Data("passive", r.take(r.count()), 0, None, 1))
            continue
        mem = r.u32() if flags == 2 else 0
        offset = _const_expr(r, ctx)
        out.append(Data("active", r.take(r.count()), mem, offset, flags))
    return tuple(out)


def _code(r: Reader, ctx: _Ctx) -> tuple[Body, ...]:
    data = r.data
    out = []
    for _ in range(r.count()):
        at = r.pos
        size = r.u32()
        if size > r.end - r.pos:
            raise WasmError(at, "unexpected end of section or function: body size exceeds the section")
        start = r.pos
        body_end = start + size
        br = Reader(data, start, body_end)
        groups = []
        total = 0
        for _ in range(br.count()):
            gat = br.pos
            n = br.u32()
            total += n
            if total > 0xFFFFFFFF:
                raise WasmError(gat, "too many locals")
            if total > MAX_LOCALS:
                raise WasmError(gat, f"too many locals (implementation limit {MAX_LOCALS})")
            groups.append((n, _valtype(br)))
        instrs, pos = _decode_instrs(data, br.pos, body_end, ctx, False)
        if pos != body_end:
            raise WasmError(pos, "section size mismatch: operators after the function's final end")
        raw = data[start:body_end]
        out.append(Body(tuple(groups), None if instrs is None else tuple(instrs), raw))
        r.pos = body_end
    return tuple(out)


_PARSERS = {
    1: _types, 2: _imports, 3: _funcs, 4: _tables, 5: _memories, 6: _globals, 7: _exports,
    8: _start, 9: _elements, 12: _data_count, 10: _code, 11: _data,
}


def decode(data: bytes | bytearray | memoryview) -> Module:
    """Decode a binary module; raises WasmError (offset and reason) if it is malformed."""
    if not isinstance(data, bytes):
        data = bytes(data)
    n = len(data)
    if data[:4] != MAGIC[: min(4, n)]:
        raise WasmError(0, "magic header not detected")
    if n < 8:
        raise WasmError(n, "unexpected end")
    if data[4:8] != VERSION:
        raise WasmError(4, "unknown binary version")
    ctx = _Ctx()
    values: dict[str, object] = {}
    ranges: dict[int, tuple[int, int]] = {}
    customs: list[Custom] = []
    rank = 0
    last_sid = 0
    pos = 8
    while pos < n:
        sec_start = pos
        sid = data[pos]
        size, pos = read_u32(data, pos + 1, n)
        if size > n - pos:
            raise WasmError(pos, "length out of bounds: section size exceeds the module")
        end = pos + size
        r = Reader(data, pos, end)
        if sid == 0:
            name = r.name()
            customs.append(Custom(name, data[r.pos : end], last_sid, data[sec_start:end]))
        else:
            parser = _PARSERS.get(sid)
            if parser is None:
                raise WasmError(sec_start, f"malformed section id {sid}")
            if _ORDER_RANK[sid] <= rank:
                raise WasmError(sec_start, f"unexpected content after last section (section {sid} out of order)")
            rank = _ORDER_RANK[sid]
            last_sid = sid
            values[SECTION_FIELD[sid]] = parser(r, ctx)
            if r.pos != end:
                raise WasmError(r.pos, "section size mismatch")
            ranges[sid] = (sec_start, end)
        pos = end
    values["customs"] = tuple(customs)
    module = Module(**values)  # type: ignore[arg-type]
    _check(module, ctx, ranges, n)
    object.__setattr__(module, "_origin", Origin(data, ranges, values))
    return module


def _check(m: Module, ctx: _Ctx, ranges: dict[int, tuple[int, int]], n: int) -> None:
    """Whole-module binary rules, and the index checks the Module helpers rely on."""

    def at(sid: int) -> int:
        return ranges[sid][0] if sid in ranges else n

    if len(m.funcs) != len(m.bodies):
        raise WasmError(at(10) if 10 in ranges else at(3), "function and code section have inconsistent lengths")
    if m.data_count is not None and m.data_count != len(m.data):
        raise WasmError(at(11) if 11 in ranges else at(12), "data count and data section have inconsistent lengths")
    if ctx.uses_data and m.data_count is None:
        raise WasmError(at(10), "data count section required")
    ntypes = len(m.types)
    for imp in m.imports:
        if imp.kind == FUNC and imp.desc >= ntypes:  # type: ignore[operator]
            raise WasmError(at(2), f"unknown type {imp.desc} (import {imp.module}.{imp.name})")
    for i, t in enumerate(m.funcs):
        if t >= ntypes:
            raise WasmError(at(3), f"unknown type {t} (function {m.num_imported_funcs + i})")
    space = {FUNC: m.num_funcs, TABLE: len(m.table_types), MEMORY: len(m.memory_types),
             GLOBAL: len(m.global_types)}
    for e in m.exports:
        if e.index >= space[e.kind]:
            raise WasmError(at(7), f"unknown export index {e.index} ({e.name!r})")
    if m.start is not None and m.start >= m.num_funcs:
        raise WasmError(at(8), f"unknown start function {m.start}")
