"""The instruction set the IR models: WebAssembly 2.0 without SIMD.

`OPCODES[op]` describes every modelled opcode (`op` as in `jeet.wasm.ir.Instr.op`: the byte,
or `0xFC00 | subopcode` for the 0xFC prefix). `BY_NAME` maps the spec's text names back.

Immediates (`Instr.imm`), by `OpInfo.imm` kind -- always a tuple of plain ints:

==============  =========================================  ==================================
kind            imm                                        used by
==============  =========================================  ==================================
""              ()                                         everything without immediates
"blocktype"     (bt,)  s33: -64 empty, -1..-4 i32 i64 f32  block, loop, if
                f64, -5 v128, -16 funcref, -17 externref,
                >= 0 a type index (see types.EMPTY_BLOCK)
"label"         (depth,)                                   br, br_if
"br_table"      (labels: tuple[int, ...], default: int)    br_table
"func"          (funcidx,)                                 call, ref.func
"call_indirect" (typeidx, tableidx)                        call_indirect (binary order)
"local"         (localidx,)                                local.get / set / tee
"global"        (globalidx,)                               global.get / set
"table"         (tableidx,)                                table.get/set/size/grow/fill
"memarg"        (align, offset)  align as log2 exponent    loads and stores
"mem"           (memidx,)  0 in WebAssembly 2.0            memory.size/grow/fill
"i32"           (value,) signed, -2^31 <= value < 2^31     i32.const
"i64"           (value,) signed, -2^63 <= value < 2^63     i64.const
"f32"           (bits,) IEEE bit pattern, 0 <= bits < 2^32 f32.const (exact, NaN payloads too)
"f64"           (bits,) IEEE bit pattern, 0 <= bits < 2^64 f64.const
"select_t"      (types: tuple[ValType, ...],)              select_t (typed select, 0x1C)
"reftype"       (reftype,) FUNCREF or EXTERNREF            ref.null
"data_mem"      (dataidx, memidx)                          memory.init
"data"          (dataidx,)                                 data.drop
"mem_mem"       (dst_memidx, src_memidx)                   memory.copy
"elem_table"    (elemidx, tableidx)                        table.init
"elem"          (elemidx,)                                 elem.drop
"table_table"   (dst_tableidx, src_tableidx)               table.copy
==============  =========================================  ==================================

The encoder wraps i32/i64 values into their signed range and masks float bit patterns, so
`Instr(BY_NAME["i32.const"], (0xFFFFFFFF,))` encodes as `i32.const -1`.

`OpInfo.sig` is `(pops, pushes)` (bottom to top) for instructions whose operand types are
fixed; it is None where they depend on context or immediates (control, calls, locals,
globals, parametric, `ref.null`, `ref.is_null`, table access). `OpInfo.cls` is the class the
energy model prices; `i32.wrap_i64` and `i64.extend_i32_*` count as "convert", the
sign-extension operators (`i32.extend8_s`, ...) as "int_arith".
"""

from __future__ import annotations

from dataclasses import dataclass

from .types import F32, F64, FUNCREF, I32, I64, ValType

__all__ = ["OpInfo", "OPCODES", "BY_NAME", "IMM_KINDS", "CLASSES", "op_named"]

Sig = tuple[tuple[ValType, ...], tuple[ValType, ...]]

IMM_KINDS = (
    "", "blocktype", "label", "br_table", "func", "call_indirect", "local", "global", "table",
    "memarg", "mem", "i32", "i64", "f32", "f64", "select_t", "reftype", "data_mem", "data",
    "mem_mem", "elem_table", "elem", "table_table",
)

CLASSES = (
    "const", "local", "global", "load", "store", "memory", "control", "call", "int_arith",
    "int_mul", "int_div", "float_arith", "float_div_sqrt", "convert", "bitcount", "ref", "table",
    "parametric", "nop",
)


@dataclass(frozen=True, slots=True)
class OpInfo:
    name: str
    imm: str
    sig: Sig | None
    cls: str


OPCODES: dict[int, OpInfo] = {}


def _op(code: int, name: str, imm: str, sig: Sig | None, cls: str) -> None:
    assert code not in OPCODES and imm in IMM_KINDS and cls in CLASSES, (code, name)
    OPCODES[code] = OpInfo(name, imm, sig, cls)


