"""The typing pass: stack types per instruction, the documented conventions, validation."""

import pytest
import wasmtime

from jeet.wasm import (
    BOT, F32, F64, FUNCREF, I32, I64, Body, Instr, WasmError, analyze, block_ends, decode, else_of,
    validate,
)

BLOCKS = (0x02, 0x03, 0x04)


def wat(text: str) -> bytes:
    return bytes(wasmtime.wat2wasm(text))


def func(body: str, sig: str = "", extra: str = "") -> tuple:
    """Analyze the single function `(func sig body)`; returns (instrs, infos)."""
    m = decode(wat(f"(module {extra} (func {sig} {body}))"))
    d = len(m.bodies) - 1
    return m.bodies[d].instrs, analyze(m, d)


def assert_conventions(instrs, infos) -> None:
    """Check every InstrInfo against the conventions documented in jeet.wasm.analysis."""
    assert len(instrs) == len(infos)
    ends = block_ends(instrs)
    opener = {e: b for b, e in ends.items()}
    for b, e in else_of(instrs).items():
        opener[e] = b
    last = len(instrs) - 1
    for i, (ins, info) in enumerate(zip(instrs, infos)):
        assert info.height == len(info.stack)
        if info.reachable:
            assert BOT not in info.stack
            assert info.stack[len(info.stack) - len(info.pops):] == info.pops, (i, ins, info)
        if i == last:
            assert ins.op == 0x0B and info.depth == 0
            continue
        nxt = infos[i + 1]
        op = ins.op
        if op in BLOCKS:
            assert nxt.depth == info.depth + 1 and nxt.stack == info.pushes and nxt.reachable
            assert infos[ends[i]].depth == info.depth + 1
        elif op == 0x05:
            assert nxt.depth == info.depth and nxt.stack == info.pushes and nxt.reachable
        elif op == 0x0B:
            blk = infos[opener[i]]
            assert nxt.depth == info.depth - 1 == blk.depth
            assert nxt.reachable == blk.reachable
            base = blk.stack[: max(0, blk.height - len(blk.pops))]
            assert nxt.stack == base + info.pushes, (i, ins)
        elif op in (0x00, 0x0C, 0x0E, 0x0F):
            assert not nxt.reachable and nxt.stack == () and nxt.depth == info.depth
        else:
            assert nxt.depth == info.depth and nxt.reachable == info.reachable
            assert nxt.stack == info.stack[: max(0, info.height - len(info.pops))] + info.pushes, (i, ins)


def test_straight_line_stack_types():
    instrs, infos = func("(i32.add (local.get 0) (i32.const 1)) (drop) (f64.const 1)", "(param i32) (result f64)")
    assert [i.name for i in instrs] == ["local.get", "i32.const", "i32.add", "drop", "f64.const", "end"]
    assert [x.stack for x in infos] == [(), (I32,), (I32, I32), (I32,), (), (F64,)]
    assert [x.pops for x in infos] == [(), (), (I32, I32), (I32,), (), (F64,)]
    assert [x.pushes for x in infos] == [(I32,), (I32,), (I32,), (), (F64,), (F64,)]
    assert all(x.depth == 0 and x.reachable for x in infos)
    assert_conventions(instrs, infos)


def test_blocks_are_frame_relative():
    instrs, infos = func("""
      (i64.const 5)
      (block (result i32) (i32.const 1) (br_if 0 (i32.const 0)))
      (drop) (drop)""", extra="(type $t (func))")
    names = [i.name for i in instrs]
    assert names == ["i64.const", "block", "i32.const", "i32.const", "br_if", "end", "drop", "drop", "end"]
    blk, c1, c0, brif, end = infos[1:6]
    assert blk.stack == (I64,) and blk.depth == 0 and blk.pops == () and blk.pushes == ()
    assert c1.stack == () and c1.depth == 1  # only the block's own frame
    assert brif.pops == (I32, I32) and brif.pushes == (I32,)
    assert end.depth == 1 and end.pops == (I32,) and end.pushes == (I32,)
    assert infos[6].stack == (I64, I32) and infos[6].depth == 0
    assert_conventions(instrs, infos)


