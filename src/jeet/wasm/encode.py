"""`Module` (anything with its sections, `ModuleSections`) -> binary format.

Anything still carrying its original bytes (`raw` of instructions, bodies, constant
expressions and custom sections; the byte ranges of unchanged sections) is re-emitted as
is, so only what an operator touched is encoded anew, canonically (minimal LEB128s).
Never use `dataclasses.replace` on an `Instr`, `Body` or `Custom`: it would carry the old
`raw` along; build a new value instead (`Instr(op, imm)`, `Body.with_instrs`, ...).
"""

from __future__ import annotations

import struct

from ..errors import WasmError
from .ir import Body, Instr
from .sections import (
    FUNC, GLOBAL, MEMORY, SECTION_FIELD, SECTION_ORDER, TABLE, ConstExpr, Custom, Data, Element,
    Import, ModuleSections,
)
from .opcodes import OPCODES
from .reader import write_sleb, write_u32
from .types import FUNCREF, FuncType, GlobalType, Limits, TableType

__all__ = ["encode_module", "encode_instr", "encode_body", "encode_const_expr"]

HEADER = b"\x00asm\x01\x00\x00\x00"

_U = write_u32


def _wrap(v: int, bits: int) -> int:
    half = 1 << (bits - 1)
    return ((v + half) & ((1 << bits) - 1)) - half


def _imm_bytes(kind: str, imm: tuple) -> bytes:
    if kind == "":
        return b""
    if kind in ("label", "func", "local", "global", "table", "mem", "data", "elem"):
        return _U(imm[0])
    if kind == "i32":
        return write_sleb(_wrap(imm[0], 32))
    if kind == "memarg":
        return _U(imm[0]) + _U(imm[1])
    if kind == "blocktype":
        return write_sleb(imm[0])
    if kind == "i64":
        return write_sleb(_wrap(imm[0], 64))
    if kind == "f32":
        return struct.pack("<I", imm[0] & 0xFFFFFFFF)
    if kind == "f64":
        return struct.pack("<Q", imm[0] & 0xFFFFFFFFFFFFFFFF)
    if kind == "br_table":
        labels, default = imm
        return _U(len(labels)) + b"".join(_U(x) for x in labels) + _U(default)
    if kind in ("call_indirect", "data_mem", "mem_mem", "elem_table", "table_table"):
        return _U(imm[0]) + _U(imm[1])
    if kind == "select_t":
        return _U(len(imm[0])) + bytes(imm[0])
    if kind == "reftype":
        return bytes((imm[0],))
    if kind == "v128":
        return (imm[0] & ((1 << 128) - 1)).to_bytes(16, "little")
    if kind == "shuffle":
        return bytes(imm[0])
    if kind == "lane":
        return bytes((imm[0],))
    if kind == "memarg_lane":
        return _U(imm[0]) + _U(imm[1]) + bytes((imm[2],))
    raise WasmError(-1, f"unknown immediate kind {kind!r}")


_OP_PREFIX: dict[int, bytes] = {
    op: (bytes((op,)) if op < 0x100 else bytes((op >> 8,)) + _U(op & 0xFF)) for op in OPCODES
}
_CANON_NOIMM: dict[int, bytes] = {op: _OP_PREFIX[op] for op, info in OPCODES.items() if info.imm == ""}


def encode_instr(ins: Instr) -> bytes:
    """The instruction's bytes: its original encoding if it has one, else canonical."""
    raw = ins.raw
    if raw is not None:
        return raw
    b = _CANON_NOIMM.get(ins.op)
    if b is not None:
        return b
    info = OPCODES.get(ins.op)
    if info is None:
        raise WasmError(-1, f"cannot encode unknown opcode {ins.op:#x}")
    return _OP_PREFIX[ins.op] + _imm_bytes(info.imm, ins.imm)


def _instrs_bytes(instrs: tuple[Instr, ...]) -> bytes:
    canon = _CANON_NOIMM
    return b"".join([
        i.raw if i.raw is not None else (canon.get(i.op) or encode_instr(i)) for i in instrs
    ])


def encode_body(body: Body) -> bytes:
    """A function body as the code section stores it, without the size prefix."""
    if body.raw is not None:
        return body.raw
    if body.instrs is None:
        raise WasmError(-1, "an opaque body without raw bytes cannot be encoded")
    out = [_U(len(body.locals))]
    for count, t in body.locals:
        out.append(_U(count))
        out.append(bytes((t,)))
    out.append(_instrs_bytes(body.instrs))
    return b"".join(out)


def encode_const_expr(e: ConstExpr) -> bytes:
    if e.raw is not None:
        return e.raw
    if e.instrs is None:
        raise WasmError(-1, "an opaque constant expression without raw bytes cannot be encoded")
    return _instrs_bytes(e.instrs)


def _vec(items: list[bytes]) -> bytes:
    return _U(len(items)) + b"".join(items)


def _name(s: str) -> bytes:
    b = s.encode("utf-8")
    return _U(len(b)) + b


def _limits(lim: Limits) -> bytes:
    if lim.max is None:
        return b"\x00" + _U(lim.min)
    return b"\x01" + _U(lim.min) + _U(lim.max)


def _tabletype(t: TableType) -> bytes:
    return bytes((t.elem,)) + _limits(t.limits)


def _globaltype(g: GlobalType) -> bytes:
    return bytes((g.type, 1 if g.mutable else 0))


def _functype(ft: FuncType) -> bytes:
    return b"\x60" + _U(len(ft.params)) + bytes(ft.params) + _U(len(ft.results)) + bytes(ft.results)