_T = {"i32": I32, "i64": I64, "f32": F32, "f64": F64}

# control
_op(0x00, "unreachable", "", None, "control")
_op(0x01, "nop", "", ((), ()), "nop")
_op(0x02, "block", "blocktype", None, "control")
_op(0x03, "loop", "blocktype", None, "control")
_op(0x04, "if", "blocktype", None, "control")
_op(0x05, "else", "", None, "control")
_op(0x0B, "end", "", None, "control")
_op(0x0C, "br", "label", None, "control")
_op(0x0D, "br_if", "label", None, "control")
_op(0x0E, "br_table", "br_table", None, "control")
_op(0x0F, "return", "", None, "control")
_op(0x10, "call", "func", None, "call")
_op(0x11, "call_indirect", "call_indirect", None, "call")
# parametric
_op(0x1A, "drop", "", None, "parametric")
_op(0x1B, "select", "", None, "parametric")
_op(0x1C, "select_t", "select_t", None, "parametric")
# variables
_op(0x20, "local.get", "local", None, "local")
_op(0x21, "local.set", "local", None, "local")
_op(0x22, "local.tee", "local", None, "local")
_op(0x23, "global.get", "global", None, "global")
_op(0x24, "global.set", "global", None, "global")
_op(0x25, "table.get", "table", None, "table")
_op(0x26, "table.set", "table", None, "table")

# memory
for _code, _name, _t in (
    (0x28, "i32.load", "i32"), (0x29, "i64.load", "i64"), (0x2A, "f32.load", "f32"),
    (0x2B, "f64.load", "f64"), (0x2C, "i32.load8_s", "i32"), (0x2D, "i32.load8_u", "i32"),
    (0x2E, "i32.load16_s", "i32"), (0x2F, "i32.load16_u", "i32"), (0x30, "i64.load8_s", "i64"),
    (0x31, "i64.load8_u", "i64"), (0x32, "i64.load16_s", "i64"), (0x33, "i64.load16_u", "i64"),
    (0x34, "i64.load32_s", "i64"), (0x35, "i64.load32_u", "i64"),
):
    _op(_code, _name, "memarg", ((I32,), (_T[_t],)), "load")
for _code, _name, _t in (
    (0x36, "i32.store", "i32"), (0x37, "i64.store", "i64"), (0x38, "f32.store", "f32"),
    (0x39, "f64.store", "f64"), (0x3A, "i32.store8", "i32"), (0x3B, "i32.store16", "i32"),
    (0x3C, "i64.store8", "i64"), (0x3D, "i64.store16", "i64"), (0x3E, "i64.store32", "i64"),
):
    _op(_code, _name, "memarg", ((I32, _T[_t]), ()), "store")
_op(0x3F, "memory.size", "mem", ((), (I32,)), "memory")
_op(0x40, "memory.grow", "mem", ((I32,), (I32,)), "memory")

# constants
_op(0x41, "i32.const", "i32", ((), (I32,)), "const")
_op(0x42, "i64.const", "i64", ((), (I64,)), "const")
_op(0x43, "f32.const", "f32", ((), (F32,)), "const")
_op(0x44, "f64.const", "f64", ((), (F64,)), "const")


