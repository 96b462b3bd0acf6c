"""Decoding: every section into the Module IR, and the Module helpers."""

import pickle

import pytest
import wasmtime

from jeet.wasm import (
    BY_NAME, EMPTY_BLOCK, EXTERNREF, F32, FUNC, FUNCREF, GLOBAL, I32, I64, MEMORY,
    Body, ConstExpr, Data, Export, FuncType, GlobalType, Instr, Limits, MemType, Module,
    TableType, WasmError, decode,
)


def wat(text: str) -> bytes:
    return bytes(wasmtime.wat2wasm(text))


def sec(sid: int, payload: bytes) -> bytes:
    assert len(payload) < 128
    return bytes((sid, len(payload))) + payload


HEADER = b"\x00asm\x01\x00\x00\x00"


def names(instrs) -> list[str]:
    return [i.name for i in instrs]


def test_empty_module():
    m = decode(HEADER)
    assert m == Module()
    assert m.encode() == HEADER


def test_sections_of_a_small_module():
    m = decode(wat("""
      (module
        (import "env" "log" (func $log (param i32)))
        (import "env" "g" (global $g i32))
        (import "env" "mem" (memory 1 2))
        (type $t (func (param i32 i32) (result i32)))
        (table 3 funcref)
        (global $counter (mut i64) (i64.const -7))
        (func $add (export "add") (type $t) (i32.add (local.get 0) (local.get 1)))
        (func $main (export "main") (local f32 f32 i64)
          (call $log (i32.const 42)))
        (elem (i32.const 0) $add $main)
        (data (i32.const 16) "hi")
        (start $main))
    """))
    assert m.types[m.funcs[0]] == FuncType((I32, I32), (I32,))
    assert [(i.module, i.name, i.kind) for i in m.imports] == [("env", "log", FUNC), ("env", "g", GLOBAL), ("env", "mem", MEMORY)]
    assert m.imports[2].desc == MemType(Limits(1, 2))
    assert m.tables == (TableType(FUNCREF, Limits(3, None)),)
    assert m.globals[0].type == GlobalType(I64, True)
    assert names(m.globals[0].init.instrs) == ["i64.const", "end"] and m.globals[0].init.instrs[0].imm == (-7,)
    assert m.exports == (Export("add", FUNC, 1), Export("main", FUNC, 2))
    assert m.start == 2
    assert m.elements[0].mode == "active" and m.elements[0].init == (1, 2) and m.elements[0].flags == 0
    assert m.data[0] == Data("active", b"hi", 0, m.data[0].offset, 0)
    assert m.bodies[1].locals == ((2, F32), (1, I64))
    assert names(m.bodies[0].instrs) == ["local.get", "local.get", "i32.add", "end"]

    assert m.num_imported_funcs == 1 and m.num_funcs == 3
    assert m.func_type(0) == FuncType((I32,), ())
    assert m.func_type(1) == FuncType((I32, I32), (I32,))
    assert m.defined_index(2) == 1 and m.func_index(1) == 2
    with pytest.raises(IndexError):
        m.defined_index(0)  # an import
    assert m.exported_functions() == {"add": 1, "main": 2}
    assert m.export_func("main") == 2 and m.export_func("nope") is None
    assert m.global_types == (GlobalType(I32, False), GlobalType(I64, True))
    assert m.memory_types == (MemType(Limits(1, 2)),)


def test_immediates_follow_the_documented_representation():
    m = decode(wat("""
      (module (memory 1) (table 2 funcref) (type $t (func (param i32) (result i32 i32)))
        (func $f (param i32) (result i32 i32) (local.get 0) (local.get 0))
        (func (result f64)
          (drop (i32.load16_u offset=12 align=1 (i32.const -1)))
          (drop (i64.const -9223372036854775808))
          (drop (f32.const -0x1p+0))
          (drop (f32.const nan:0x200001))
          (block $b (br_table 0 0 $b (i32.const 1)))
          (drop (call_indirect (type $t) (i32.const 5) (i32.const 0)))
          (drop (select (result i32) (i32.const 1) (i32.const 2) (i32.const 3)))
          (drop (memory.grow (i32.const 1)))
          (f64.const 1.5)))
    """))
    ins = m.bodies[1].instrs
    by = {}
    for i in ins:
        by.setdefault(i.name, i)
    assert by["i32.load16_u"].imm == (0, 12)  # align is the log2 exponent
    assert by["i32.const"].imm == (-1,)
    assert by["i64.const"].imm == (-(2**63),)
    f32s = [i.imm[0] for i in ins if i.name == "f32.const"]
    assert f32s == [0xBF800000, 0x7FA00001]  # bit patterns, NaN payload kept
    assert by["f64.const"].imm == (0x3FF8000000000000,)
    assert by["block"].imm == (EMPTY_BLOCK,)
    assert by["br_table"].imm == ((0, 0), 0)
    assert by["call_indirect"].imm == (0, 0)
    assert by["select_t"].imm == ((I32,),)
    assert by["memory.grow"].imm == (0,)