def _import(imp: Import) -> bytes:
    head = _name(imp.module) + _name(imp.name) + bytes((imp.kind,))
    d = imp.desc
    if imp.kind == FUNC:
        return head + _U(d)  # type: ignore[arg-type]
    if imp.kind == TABLE:
        return head + _tabletype(d)  # type: ignore[arg-type]
    if imp.kind == MEMORY:
        return head + _limits(d.limits)  # type: ignore[union-attr]
    if imp.kind == GLOBAL:
        return head + _globaltype(d)  # type: ignore[arg-type]
    raise WasmError(-1, f"unknown import kind {imp.kind}")


def _element_flags(el: Element) -> int:
    """The decoded form when it can still express the segment, else the canonical one."""
    exprs = (el.type != FUNCREF or any(isinstance(x, ConstExpr) for x in el.init)
             or (not el.init and el.flags is not None and bool(el.flags & 4)))
    e = 4 if exprs else 0
    if el.mode == "active":
        allowed: tuple[int, ...] = (e, 2 | e) if el.table == 0 and el.type == FUNCREF else (2 | e,)
    elif el.mode == "passive":
        allowed = (1 | e,)
    elif el.mode == "declarative":
        allowed = (3 | e,)
    else:
        raise WasmError(-1, f"unknown element mode {el.mode!r}")
    return el.flags if el.flags in allowed else allowed[0]


def _element(el: Element) -> bytes:
    flags = _element_flags(el)
    out = [_U(flags)]
    if flags & 1 == 0:
        if flags & 2:
            out.append(_U(el.table))
        if el.offset is None:
            raise WasmError(-1, "an active element segment needs an offset")
        out.append(encode_const_expr(el.offset))
    if flags & 3:
        out.append(bytes((el.type,)) if flags & 4 else b"\x00")
    if flags & 4:
        items = [x if isinstance(x, ConstExpr) else _ref_func_expr(x) for x in el.init]
        out.append(_vec([encode_const_expr(x) for x in items]))
    else:
        out.append(_vec([_U(x) for x in el.init]))  # type: ignore[arg-type]
    return b"".join(out)


def _ref_func_expr(func_index: int) -> ConstExpr:
    return ConstExpr((Instr(0xD2, (func_index,)), Instr(0x0B)))


def _data(d: Data) -> bytes:
    if d.mode == "passive":
        return b"\x01" + _U(len(d.init)) + d.init
    if d.offset is None:
        raise WasmError(-1, "an active data segment needs an offset")
    flags = 2 if (d.memory != 0 or d.flags == 2) else 0
    head = b"\x02" + _U(d.memory) if flags == 2 else b"\x00"
    return head + encode_const_expr(d.offset) + _U(len(d.init)) + d.init


def _code(bodies: tuple[Body, ...]) -> bytes:
    out = [_U(len(bodies))]
    for b in bodies:
        raw = b.raw if b.raw is not None else encode_body(b)
        out.append(_U(len(raw)))
        out.append(raw)
    return b"".join(out)


_ITEM_ENCODERS = {
    1: _functype, 2: _import, 3: _U, 4: _tabletype, 5: lambda m: _limits(m.limits),
    6: lambda g: _globaltype(g.type) + encode_const_expr(g.init),
    7: lambda e: _name(e.name) + bytes((e.kind,)) + _U(e.index),
    9: _element, 11: _data,
}


def _section_payload(sid: int, value: object) -> bytes | None:
    """The payload of section `sid` for a field value, or None when it is empty."""
    if sid == 8:
        return None if value is None else _U(value)  # type: ignore[arg-type]
    if sid == 12:
        return None if value is None else _U(value)  # type: ignore[arg-type]
    items = value  # a tuple
    if not items:
        return None
    if sid == 10:
        return _code(items)  # type: ignore[arg-type]
    enc = _ITEM_ENCODERS[sid]
    return _vec([enc(x) for x in items])  # type: ignore[attr-defined]


def _custom(c: Custom) -> bytes:
    if c.raw is not None and c.raw.endswith(c.payload):
        return c.raw
    payload = _name(c.name) + c.payload
    return b"\x00" + _U(len(payload)) + payload


_EMPTY: dict[str, object] = {name: (None if name in ("start", "data_count") else ())
                             for name in SECTION_FIELD.values()}


def _same(field: str, value: object, snap: object) -> bool:
    if value is snap:
        return True
    if field == "bodies":
        return len(value) == len(snap) and all(  # type: ignore[arg-type]
            a is b for a, b in zip(value, snap))  # type: ignore[call-overload]
    return value == snap


def encode_module(m: ModuleSections, reuse_raw: bool = True) -> bytes:
    """Encode a module; `reuse_raw=False` re-encodes every section (raw instructions,
    bodies and constant expressions are still reused)."""
    o = m._origin if reuse_raw else None
    if o is not None:
        values = o.values
        if m.customs is values["customs"] or m.customs == values["customs"]:
            for sid in SECTION_ORDER:
                f = SECTION_FIELD[sid]
                if not _same(f, getattr(m, f), values.get(f, _EMPTY[f])):
                    break
            else:
                return o.data
    customs: dict[int, list[Custom]] = {}
    for c in m.customs:
        customs.setdefault(c.after, []).append(c)
    parts = [HEADER]
    for c in customs.get(0, ()):
        parts.append(_custom(c))
    for sid in SECTION_ORDER:
        f = SECTION_FIELD[sid]
        value = getattr(m, f)
        if o is not None and sid in o.ranges and _same(f, value, o.values[f]):
            s, e = o.ranges[sid]
            parts.append(o.data[s:e])
        else:
            payload = _section_payload(sid, value)
            if payload is not None:
                parts.append(bytes((sid,)) + _U(len(payload)) + payload)
        for c in customs.get(sid, ()):
            parts.append(_custom(c))
    return b"".join(parts)