def test_if_else_with_block_parameters():
    instrs, infos = func("""
      (i32.const 10) (local.get 0)
      (if (param i32) (result i64)
        (then (i64.extend_i32_u))
        (else (drop) (i64.const 3)))""",
      "(param i32) (result i64)")
    i_if = next(i for i, x in enumerate(instrs) if x.name == "if")
    i_else = else_of(instrs)[i_if]
    i_end = block_ends(instrs)[i_if]
    assert infos[i_if].pops == (I32, I32) and infos[i_if].pushes == (I32,)
    assert infos[i_if + 1].stack == (I32,) and infos[i_if + 1].depth == 1
    assert infos[i_else].pops == (I64,) and infos[i_else].pushes == (I32,)
    assert infos[i_else + 1].stack == (I32,)
    assert infos[i_end].pops == (I64,) and infos[i_end].pushes == (I64,)
    assert infos[i_end + 1].stack == (I64,) and infos[i_end + 1].depth == 0
    assert_conventions(instrs, infos)


def test_loop_label_takes_the_parameters():
    instrs, infos = func("""
      (local.get 0)
      (loop (param i32) (result i32)
        (br_if 0 (i32.sub (i32.const 1)) (local.tee 0) (local.get 0)) )""",
      "(param i32) (result i32)")
    brif = next(x for i, x in zip(instrs, infos) if i.name == "br_if")
    assert brif.pops == (I32, I32) and brif.pushes == (I32,)  # the loop label's type is its param
    assert_conventions(instrs, infos)


def test_dead_code_is_polymorphic():
    instrs, infos = func("""
      (block (result f32)
        (f32.const 1) (br 0)
        (i32.add) (drop) (select) )
      (drop)
      (unreachable) (i64.add) (drop)""")
    names = [i.name for i in instrs]
    add = names.index("i32.add")
    assert not infos[add].reachable and infos[add].stack == () and infos[add].pops == (I32, I32)
    drop = infos[add + 1]
    assert drop.stack == (I32,) and drop.pops == (I32,)
    sel = infos[add + 2]
    assert sel.pops == (BOT, BOT, I32) and sel.pushes == (BOT,)
    end = infos[add + 3]
    assert end.stack == (BOT,) and not end.reachable and end.pushes == (F32,)
    assert infos[add + 4].reachable  # after the block: live again
    assert_conventions(instrs, infos)


def test_calls_globals_tables_refs():
    m = decode(wat("""
      (module (type $bin (func (param i64 i64) (result i64)))
        (import "e" "f" (func $f (param f32) (result i32 i64)))
        (global $g (mut i64) (i64.const 0))
        (table $t 1 funcref) (table $x 1 externref)
        (elem declare func $h)
        (func $h (param i64 i64) (result i64) (local.get 0))
        (func (result i32)
          (call $f (f32.const 0)) (global.set $g) (drop)
          (drop (call_indirect (type $bin) (i64.const 1) (i64.const 2) (i32.const 0)))
          (drop (table.grow $x (ref.null extern) (i32.const 1)))
          (ref.is_null (ref.func $h))))
    """))
    instrs = m.bodies[1].instrs
    infos = analyze(m, 1)
    by = {i.name: x for i, x in zip(instrs, infos)}
    assert by["call"].pops == (F32,) and by["call"].pushes == (I32, I64)
    assert by["global.set"].pops == (I64,)
    assert by["call_indirect"].pops == (I64, I64, I32) and by["call_indirect"].pushes == (I64,)
    assert by["table.grow"].pops == (0x6F, I32)
    assert by["ref.is_null"].pops == (FUNCREF,) and by["ref.func"].pushes == (FUNCREF,)
    assert_conventions(instrs, infos)


@pytest.mark.parametrize("body, sig, reason", [
    ("(i32.add (i32.const 1) (i64.const 1))", "(result i32)", "type mismatch"),
    ("(i32.const 1)", "", "type mismatch"),
    ("(local.get 3)", "(param i32) (result i32)", "unknown local"),
    ("(global.set 0 (i32.const 1))", "", "unknown global"),
    ("(br 1)", "", "unknown label"),
    ("(call 7)", "", "unknown function"),
    ("(drop (i32.load align=8 (i32.const 0)))", "", "unknown memory|alignment"),
    ("(if (i32.const 1) (then (i32.const 1) (drop)))  (select (i32.const 1) (ref.null func) (i32.const 1)) drop", "", "type mismatch"),
    ("(block (result i32) (i64.const 1))", "(result i32)", "type mismatch"),
    ("(ref.func 0) (drop)", "", "undeclared function reference"),
])
def test_ill_typed_bodies_are_rejected(body, sig, reason):
    m = decode(wat(f"(module (func {sig} {body}))"))
    with pytest.raises(WasmError, match=reason) as e:
        analyze(m, 0)
    assert "function 0, instruction" in str(e.value)
    assert e.value.offset > 8  # a byte offset inside the code section