def test_multi_value_block_type_is_a_type_index():
    m = decode(wat("""
      (module (type $pair (func (param i32) (result i32 i32)))
        (func (result i32 i32) (i32.const 1) (block (type $pair) (param i32) (result i32 i32) (i32.const 2))))
    """))
    blk = next(i for i in m.bodies[0].instrs if i.name == "block")
    assert blk.imm[0] >= 0 and m.types[blk.imm[0]] == FuncType((I32,), (I32, I32))


def test_bulk_memory_and_reference_instructions():
    m = decode(wat("""
      (module (memory 1) (table $t 2 funcref) (table $u 1 externref)
        (data $d "abc") (elem $e func $f)
        (func $f
          (memory.init $d (i32.const 0) (i32.const 0) (i32.const 1))
          (data.drop $d)
          (memory.copy (i32.const 0) (i32.const 1) (i32.const 1))
          (memory.fill (i32.const 0) (i32.const 0) (i32.const 1))
          (table.init $t $e (i32.const 0) (i32.const 0) (i32.const 1))
          (elem.drop $e)
          (table.copy $t $t (i32.const 0) (i32.const 0) (i32.const 1))
          (drop (table.grow $u (ref.null extern) (i32.const 1)))
          (drop (table.size $t))
          (table.fill $u (i32.const 0) (ref.null extern) (i32.const 1))
          (table.set $t (i32.const 0) (ref.func $f))
          (drop (ref.is_null (table.get $t (i32.const 0))))
          (drop (i32.trunc_sat_f32_s (f32.const 1)))
          (drop (i64.extend32_s (i64.const 1)))))
    """))
    got = {i.name: i.imm for i in m.bodies[0].instrs}
    assert got["memory.init"] == (0, 0)
    assert got["data.drop"] == (0,)
    assert got["memory.copy"] == (0, 0)
    assert got["memory.fill"] == (0,)
    assert got["table.init"] == (0, 0)
    assert got["elem.drop"] == (0,)
    assert got["table.copy"] == (0, 0)
    assert got["table.grow"] == (1,)
    assert got["ref.null"] == (EXTERNREF,)
    assert got["ref.func"] == (0,)
    assert "i32.trunc_sat_f32_s" in got and "i64.extend32_s" in got
    assert m.data_count == 1
    assert BY_NAME["memory.init"] == 0xFC08


def test_all_eight_element_segment_forms():
    m = decode(wat("""
      (module (table $t0 4 funcref) (table $t1 4 funcref) (table $x 4 externref)
        (func $a) (func $b)
        (elem (i32.const 0) $a $b)                                   ;; 0
        (elem func $a)                                               ;; 1
        (elem (table $t1) (i32.const 0) func $b)                     ;; 2
        (elem declare func $a)                                       ;; 3
        (elem (i32.const 2) funcref (ref.func $a) (ref.null func))   ;; 4
        (elem externref (ref.null extern))                           ;; 5
        (elem (table $x) (i32.const 0) externref (ref.null extern))  ;; 6
        (elem declare funcref (ref.func $b)))                        ;; 7
    """))
    els = m.elements
    assert [e.flags for e in els] == list(range(8))
    assert [e.mode for e in els] == ["active", "passive", "active", "declarative"] * 2
    assert els[2].table == 1 and els[6].table == 2
    assert els[5].type == EXTERNREF and els[6].type == EXTERNREF
    assert els[0].init == (0, 1)
    assert isinstance(els[4].init[0], ConstExpr) and els[4].func_indices() == (0,)
    assert m.table_funcs() == frozenset({0, 1})


def test_three_data_segment_forms():
    data = HEADER + sec(5, b"\x01\x00\x01") + sec(12, b"\x03") + sec(
        11, b"\x03" + b"\x00\x41\x00\x0b\x01a" + b"\x01\x02bc" + b"\x02\x00\x41\x04\x0b\x00")
    m = decode(data)
    assert [(d.mode, d.init, d.memory, d.flags) for d in m.data] == [
        ("active", b"a", 0, 0), ("passive", b"bc", 0, 1), ("active", b"", 0, 2)]
    assert m.encode() == data


def test_custom_sections_keep_their_positions():
    body = sec(1, b"\x01\x60\x00\x00") + sec(0, b"\x04name\x00") + sec(3, b"\x01\x00") + sec(10, b"\x01\x02\x00\x0b")
    data = HEADER + sec(0, b"\x03pre123") + body + sec(0, b"\x04post")
    m = decode(data)
    assert [(c.name, c.payload, c.after) for c in m.customs] == [("pre", b"123", 0), ("name", b"\x00", 1), ("post", b"", 10)]
    assert m.encode() == data


