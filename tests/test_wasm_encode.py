"""Encoding: canonical instructions, byte-identical round trips, modified modules that run."""

import pytest
import wasmtime

from jeet.wasm import (
    BY_NAME, EXTERNREF, I32, Body, ConstExpr, Data, Element, Export, FuncType, Instr,
    Module, WasmError, analyze, decode, encode_body, encode_instr, validate,
)
from jeet.wasm.encode import encode_module

HEADER = b"\x00asm\x01\x00\x00\x00"


def wat(text: str) -> bytes:
    return bytes(wasmtime.wat2wasm(text))


def run(data: bytes, name: str, *args):
    engine = wasmtime.Engine()
    wasmtime.Module.validate(engine, data)
    store = wasmtime.Store(engine)
    inst = wasmtime.Instance(store, wasmtime.Module(engine, data), [])
    return inst.exports(store)[name](store, *args)


@pytest.mark.parametrize("name, imm, expected", [
    ("i32.const", (5,), b"\x41\x05"),
    ("i32.const", (-1,), b"\x41\x7f"),
    ("i32.const", (0xFFFFFFFF,), b"\x41\x7f"),  # wrapped into the signed range
    ("i32.const", (64,), b"\x41\xc0\x00"),
    ("i64.const", (-(2**63),), b"\x42" + b"\x80" * 9 + b"\x7f"),
    ("f32.const", (0x3F800000,), b"\x43\x00\x00\x80\x3f"),
    ("f64.const", (0x7FF8000000000001,), b"\x44\x01\x00\x00\x00\x00\x00\xf8\x7f"),
    ("local.get", (300,), b"\x20\xac\x02"),
    ("i64.load", (3, 16), b"\x29\x03\x10"),
    ("block", (-64,), b"\x02\x40"),
    ("loop", (-1,), b"\x03\x7f"),
    ("if", (70,), b"\x04\xc6\x00"),
    ("br_table", ((0, 1, 2), 3), b"\x0e\x03\x00\x01\x02\x03"),
    ("call_indirect", (4, 0), b"\x11\x04\x00"),
    ("select_t", ((I32,),), b"\x1c\x01\x7f"),
    ("ref.null", (EXTERNREF,), b"\xd0\x6f"),
    ("memory.grow", (0,), b"\x40\x00"),
    ("memory.copy", (0, 0), b"\xfc\x0a\x00\x00"),
    ("memory.init", (2, 0), b"\xfc\x08\x02\x00"),
    ("table.init", (1, 0), b"\xfc\x0c\x01\x00"),
    ("table.copy", (0, 1), b"\xfc\x0e\x00\x01"),
    ("i32.trunc_sat_f32_s", (), b"\xfc\x00"),
    ("i32.add", (), b"\x6a"),
    ("end", (), b"\x0b"),
])
def test_canonical_instruction_encoding(name, imm, expected):
    assert encode_instr(Instr(BY_NAME[name], imm)) == expected


def test_raw_bytes_are_reused_even_when_not_minimal():
    # i32.const 1 as a padded s32, local.get 0 padded to 3 bytes
    code = b"\x01\x0b\x00\x41\x81\x80\x00\x20\x80\x80\x00\x6a\x0b"
    data = (HEADER + b"\x01\x06\x01\x60\x01\x7f\x01\x7f" + b"\x03\x02\x01\x00"
            + b"\x07\x05\x01\x01f\x00\x00" + b"\x0a" + bytes((len(code),)) + code)
    m = decode(data)
    assert m.bodies[0].instrs[0].imm == (1,) and m.bodies[0].instrs[0].raw == b"\x41\x81\x80\x00"
    assert m.encode() == data
    assert run(data, "f", 41) == 42
    # an operator's change keeps the untouched padded instructions byte for byte
    ins = list(m.bodies[0].instrs)
    ins[0] = Instr.named("i32.const", 100)
    out = m.with_body(0, m.bodies[0].with_instrs(ins)).encode()
    assert b"\x20\x80\x80\x00" in out and run(out, "f", 41) == 141


def test_replacing_a_constant_changes_behaviour():
    data = wat("""
      (module
        (func $sq (param i32) (result i32) (i32.mul (local.get 0) (local.get 0)))
        (func (export "f") (param i32) (result i32)
          (i32.add (call $sq (local.get 0)) (i32.const 7))))
    """)
    m = decode(data)
    d = m.defined_index(m.export_func("f"))
    body = m.bodies[d]
    k = next(i for i, x in enumerate(body.instrs) if x.name == "i32.const")
    ins = list(body.instrs)
    ins[k] = ins[k].with_imm(-3)
    m2 = m.with_body(d, body.with_instrs(ins))
    out = m2.encode()
    assert run(data, "f", 5) == 32
    assert run(out, "f", 5) == 22
    analyze(m2, d)
    assert m.encode() == data  # the parent is untouched
    # only the code section changed
    assert out[: data.index(b"\x0a", 8)] == data[: data.index(b"\x0a", 8)]


