"""The instruction set the IR models: WebAssembly 2.0, SIMD included.

`OPCODES[op]` describes every modelled opcode (`op` as in `jeet.wasm.ir.Instr.op`: the byte,
`0xFC00 | subopcode` for the 0xFC prefix, `0xFD00 | subopcode` for SIMD). `BY_NAME` maps the spec's text names back.

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
"v128"          (value,) 0 <= value < 2^128, little endian v128.const (lane bytes in order)
"shuffle"       (lanes: tuple of 16 ints, each < 32,)      i8x16.shuffle
"lane"          (lane,)                                    extract_lane / replace_lane
"memarg_lane"   (align, offset, lane)                      v128.load*_lane / store*_lane
==============  =========================================  ==================================

SIMD (WebAssembly 2.0's fixed-width 128-bit SIMD, prefix 0xFD) is `0xFD00 | subopcode`, e.g.
0xFD00 is v128.load and 0xFD6E is i8x16.add. Relaxed SIMD (sub-opcodes >= 0x100) is not modelled.

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

from .types import F32, F64, FUNCREF, I32, I64, V128, ValType

__all__ = ["OpInfo", "OPCODES", "BY_NAME", "IMM_KINDS", "CLASSES", "op_named"]

Sig = tuple[tuple[ValType, ...], tuple[ValType, ...]]

IMM_KINDS = (
    "", "blocktype", "label", "br_table", "func", "call_indirect", "local", "global", "table",
    "memarg", "mem", "i32", "i64", "f32", "f64", "select_t", "reftype", "data_mem", "data",
    "mem_mem", "elem_table", "elem", "table_table", "v128", "shuffle", "lane", "memarg_lane",
)

CLASSES = (
    "const", "local", "global", "load", "store", "memory", "control", "call", "int_arith",
    "int_mul", "int_div", "float_arith", "float_div_sqrt", "convert", "bitcount", "ref", "table",
    "parametric", "nop", "simd",
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


def _simd() -> None:
    """The 0xFD table, in the spec's sub-opcode order (gaps are reserved sub-opcodes)."""
    V = V128
    vv, v_v, vvv = ((V,), (V,)), ((V, V), (V,)), ((V, V, V), (V,))

    def op(sub: int, name: str, sig: Sig, cls: str = "simd", imm: str = "") -> None:
        _op(0xFD00 | sub, name, imm, sig, cls)

    load, store = ((I32,), (V,)), ((I32, V), ())
    for sub, name in enumerate(("v128.load", "v128.load8x8_s", "v128.load8x8_u", "v128.load16x4_s",
                                "v128.load16x4_u", "v128.load32x2_s", "v128.load32x2_u",
                                "v128.load8_splat", "v128.load16_splat", "v128.load32_splat",
                                "v128.load64_splat")):
        op(sub, name, load, "load", "memarg")
    op(0x0B, "v128.store", store, "store", "memarg")
    op(0x0C, "v128.const", ((), (V,)), "const", "v128")
    op(0x0D, "i8x16.shuffle", v_v, imm="shuffle")
    op(0x0E, "i8x16.swizzle", v_v)
    for sub, (shape, t) in enumerate((("i8x16", I32), ("i16x8", I32), ("i32x4", I32), ("i64x2", I64),
                                       ("f32x4", F32), ("f64x2", F64)), 0x0F):
        op(sub, f"{shape}.splat", ((t,), (V,)))
    sub = 0x15
    for shape, t, signed in (("i8x16", I32, True), ("i16x8", I32, True), ("i32x4", I32, False),
                             ("i64x2", I64, False), ("f32x4", F32, False), ("f64x2", F64, False)):
        for suffix in (("_s", "_u") if signed else ("",)):
            op(sub, f"{shape}.extract_lane{suffix}", ((V,), (t,)), imm="lane")
            sub += 1
        op(sub, f"{shape}.replace_lane", ((V, t), (V,)), imm="lane")
        sub += 1
    assert sub == 0x23
    int_rel = ("eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u")
    for shape in ("i8x16", "i16x8", "i32x4"):
        for rel in int_rel:
            op(sub, f"{shape}.{rel}", v_v)
            sub += 1
    for shape in ("f32x4", "f64x2"):
        for rel in ("eq", "ne", "lt", "gt", "le", "ge"):
            op(sub, f"{shape}.{rel}", v_v)
            sub += 1
    assert sub == 0x4D
    op(0x4D, "v128.not", vv)
    for sub, name in ((0x4E, "and"), (0x4F, "andnot"), (0x50, "or"), (0x51, "xor")):
        op(sub, f"v128.{name}", v_v)
    op(0x52, "v128.bitselect", vvv)
    op(0x53, "v128.any_true", ((V,), (I32,)))
    for sub, w in enumerate((8, 16, 32, 64), 0x54):
        op(sub, f"v128.load{w}_lane", ((I32, V), (V,)), "load", "memarg_lane")
    for sub, w in enumerate((8, 16, 32, 64), 0x58):
        op(sub, f"v128.store{w}_lane", ((I32, V), ()), "store", "memarg_lane")
    op(0x5C, "v128.load32_zero", load, "load", "memarg")
    op(0x5D, "v128.load64_zero", load, "load", "memarg")
    op(0x5E, "f32x4.demote_f64x2_zero", vv)
    op(0x5F, "f64x2.promote_low_f32x4", vv)
    # the rest, sub-opcode -> name, with signature by name below
    rest = {
        0x60: "i8x16.abs", 0x61: "i8x16.neg", 0x62: "i8x16.popcnt", 0x63: "i8x16.all_true",
        0x64: "i8x16.bitmask", 0x65: "i8x16.narrow_i16x8_s", 0x66: "i8x16.narrow_i16x8_u",
        0x67: "f32x4.ceil", 0x68: "f32x4.floor", 0x69: "f32x4.trunc", 0x6A: "f32x4.nearest",
        0x6B: "i8x16.shl", 0x6C: "i8x16.shr_s", 0x6D: "i8x16.shr_u", 0x6E: "i8x16.add",
        0x6F: "i8x16.add_sat_s", 0x70: "i8x16.add_sat_u", 0x71: "i8x16.sub", 0x72: "i8x16.sub_sat_s",
        0x73: "i8x16.sub_sat_u", 0x74: "f64x2.ceil", 0x75: "f64x2.floor", 0x76: "i8x16.min_s",
        0x77: "i8x16.min_u", 0x78: "i8x16.max_s", 0x79: "i8x16.max_u", 0x7A: "f64x2.trunc",
        0x7B: "i8x16.avgr_u", 0x7C: "i16x8.extadd_pairwise_i8x16_s",
        0x7D: "i16x8.extadd_pairwise_i8x16_u", 0x7E: "i32x4.extadd_pairwise_i16x8_s",
        0x7F: "i32x4.extadd_pairwise_i16x8_u",
        0x80: "i16x8.abs", 0x81: "i16x8.neg", 0x82: "i16x8.q15mulr_sat_s", 0x83: "i16x8.all_true",
        0x84: "i16x8.bitmask", 0x85: "i16x8.narrow_i32x4_s", 0x86: "i16x8.narrow_i32x4_u",
        0x87: "i16x8.extend_low_i8x16_s", 0x88: "i16x8.extend_high_i8x16_s",
        0x89: "i16x8.extend_low_i8x16_u", 0x8A: "i16x8.extend_high_i8x16_u", 0x8B: "i16x8.shl",
        0x8C: "i16x8.shr_s", 0x8D: "i16x8.shr_u", 0x8E: "i16x8.add", 0x8F: "i16x8.add_sat_s",
        0x90: "i16x8.add_sat_u", 0x91: "i16x8.sub", 0x92: "i16x8.sub_sat_s", 0x93: "i16x8.sub_sat_u",
        0x94: "f64x2.nearest", 0x95: "i16x8.mul", 0x96: "i16x8.min_s", 0x97: "i16x8.min_u",
        0x98: "i16x8.max_s", 0x99: "i16x8.max_u", 0x9B: "i16x8.avgr_u",
        0x9C: "i16x8.extmul_low_i8x16_s", 0x9D: "i16x8.extmul_high_i8x16_s",
        0x9E: "i16x8.extmul_low_i8x16_u", 0x9F: "i16x8.extmul_high_i8x16_u",
        0xA0: "i32x4.abs", 0xA1: "i32x4.neg", 0xA3: "i32x4.all_true", 0xA4: "i32x4.bitmask",
        0xA7: "i32x4.extend_low_i16x8_s", 0xA8: "i32x4.extend_high_i16x8_s",
        0xA9: "i32x4.extend_low_i16x8_u", 0xAA: "i32x4.extend_high_i16x8_u", 0xAB: "i32x4.shl",
        0xAC: "i32x4.shr_s", 0xAD: "i32x4.shr_u", 0xAE: "i32x4.add", 0xB1: "i32x4.sub",
        0xB5: "i32x4.mul", 0xB6: "i32x4.min_s", 0xB7: "i32x4.min_u", 0xB8: "i32x4.max_s",
        0xB9: "i32x4.max_u", 0xBA: "i32x4.dot_i16x8_s", 0xBC: "i32x4.extmul_low_i16x8_s",
        0xBD: "i32x4.extmul_high_i16x8_s", 0xBE: "i32x4.extmul_low_i16x8_u",
        0xBF: "i32x4.extmul_high_i16x8_u",
        0xC0: "i64x2.abs", 0xC1: "i64x2.neg", 0xC3: "i64x2.all_true", 0xC4: "i64x2.bitmask",
        0xC7: "i64x2.extend_low_i32x4_s", 0xC8: "i64x2.extend_high_i32x4_s",
        0xC9: "i64x2.extend_low_i32x4_u", 0xCA: "i64x2.extend_high_i32x4_u", 0xCB: "i64x2.shl",
        0xCC: "i64x2.shr_s", 0xCD: "i64x2.shr_u", 0xCE: "i64x2.add", 0xD1: "i64x2.sub",
        0xD5: "i64x2.mul", 0xD6: "i64x2.eq", 0xD7: "i64x2.ne", 0xD8: "i64x2.lt_s", 0xD9: "i64x2.gt_s",
        0xDA: "i64x2.le_s", 0xDB: "i64x2.ge_s", 0xDC: "i64x2.extmul_low_i32x4_s",
        0xDD: "i64x2.extmul_high_i32x4_s", 0xDE: "i64x2.extmul_low_i32x4_u",
        0xDF: "i64x2.extmul_high_i32x4_u",
        0xE0: "f32x4.abs", 0xE1: "f32x4.neg", 0xE3: "f32x4.sqrt", 0xE4: "f32x4.add",
        0xE5: "f32x4.sub", 0xE6: "f32x4.mul", 0xE7: "f32x4.div", 0xE8: "f32x4.min",
        0xE9: "f32x4.max", 0xEA: "f32x4.pmin", 0xEB: "f32x4.pmax",
        0xEC: "f64x2.abs", 0xED: "f64x2.neg", 0xEF: "f64x2.sqrt", 0xF0: "f64x2.add",
        0xF1: "f64x2.sub", 0xF2: "f64x2.mul", 0xF3: "f64x2.div", 0xF4: "f64x2.min",
        0xF5: "f64x2.max", 0xF6: "f64x2.pmin", 0xF7: "f64x2.pmax",
        0xF8: "i32x4.trunc_sat_f32x4_s", 0xF9: "i32x4.trunc_sat_f32x4_u",
        0xFA: "f32x4.convert_i32x4_s", 0xFB: "f32x4.convert_i32x4_u",
        0xFC: "i32x4.trunc_sat_f64x2_s_zero", 0xFD: "i32x4.trunc_sat_f64x2_u_zero",
        0xFE: "f64x2.convert_low_i32x4_s", 0xFF: "f64x2.convert_low_i32x4_u",
    }
    unary = ("abs", "neg", "popcnt", "ceil", "floor", "trunc", "nearest", "sqrt", "extend_",
             "extadd_", "convert", "demote", "promote")
    for sub, name in rest.items():
        op_name = name.split(".")[1]
        if op_name in ("all_true", "bitmask"):
            sig = ((V,), (I32,))
        elif op_name in ("shl", "shr_s", "shr_u"):
            sig = ((V, I32), (V,))
        elif op_name.startswith(unary) or op_name.startswith("trunc_sat"):
            sig = vv
        else:
            sig = v_v
        op(sub, name, sig)


_simd()

BY_NAME: dict[str, int] = {info.name: code for code, info in OPCODES.items()}


def op_named(name: str) -> int:
    """The opcode of a spec text name; KeyError names the unknown instruction."""
    return BY_NAME[name]