def test_simd_body_is_modelled_and_relaxed_simd_is_opaque_and_kept():
    data = wat("""
      (module (func (export "f") (param i32) (result i32)
         (i32x4.extract_lane 1 (i32x4.splat (local.get 0))))
        (func (param v128) (result v128) (i8x16.relaxed_swizzle (local.get 0) (local.get 0)))
        (func (result i32) (i32.const 1)))
    """)
    m = decode(data)
    assert [i.name for i in m.bodies[0].instrs] == ["local.get", "i32x4.splat", "i32x4.extract_lane", "end"]
    assert m.bodies[1].instrs is None and m.bodies[1].opaque
    assert m.bodies[2].instrs is not None
    assert m.encode() == data
    assert m.call_graph()[1] == frozenset({0, 1, 2})  # an opaque body may call anything


def test_v128_global_initializer_is_a_constant_expression():
    data = wat("(module (global v128 (v128.const i32x4 1 2 3 4)))")
    m = decode(data)
    assert [i.name for i in m.globals[0].init.instrs] == ["v128.const", "end"]
    assert m.globals[0].init.instrs[0].imm == ((4 << 96) | (3 << 64) | (2 << 32) | 1,)
    assert m.encode() == data


@pytest.mark.parametrize("code, reason", [
    (b"\x01\x05\x00\x41\x01\x1a\x0b", None),  # fine: i32.const 1, drop
    (b"\x01\x04\x00\x41\x01\x1a", "END opcode expected"),
    (b"\x01\x05\x00\x00\xff\x00\x0b", "illegal opcode"),
    (b"\x01\x06\x00\x0b\x41\x01\x1a\x0b", "after the function's final end"),
    (b"\x01\x06\x00\x02\x63\x0b\x0b\x0b", "malformed block type"),
    (b"\x01\x08\x01\xff\xff\xff\xff\x0f\x7f\x0b", "too many locals"),
    (b"\x01\x08\x00\x41\x00\x28\x80\x01\x00\x0b", "malformed memop flags"),
    (b"\x01\x05\x00\xfc\x09\x00\x0b", "data count section required"),
])
def test_body_level_malformations(code, reason):
    data = HEADER + sec(1, b"\x01\x60\x00\x00") + sec(3, b"\x01\x00") + sec(10, code)
    if reason is None:
        decode(data)
        return
    with pytest.raises(WasmError, match=reason):
        decode(data)


@pytest.mark.parametrize("data, reason", [
    (b"", "unexpected end"), (b"\x00as", "unexpected end"), (b"\x01", "magic header"), (b"\x00asm\x01\x00", "unexpected end"),
    (b"asm\x00\x01\x00\x00\x00", "magic header"), (b"\x00asm\x02\x00\x00\x00", "unknown binary version"),
    (HEADER + b"\x0d\x00", "malformed section id"),
    (HEADER + sec(3, b"\x00") + sec(1, b"\x00"), "out of order"),
    (HEADER + sec(1, b"\x00") + sec(1, b"\x00"), "out of order"),
    (HEADER + b"\x01\x05\x00", "length out of bounds"),
    (HEADER + sec(1, b"\x00\x00"), "section size mismatch"),
    (HEADER + sec(1, b"\x01\x60\x00\x00") + sec(3, b"\x01\x00"), "inconsistent lengths"),
    (HEADER + sec(12, b"\x01"), "inconsistent lengths"),
    (HEADER + sec(2, b"\x01\x00\x00\x04\x00"), "malformed import kind"),
    (HEADER + sec(5, b"\x01\x02\x00"), "malformed limits flags"),
    (HEADER + sec(6, b"\x01\x7f\x02\x41\x00\x0b"), "malformed mutability"),
    (HEADER + sec(4, b"\x01\x7f\x00\x00"), "malformed reference type"),
    (HEADER + sec(1, b"\x01\x60\x01\x55\x00"), "malformed value type"),
    (HEADER + sec(9, b"\x01\x08"), "malformed elements segment kind"),
    (HEADER + sec(11, b"\x01\x03"), "malformed data segment kind"),
    (HEADER + sec(6, b"\x01\x7f\x00\xf3\x00\x0b"), "illegal opcode"),
    (HEADER + sec(0, b"\x02\xc0\x80"), "malformed UTF-8"),
    (HEADER + sec(1, b"\x01\x60\x00\x00") + sec(3, b"\x01\x05") + sec(10, b"\x01\x02\x00\x0b"), "unknown type"),
    (HEADER + sec(7, b"\x01\x01f\x00\x00"), "unknown export index"),
])
def test_module_level_malformations(data, reason):
    with pytest.raises(WasmError, match=reason) as e:
        decode(data)
    assert "offset" in str(e.value)