def test_structural_change_with_new_block_and_local():
    m = decode(wat("""(module (func (export "abs") (param i32) (result i32) (local.get 0)))"""))
    n = Instr.named
    new = Body(((1, I32),), (
        n("local.get", 0), n("local.set", 1),
        n("local.get", 1), n("i32.const", 0), n("i32.lt_s"),
        n("if", -64), n("i32.const", 0), n("local.get", 1), n("i32.sub"), n("local.set", 1), n("end"),
        n("local.get", 1), n("end"),
    ))
    m2 = m.with_body(0, new)
    analyze(m2, 0)
    out = m2.encode()
    assert run(out, "abs", -9) == 9 and run(out, "abs", 4) == 4
    assert decode(out).bodies[0] == new
    assert encode_body(new) == decode(out).bodies[0].raw


def test_changing_other_sections():
    data = wat("""(module (func $f (result i32) (i32.const 3)) (func $g (result i32) (i32.const 4)) (export "f" (func $f)))""")
    m = decode(data)
    m2 = m.replace(exports=m.exports + (Export("g", 0, 1),))
    out = m2.encode()
    assert run(out, "g") == 4 and run(out, "f") == 3
    code_start = data.index(b"\x0a", data.index(b"\x07"))
    assert data[code_start:] in out  # untouched code section is copied
    m3, t = m.add_type(FuncType((I32, I32), (I32,)))
    assert decode(m3.encode()).types[t] == FuncType((I32, I32), (I32,))


def test_canonical_reencode_of_every_section():
    data = wat("""
      (module (type (func (param i32)))
        (import "env" "f" (func (param i32)))
        (import "env" "m" (memory 1))
        (table $t 2 funcref) (table 1 externref)
        (global (mut f64) (f64.const 2.5))
        (func $a (export "a") (param i32) (call 0 (local.get 0)))
        (func $s)
        (elem (i32.const 0) $a) (elem func $a) (elem (table 1) (i32.const 0) externref (ref.null extern))
        (elem declare funcref (ref.func $a))
        (data (i32.const 1) "x") (data "yz")
        (start $s)
        (@custom "c" "payload"))
    """)
    m = decode(data)
    out = encode_module(m, reuse_raw=False)
    m2 = decode(out)
    assert m2 == m
    validate(m2)


def test_element_form_is_recomputed_when_it_no_longer_fits():
    m = decode(wat("(module (table 2 funcref) (table 2 funcref) (func $f) (elem (i32.const 0) $f))"))
    el = m.elements[0]
    moved = Element(el.mode, el.type, el.init, 1, el.offset, el.flags)  # to table 1: form 0 cannot say that
    out = m.replace(elements=(moved,)).encode()
    got = decode(out).elements[0]
    assert got.table == 1 and got.flags == 2 and got.init == (0,)
    fresh = Element("passive", EXTERNREF, (ConstExpr((Instr.named("ref.null", EXTERNREF), Instr.named("end"))),))
    assert decode(m.replace(elements=(fresh,)).encode()).elements[0].flags == 5


def test_built_module_from_scratch():
    n = Instr.named
    m = Module(
        types=(FuncType((I32,), (I32,)),),
        funcs=(0,),
        exports=(Export("inc", 0, 0),),
        bodies=(Body((), (n("local.get", 0), n("i32.const", 1), n("i32.add"), n("end"))),),
        data=(),
    )
    validate(m)
    assert run(m.encode(), "inc", 1) == 2


def test_dataclasses_replace_pitfall_is_avoided_by_with_imm():
    m = decode(wat("(module (func (result i32) (i32.const 1)))"))
    c = m.bodies[0].instrs[0]
    assert c.raw is not None and c.with_imm(2).raw is None
    assert encode_instr(c.with_imm(2)) == b"\x41\x02"


def test_passive_data_segment_encoding():
    m = decode(wat("(module (memory 1) (data \"abc\") (func (memory.init 0 (i32.const 0) (i32.const 0) (i32.const 3))))"))
    m2 = m.replace(data=(Data("passive", b"hello"),))
    out = m2.encode()
    assert decode(out).data[0].init == b"hello"
    wasmtime.Module.validate(wasmtime.Engine(), out)


@pytest.mark.parametrize("instr", [
    Instr(0x1234, ()),  # no such opcode
    Instr.named("local.get", -1),
    Instr.named("call", 2**32),
])
def test_impossible_instructions_raise_wasm_error(instr):
    with pytest.raises(WasmError):
        encode_instr(instr)


def test_opaque_body_without_bytes_cannot_be_encoded():
    m = decode(wat("(module (func return_call 0))"))
    with pytest.raises(WasmError, match="opaque"):
        m.with_body(0, m.bodies[0].with_locals(((1, I32),))).encode()