def test_ill_typed_ir_built_by_hand():
    m = decode(wat("(module (func (result i32) (i32.const 1)))"))
    bad = m.bodies[0].with_instrs([Instr.named("f32.const", 0), Instr.named("end")])
    with pytest.raises(WasmError, match=r"type mismatch.*relative to the body"):
        analyze(m.with_body(0, bad), 0)
    unclosed = m.bodies[0].with_instrs([Instr.named("i32.const", 1)])
    with pytest.raises(WasmError, match="END opcode expected"):
        analyze(m.with_body(0, unclosed), 0)
    trailing = m.bodies[0].with_instrs([Instr.named("i32.const", 1), Instr.named("end"), Instr.named("nop")])
    with pytest.raises(WasmError, match="after the function's final end"):
        analyze(m.with_body(0, trailing), 0)
    else_alone = m.bodies[0].with_instrs([Instr.named("else"), Instr.named("i32.const", 1), Instr.named("end")])
    with pytest.raises(WasmError, match="else without matching if"):
        analyze(m.with_body(0, else_alone), 0)
    too_many = Body(((60_000, I32),), (Instr.named("i32.const", 1), Instr.named("end")))
    with pytest.raises(WasmError, match="too many locals"):
        analyze(m.with_body(0, too_many), 0)


def test_opaque_bodies_cannot_be_analyzed():
    m = decode(wat("(module (func return_call 0))"))  # tail calls are not modelled
    with pytest.raises(WasmError, match="opaque"):
        analyze(m, 0)
    validate(m)  # module-level validation skips what it cannot see


def test_if_without_else_needs_matching_types():
    m = decode(wat("(module (func (result i32) (i32.const 0) (if (result i32) (i32.const 1) (then (i32.const 2)) (else (i32.const 3)))))"))
    ins = list(m.bodies[0].instrs)
    e = ins.index(next(i for i in ins if i.name == "else"))
    no_else = ins[:e] + ins[e + 2:]  # drop `else` and `i32.const 3`
    with pytest.raises(WasmError, match="if without else"):
        analyze(m.with_body(0, m.bodies[0].with_instrs(no_else)), 0)


def test_block_ends_and_else_of():
    instrs, _ = func("(block (loop (if (i32.const 0) (then) (else nop)))) (if (i32.const 1) (then))")
    names = [i.name for i in instrs]
    assert names == ["block", "loop", "i32.const", "if", "else", "nop", "end", "end", "end",
                     "i32.const", "if", "end", "end"]
    assert block_ends(instrs) == {0: 8, 1: 7, 3: 6, 10: 11}
    assert else_of(instrs) == {3: 4}


@pytest.mark.parametrize("text, reason", [
    ("(module (memory 2) (memory 1))", "multiple memories"),
    ("(module (memory 70000))", "at most 65536"),
    ("(module (table 2 1 funcref))", "minimum must not be greater"),
    ("(module (global i32 (i64.const 0)))", "type mismatch"),
    ("(module (global $a i32 (i32.const 0)) (global i32 (global.get $a)))", "defined global"),
    ("(module (import \"a\" \"b\" (global (mut i32))) (global i32 (global.get 0)))", "mutable global"),
    ("(module (global i32 (i32.add (i32.const 1) (i32.const 2))))", "constant expression required"),
    ("(module (func (param i32)) (start 0))", "start function"),
    ("(module (func (export \"a\")) (func (export \"a\")))", "duplicate export"),
    ("(module (table 1 externref) (func $f) (elem (i32.const 0) func $f))", "type mismatch"),
    ("(module (data (i32.const 0) \"x\"))", "unknown memory"),
])
def test_module_level_validation(text, reason):
    with pytest.raises(WasmError, match=reason):
        validate(decode(wat(text)))


def test_validate_accepts_a_well_formed_module():
    validate(decode(wat("""
      (module (import "a" "g" (global i32)) (memory 1 2) (table 2 funcref)
        (global i32 (global.get 0)) (global funcref (ref.func $f))
        (func $f (export "f") (param i32) (result i32) (local.get 0))
        (elem (global.get 0) $f) (data (i32.const 8) "x") (start $g) (func $g))
    """)))


def test_loop_count_counts_the_exported_functions_loops():
    from jeet.wasm.analysis import loop_count
    two = wat('(module (func (export "f") (loop (loop)) (block)))')
    assert loop_count(two, "f") == 2
    assert loop_count(two, "g") is None and loop_count(b"not wasm", "f") is None