def _numeric() -> None:
    code = 0x45
    for t in ("i32", "i64"):
        T = _T[t]
        _op(code, f"{t}.eqz", "", ((T,), (I32,)), "int_arith")
        code += 1
        for rel in ("eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u"):
            _op(code, f"{t}.{rel}", "", ((T, T), (I32,)), "int_arith")
            code += 1
    for t in ("f32", "f64"):
        T = _T[t]
        for rel in ("eq", "ne", "lt", "gt", "le", "ge"):
            _op(code, f"{t}.{rel}", "", ((T, T), (I32,)), "float_arith")
            code += 1
    assert code == 0x67
    for t in ("i32", "i64"):
        T = _T[t]
        for name in ("clz", "ctz", "popcnt"):
            _op(code, f"{t}.{name}", "", ((T,), (T,)), "bitcount")
            code += 1
        for name, cls in (
            ("add", "int_arith"), ("sub", "int_arith"), ("mul", "int_mul"), ("div_s", "int_div"),
            ("div_u", "int_div"), ("rem_s", "int_div"), ("rem_u", "int_div"), ("and", "int_arith"),
            ("or", "int_arith"), ("xor", "int_arith"), ("shl", "int_arith"), ("shr_s", "int_arith"),
            ("shr_u", "int_arith"), ("rotl", "int_arith"), ("rotr", "int_arith"),
        ):
            _op(code, f"{t}.{name}", "", ((T, T), (T,)), cls)
            code += 1
    assert code == 0x8B
    for t in ("f32", "f64"):
        T = _T[t]
        for name in ("abs", "neg", "ceil", "floor", "trunc", "nearest", "sqrt"):
            cls = "float_div_sqrt" if name == "sqrt" else "float_arith"
            _op(code, f"{t}.{name}", "", ((T,), (T,)), cls)
            code += 1
        for name in ("add", "sub", "mul", "div", "min", "max", "copysign"):
            cls = "float_div_sqrt" if name == "div" else "float_arith"
            _op(code, f"{t}.{name}", "", ((T, T), (T,)), cls)
            code += 1
    assert code == 0xA7
    conversions = (
        "i32.wrap_i64", "i32.trunc_f32_s", "i32.trunc_f32_u", "i32.trunc_f64_s", "i32.trunc_f64_u",
        "i64.extend_i32_s", "i64.extend_i32_u", "i64.trunc_f32_s", "i64.trunc_f32_u",
        "i64.trunc_f64_s", "i64.trunc_f64_u", "f32.convert_i32_s", "f32.convert_i32_u",
        "f32.convert_i64_s", "f32.convert_i64_u", "f32.demote_f64", "f64.convert_i32_s",
        "f64.convert_i32_u", "f64.convert_i64_s", "f64.convert_i64_u", "f64.promote_f32",
        "i32.reinterpret_f32", "i64.reinterpret_f64", "f32.reinterpret_i32", "f64.reinterpret_i64",
    )
    for name in conversions:
        _op(code, name, "", _conv_sig(name), "convert")
        code += 1
    assert code == 0xC0
    for name in ("i32.extend8_s", "i32.extend16_s", "i64.extend8_s", "i64.extend16_s", "i64.extend32_s"):
        T = _T[name[:3]]
        _op(code, name, "", ((T,), (T,)), "int_arith")
        code += 1
    for sub, name in enumerate((
        "i32.trunc_sat_f32_s", "i32.trunc_sat_f32_u", "i32.trunc_sat_f64_s", "i32.trunc_sat_f64_u",
        "i64.trunc_sat_f32_s", "i64.trunc_sat_f32_u", "i64.trunc_sat_f64_s", "i64.trunc_sat_f64_u",
    )):
        _op(0xFC00 | sub, name, "", _conv_sig(name), "convert")


def _conv_sig(name: str) -> Sig:
    # "i32.trunc_f32_s" -> pops f32, pushes i32; "f32.demote_f64" -> pops f64
    dst = _T[name[:3]]
    src = _T[name.split("_")[-2] if name.endswith(("_s", "_u")) else name[-3:]]
    return ((src,), (dst,))


_numeric()

# reference types
_op(0xD0, "ref.null", "reftype", None, "ref")
_op(0xD1, "ref.is_null", "", None, "ref")
_op(0xD2, "ref.func", "func", ((), (FUNCREF,)), "ref")

# bulk memory and tables (0xFC prefix)
_op(0xFC08, "memory.init", "data_mem", ((I32, I32, I32), ()), "memory")
_op(0xFC09, "data.drop", "data", ((), ()), "memory")
_op(0xFC0A, "memory.copy", "mem_mem", ((I32, I32, I32), ()), "memory")
_op(0xFC0B, "memory.fill", "mem", ((I32, I32, I32), ()), "memory")
_op(0xFC0C, "table.init", "elem_table", ((I32, I32, I32), ()), "table")
_op(0xFC0D, "elem.drop", "elem", ((), ()), "table")
_op(0xFC0E, "table.copy", "table_table", ((I32, I32, I32), ()), "table")
_op(0xFC0F, "table.grow", "table", None, "table")
_op(0xFC10, "table.size", "table", ((), (I32,)), "table")
_op(0xFC11, "table.fill", "table", None, "table")

BY_NAME: dict[str, int] = {info.name: code for code, info in OPCODES.items()}


def op_named(name: str) -> int:
    """The opcode of a spec text name; KeyError names the unknown instruction."""
    return BY_NAME[name]