def test_huge_claimed_counts_fail_fast():
    huge = b"\xff\xff\xff\xff\x0f"
    for data in (
        HEADER + bytes((1, 5)) + huge,  # 2^32-1 types
        HEADER + sec(1, b"\x01\x60" + huge + b"\x00"),  # params
        HEADER + sec(1, b"\x01\x60\x00\x00") + sec(3, b"\x01\x00") + sec(10, b"\x01\x09\x00\x0e" + huge + b"\x00\x0b"),
        HEADER + sec(11, b"\x01\x01" + huge),  # data bytes
        HEADER + sec(0, huge + b"x"),  # custom name length
    ):
        with pytest.raises(WasmError, match="length out of bounds|unexpected end"):
            decode(data)


def test_decoded_values_are_shared_not_copied():
    data = wat("(module (func (result i32) (i32.add (i32.const 1) (i32.const 1))))")
    m = decode(data)
    a, b = m.bodies[0].instrs[0], m.bodies[0].instrs[1]
    assert a is b  # equal encodings share one Instr


def test_call_graph_and_reachability():
    m = decode(wat("""
      (module (type $v (func))
        (import "e" "imp" (func $imp))
        (table 2 funcref)
        (func $a call $b)
        (func $b call $imp)
        (func $c (call_indirect (type $v) (i32.const 0)))
        (func $d)
        (func $e)
        (elem (i32.const 0) $d))
    """))
    g = m.call_graph()
    assert g[0] == frozenset() and g[1] == {2} and g[2] == {0} and g[3] == {4}
    assert m.reachable_functions(1) == {0, 1, 2}
    assert m.reachable_functions(3) == {3, 4}
    assert m.reachable_functions(5) == {5}


def test_with_body_leaves_the_original_alone():
    data = wat("(module (func (export \"f\") (result i32) (i32.const 7)) (func))")
    m = decode(data)
    body = m.bodies[0]
    new = body.with_instrs([Instr(BY_NAME["i32.const"], (8,)), Instr(BY_NAME["end"])])
    m2 = m.with_body(0, new)
    assert m.bodies[0] is body and m.encode() == data
    assert m2.bodies[0] == new and m2.bodies[1] is m.bodies[1]
    assert m2.types is m.types and m2.exports is m.exports
    assert m2.encode() != data
    m3 = m.with_bodies({0: new, 1: m.bodies[1]})
    assert m3.encode() == m2.encode()


def test_replace_and_add_type():
    m = decode(wat("(module (func))"))
    m2, idx = m.add_type(FuncType((I32,), (I32,)))
    assert idx == 1 and len(m.types) == 1 and m2.types[1] == FuncType((I32,), (I32,))
    assert m2.add_type(FuncType((), ()))[1] == 0
    with pytest.raises(TypeError):
        m.replace(nonsense=1)
    assert decode(m2.encode()).types == m2.types


def test_module_pickles_with_its_original_bytes():
    data = wat("(module (func (export \"f\") (result i32) (i32.const 7)) (@custom \"x\" \"yz\"))")
    m = decode(data)
    m.call_graph()  # fill the cache; it must not travel
    m2 = pickle.loads(pickle.dumps(m))
    assert m2 == m and m2.encode() == data
    assert pickle.loads(pickle.dumps(m.with_body(0, m.bodies[0].with_instrs(m.bodies[0].instrs)))) is not None


def test_opaque_body_equality_uses_bytes():
    a = Body((), None, b"\x00\xfd\x0f\x0b")
    b = Body((), None, b"\x00\xfd\x10\x0b")
    assert a != b and a == Body((), None, b"\x00\xfd\x0f\x0b")


def test_post_2_0_feature_in_a_body_is_opaque_if_scannable():
    # return_call (tail calls) is not modelled: the body is kept but opaque
    data = HEADER + sec(1, b"\x01\x60\x00\x00") + sec(3, b"\x01\x00") + sec(10, b"\x01\x04\x00\x12\x00\x0b")
    m = decode(data)
    assert m.bodies[0].opaque and m.encode() == data
    # multi-memory memarg with memory index 1: opaque; with memory index 0: modelled
    code = lambda mem: sec(10, b"\x01\x09\x00\x41\x00\x28\x42" + bytes((mem,)) + b"\x00\x1a\x0b")
    base = HEADER + sec(1, b"\x01\x60\x00\x00") + sec(3, b"\x01\x00") + sec(5, b"\x01\x00\x01")
    assert decode(base + code(1)).bodies[0].opaque
    m0 = decode(base + code(0))
    assert m0.bodies[0].instrs[1].imm == (2, 0) and m0.encode() == base + code(0)
