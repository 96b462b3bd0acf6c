"""Exact specifications: this WAT becomes that WAT, for each structural operator's edits."""

from __future__ import annotations

import base64
import json
import math
import random

import pytest
import wasmtime
from genetics_support import ENGINE, FRAME, KERNEL_DIR, POPCOUNT_LOOP, assert_becomes, is_valid, wat

from jeet.genetics import Genome
from jeet.genetics.const_perturb import ConstPerturb, perturb_value, set_const
from jeet.genetics.copy_run import CopyRun, insert_run, map_locals
from jeet.genetics.crossover_function import CrossoverFunction
from jeet.genetics.crossover_splice import CrossoverSplice, splice
from jeet.genetics.delete_run import DeleteRun, delete
from jeet.genetics.opcode_swap import ALTERNATIVES, OpcodeSwap, swap_opcode
from jeet.genetics.promote_slot import PromoteSlot, find_slots, promote
from jeet.genetics.replace_expr import ReplaceExpr, replace
from jeet.genetics.runs import expressions, labels_internal, neutral_runs
from jeet.genetics.sites import facts
from jeet.genetics.swap_runs import SwapRuns
from jeet.wasm.decode import decode
from jeet.wasm.ir import Body, Instr
from jeet.wasm.opcodes import BY_NAME, OPCODES
from jeet.wasm.types import F32, I32, I64


def op(name: str, *imm) -> Instr:
    return Instr(BY_NAME[name], tuple(imm))


def genome(text: str) -> Genome:
    return Genome.from_bytes(wat(text), "f")


def body_of(text: str, index: int = 0) -> Body:
    return decode(wat(text)).bodies[index]


def assert_body(actual: Body, expected_wat: str, index: int = 0) -> None:
    expected = body_of(expected_wat, index)
    assert [repr(i) for i in actual.instrs] == [repr(i) for i in expected.instrs]
    assert actual.local_types() == expected.local_types()


def call(wasm: bytes, *args):
    store = wasmtime.Store(ENGINE)
    instance = wasmtime.Instance(store, wasmtime.Module(ENGINE, wasm), [])
    return instance.exports(store)["f"](store, *args)


# -- runs ------------------------------------------------------------------------------------------

# POPCOUNT_LOOP by index: 0 block, 1 loop, 2 local.get 0, 3 i32.eqz, 4 br_if 1, 5 local.get 1,
# 6 local.get 0, 7 i32.const 1, 8 i32.and, 9 i32.add, 10 local.set 1, 11 local.get 0,
# 12 i32.const 1, 13 i32.shr_u, 14 local.set 0, 15 br 0, 16 end, 17 end, 18 local.get 1, 19 end


def test_neutral_runs_and_expressions_of_the_bit_count_loop():
    f = facts(genome(POPCOUNT_LOOP), 0)
    assert neutral_runs(f.instrs, f.infos, f.ends, 0) == [18]          # the whole block
    assert neutral_runs(f.instrs, f.infos, f.ends, 2) == [5, 11, 15]   # the test, then the updates
    assert neutral_runs(f.instrs, f.infos, f.ends, 5) == [11, 15]      # stops at the dead end after br
    assert neutral_runs(f.instrs, f.infos, f.ends, 6) == []             # i32.add reaches below
    assert neutral_runs(f.instrs, f.infos, f.ends, 16) == []            # a run never starts at end
    # Runs that may be copied elsewhere must not branch out of themselves.
    assert neutral_runs(f.instrs, f.infos, f.ends, 2, internal=True) == []
    assert neutral_runs(f.instrs, f.infos, f.ends, 5, internal=True) == [11, 15]
    assert expressions(f.instrs, f.infos, f.ends, 18) == [(19, I32)]
    assert expressions(f.instrs, f.infos, f.ends, 6) == [(7, I32), (9, I32)]


def test_labels_internal():
    instrs = body_of(POPCOUNT_LOOP).instrs
    assert labels_internal(instrs, 0, 18)       # block ... end: br_if 1 and br 0 stay inside
    assert not labels_internal(instrs, 1, 17)   # the loop alone: br_if 1 leaves it
    assert not labels_internal(instrs, 2, 5)


# -- delete_run ------------------------------------------------------------------------------------

INCREMENT = """(module (func (export "f") (param i32) (result i32)
  local.get 0 i32.const 1 i32.add local.set 0 local.get 0))"""


def test_delete_run_removes_the_only_neutral_run():
    g = genome(INCREMENT)
    applied = [seed for seed in range(20) if DeleteRun().apply(random.Random(seed), [g]) is not None]
    assert len(applied) >= 15
    for seed in applied:
        assert_becomes(DeleteRun(), seed, INCREMENT, """(module (func (export "f") (param i32) (result i32)
          local.get 0))""")


def test_popcount_loop_becomes_popcnt_by_replace_expr_then_delete_run():
    g = genome(POPCOUNT_LOOP)
    # replace_expr: the final read of the counter (18..19) becomes `local.get 0; i32.popcnt` ...
    f = facts(g, 0)
    assert expressions(f.instrs, f.infos, f.ends, 18) == [(19, I32)]
    step1 = g.with_bodies({0: replace(f.body, 18, 19, [op("local.get", 0), op("i32.popcnt")])})
    assert is_valid(step1.wasm)
    # ... and delete_run drops the loop, which is now a neutral run of the child.
    f1 = facts(step1, 0)
    assert neutral_runs(f1.instrs, f1.infos, f1.ends, 0) == [18]
    step2 = step1.with_bodies({0: delete(f1.body, 0, 18)})
    assert_body(step2.decoded().bodies[0], """(module (func (export "f") (param i32) (result i32) (local i32)
      local.get 0 i32.popcnt))""")
    for x in (0, 1, 7, 255, 2**31, 2**32 - 1, 0x12345678):
        signed = x - 2**32 if x >= 2**31 else x
        assert call(g.wasm, signed) == call(step2.wasm, signed) == bin(x).count("1")


def test_the_operators_themselves_reach_the_popcnt_body():
    g = genome(POPCOUNT_LOOP)
    target = [op("local.get", 0), op("i32.popcnt"), op("end")]
    rng = random.Random(0)
    step1 = next(c for c in (ReplaceExpr().apply(rng, [g]) for _ in range(500))
                 if c is not None and list(c.decoded().bodies[0].instrs[18:]) == target)
    step2 = next(c for c in (DeleteRun().apply(rng, [step1]) for _ in range(500))
                 if c is not None and list(c.decoded().bodies[0].instrs) == target)
    assert is_valid(step2.wasm)


# -- replace_expr ----------------------------------------------------------------------------------


def test_replace_expr_keeps_the_type_of_what_it_replaces():
    text = """(module (func (export "f") (param i32 i64) (result i64)
      local.get 1 local.get 0 i64.extend_i32_u i64.add))"""
    g = genome(text)
    rng = random.Random(4)
    seen = set()
    children = [ReplaceExpr().apply(rng, [g]) for _ in range(200)]
    assert sum(c is not None for c in children) >= 190
    for child in filter(None, children):
        assert is_valid(child.wasm)
        seen.add(tuple(repr(i) for i in child.decoded().bodies[0].instrs))
    # `local.get 0 i64.extend_i32_u` (an i64 expression) may become the i64 param, with or without popcnt.
    assert ("local.get 1", "local.get 1", "i64.add", "end") in seen
    assert ("local.get 1", "local.get 1", "i64.popcnt", "i64.add", "end") in seen
    assert all("local.get 0" not in s[0] for s in seen if len(s) == 3)


# -- const_perturb ---------------------------------------------------------------------------------


def test_const_perturb_changes_one_constant_within_its_type():
    g = genome("""(module (func (export "f") (result i32) i32.const 41))""")
    rng = random.Random(1)
    values = set()
    for _ in range(300):
        child = ConstPerturb().apply(rng, [g])
        (ins, end) = child.decoded().bodies[0].instrs
        assert ins.op == BY_NAME["i32.const"] and -2**31 <= ins.imm[0] < 2**31
        values.add(ins.imm[0])
    assert 41 not in values
    assert {40, 42, -41, 0, 1, 82, 20} <= values


def test_perturb_value_wraps_and_keeps_float_patterns_in_range():
    rng = random.Random(2)
    for _ in range(500):
        v = perturb_value(rng, I32, 2**31 - 1)
        assert -2**31 <= v < 2**31 and v != 2**31 - 1
        v = perturb_value(rng, I64, -2**63)
        assert -2**63 <= v < 2**63 and v != -2**63
        bits = perturb_value(rng, F32, 0x3F800000, seen=(0x40490FDB,))
        assert 0 <= bits < 2**32 and bits != 0x3F800000
    assert set_const(body_of("""(module (func (result i64) i64.const 5))"""), 0, -1).instrs[0] == op("i64.const", -1)


# -- opcode_swap -----------------------------------------------------------------------------------


def test_opcode_swap_families():
    names = lambda code: {OPCODES[c].name for c in ALTERNATIVES[BY_NAME[code]]}  # noqa: E731
    add = names("i32.add")
    assert {"i32.sub", "i32.mul", "i32.and", "i32.shr_u", "i32.rotr", "i32.div_s", "i32.rem_u"} <= add
    assert not add & {"i64.add", "i32.eq", "i32.popcnt", "i32.add"}
    assert names("i32.popcnt") >= {"i32.clz", "i32.ctz", "i32.eqz"}
    relations = ("eq", "ne", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u")
    assert names("i64.lt_s") == {f"i64.{r}" for r in relations}
    assert names("f64.add") == {"f64.sub", "f64.mul", "f64.div", "f64.min", "f64.max", "f64.copysign"}
    assert BY_NAME["i32.load"] not in ALTERNATIVES  # no change of access width
    assert names("i32.load8_u") == {"i32.load8_s"} and names("i64.load32_s") == {"i64.load32_u"}
    assert BY_NAME["local.get"] not in ALTERNATIVES and BY_NAME["i64.eqz"] not in ALTERNATIVES
    for code, others in ALTERNATIVES.items():
        assert all(OPCODES[o].sig == OPCODES[code].sig for o in others)


def test_swap_opcode_lowers_the_alignment_of_a_narrower_access():
    """The low-level edit still handles a width change when asked for one directly."""
    body = body_of("""(module (memory 1) (func (param i32) (result i32) local.get 0 i32.load offset=8))""")
    swapped = swap_opcode(body, 1, BY_NAME["i32.load8_u"])
    assert swapped.instrs[1] == op("i32.load8_u", 0, 8)


def test_opcode_swap_touches_only_reachable_code():
    g = genome("""(module (func (export "f") (param i32) (result i32)
      local.get 0 i32.const 3 i32.add return
      local.get 0 i32.const 5 i32.mul))""")
    rng = random.Random(0)
    for _ in range(100):
        instrs = OpcodeSwap().apply(rng, [g]).decoded().bodies[0].instrs
        assert instrs[2] != op("i32.add") and instrs[6] == op("i32.mul")


# -- swap_runs / copy_run ----------------------------------------------------------------------------

TWO_STORES = """(module (memory 1) (func (export "f") (param i32 i32)
  local.get 0 i32.const 1 i32.store
  local.get 1 i32.const 2 i32.store))"""


def test_swap_runs_exchanges_adjacent_runs():
    f = facts(genome(TWO_STORES), 0)
    assert neutral_runs(f.instrs, f.infos, f.ends, 0) == [3, 6]
    assert_becomes(SwapRuns(), 0, TWO_STORES, """(module (memory 1) (func (export "f") (param i32 i32)
      local.get 1 i32.const 2 i32.store
      local.get 0 i32.const 1 i32.store))""")


def test_copy_run_maps_locals_into_the_destination():
    src = body_of("""(module (func (param i32 i32) (local i64)
      local.get 2 i64.const 1 i64.add local.set 2))""")
    run = src.instrs[:4]
    rng = random.Random(0)
    mapping, added = map_locals(rng, run, (I32, I32, I64), (I32,), same_function=False)
    assert mapping == {2: 1} and added == [I64]
    dst = body_of("""(module (func (param i32) (result i32) local.get 0))""")
    assert_body(insert_run(dst, 1, run, mapping, added), """(module (func (param i32) (result i32) (local i64)
      local.get 0 local.get 1 i64.const 1 i64.add local.set 1))""")
    # Within one function nothing is renamed.
    assert map_locals(rng, run, (I32, I32, I64), (I32, I32, I64), same_function=True) == ({2: 2}, [])


def test_copy_run_inserts_a_self_contained_run():
    g = genome(TWO_STORES)
    rng = random.Random(0)
    sizes = set()
    for _ in range(50):
        child = CopyRun().apply(rng, [g])
        instrs = child.decoded().bodies[0].instrs
        assert is_valid(child.wasm)
        stores = instrs.count(op("i32.store", 2, 0))
        assert len(instrs) == 7 + 3 * (stores - 2)  # one store run copied, or both
        sizes.add(len(instrs))
    assert sizes == {10, 13}


# -- crossovers ------------------------------------------------------------------------------------

TWO_FUNCS = """(module
  (func $h (param i32) (result i32) local.get 0 i32.const {k} i32.mul)
  (func (export "f") (param i32) (result i32) local.get 0 call $h i32.const {c} i32.add))"""


def test_crossover_function_takes_one_whole_body_from_b():
    a, b = genome(TWO_FUNCS.format(k=3, c=1)), genome(TWO_FUNCS.format(k=5, c=2))
    children = {CrossoverFunction().apply(random.Random(s), [a, b]).wasm for s in range(20)}
    assert children == {genome(TWO_FUNCS.format(k=5, c=1)).wasm, genome(TWO_FUNCS.format(k=3, c=2)).wasm}
    assert CrossoverFunction().apply(random.Random(0), [a, a]) is None


def test_splice_joins_a_head_and_a_tail_at_equal_stacks():
    a = body_of("""(module (func (param i32) (result i32) (local i32)
      local.get 0 local.set 1 local.get 1 i32.const 1 i32.add))""")
    b = body_of("""(module (func (param i32) (result i32) (local i32 i64)
      i32.const 7 local.set 1 local.get 0 i32.const 9 i32.mul))""")
    assert_body(splice(a, b, 2, 2), """(module (func (param i32) (result i32) (local i32 i64)
      local.get 0 local.set 1 local.get 0 i32.const 9 i32.mul))""")
    c = body_of("""(module (func (param i32) (result i32) (local i64) local.get 0))""")
    assert splice(a, c, 0, 0) is None  # neither local list extends the other


def test_crossover_splice_uses_matching_top_level_points():
    a, b = genome(TWO_FUNCS.format(k=3, c=1)), genome(TWO_FUNCS.format(k=5, c=2))
    rng = random.Random(0)
    children = [c for c in (CrossoverSplice().apply(rng, [a, b]) for _ in range(50)) if c is not None]
    assert len(children) >= 10
    for child in children:
        assert is_valid(child.wasm)
        assert child.decoded().bodies != a.decoded().bodies


# -- promote_slot ----------------------------------------------------------------------------------

PROMOTED_FRAME = """
(module
  (memory 1)
  (global $sp (mut i32) (i32.const 4096))
  (func (export "f") (param i32 i32) (result i32) (local i32 i32 i32 i32 i32 i32 i32)
    global.get $sp  local.set 2
    i32.const 16  local.set 4
    local.get 2  local.get 4  i32.sub  local.set 3
    local.get 3  global.set $sp
    local.get 0  local.set 8
    local.get 1  local.set 7
    local.get 8
    local.get 7
    i32.add
    local.set 5
    local.get 3  i32.const 16  i32.add  local.set 6
    local.get 6  global.set $sp
    local.get 5))
"""


def test_promote_slot_turns_frame_slots_into_locals():
    g = genome(FRAME)
    f = facts(g, 0)
    slots = find_slots(f)
    assert [(s.base, s.offset, s.vtype, len(s.loads), len(s.stores)) for s in slots] == [
        (3, 8, I32, 1, 1), (3, 12, I32, 1, 1)]
    child = assert_becomes(PromoteSlot(), 1, FRAME, PROMOTED_FRAME)  # seed 1: every slot at once
    assert call(child.wasm, 20, 22) == call(g.wasm, 20, 22) == 42


def test_promote_slot_operator_promotes_one_slot_or_all():
    g = genome(FRAME)
    bodies = set()
    rng = random.Random(0)
    for _ in range(40):
        child = PromoteSlot().apply(rng, [g])
        loads = sum(i.op == BY_NAME["i32.load"] for i in child.decoded().bodies[0].instrs)
        bodies.add(loads)
        assert call(child.wasm, 5, 6) == 11
    assert bodies == {0, 1}  # all at once, or one of the two


EPILOGUE = "    local.get 3\n    i32.const 16\n    i32.add"


def frame_with(extra: str, prologue: str = "global.get $sp") -> str:
    """FRAME with `extra` code before its epilogue and another way of setting local 2."""
    text = FRAME.replace(EPILOGUE, f"    {extra}\n{EPILOGUE}")
    return text.replace("global.get $sp\n    local.set 2", f"{prologue}\n    local.set 2")


@pytest.mark.parametrize("extra, prologue, offsets", [
    ("", "global.get $sp", [8, 12]),
    # the frame address escapes: into arithmetic that feeds a load, into memory, into a call argument
    ("local.get 3 i32.const 4 i32.add i32.load drop", "global.get $sp", []),
    ("i32.const 0 local.get 3 i32.store", "global.get $sp", []),
    ("local.get 3 local.set 5", "global.get $sp", []),
    # a partial access overlaps slot 12; a wide one overlaps both; another type reads slot 8
    ("local.get 3 i32.load8_u offset=13 drop", "global.get $sp", [8]),
    ("local.get 3 i64.load offset=8 drop", "global.get $sp", []),
    ("local.get 3 f32.load offset=8 drop", "global.get $sp", [12]),
    # the base is not derived from the stack pointer
    ("", "i32.const 1024", []),
    # dead code is left alone
    ("block local.get 3 i32.const 4 i32.add i32.load drop br 0 local.get 3 local.set 5 end", "global.get $sp", []),
    ("block br 0 local.get 3 local.set 5 end", "global.get $sp", [8, 12]),
])
def test_promote_slot_only_when_the_frame_does_not_escape(extra, prologue, offsets):
    g = genome(frame_with(extra, prologue))
    assert is_valid(g.wasm)
    assert [s.offset for s in find_slots(facts(g, 0))] == offsets


def test_a_very_long_stack_pointer_update_is_left_alone_not_a_crash():
    chain = " i32.const 1 i32.add" * 3000
    g = genome(frame_with(f"local.get 3{chain} global.set $sp"))
    assert find_slots(facts(g, 0)) == ()


def test_a_pointer_parameter_is_not_a_frame():
    g = genome("""(module (memory 1) (func (export "f") (param i32) (result i32)
      local.get 0 i32.load offset=4 local.get 0 i32.const 1 i32.store offset=4))""")
    assert find_slots(facts(g, 0)) == ()
    assert PromoteSlot().apply(random.Random(0), [g]) is None


def _kernel_cases(name: str, limit: int = 40) -> list[dict]:
    path = KERNEL_DIR.parent / "tests" / f"{name}.jsonl"
    lines = path.read_text().splitlines()[:limit] if path.is_file() else []
    return [json.loads(line) for line in lines if line.strip()]


def _run_case(module: wasmtime.Module, function: str, case: dict):
    store = wasmtime.Store(ENGINE)
    instance = wasmtime.Instance(store, module, [])
    exports = instance.exports(store)
    for address, data in case.get("memory", ()):
        exports["memory"].write(store, base64.b64decode(data), address)
    result = exports[function](store, *case["args"])
    return list(result) if isinstance(result, (list, tuple)) else [result]


def test_promoting_every_slot_of_the_O0_kernels_keeps_their_results():
    """clang -O0 frames do not alias: promoting all slots must not change any kernel's answers."""
    paths = sorted(KERNEL_DIR.glob("*.O0.wasm"))
    if not paths:
        pytest.skip("kernel suite not built")
    promoted_any = 0
    for path in paths:
        name = path.name.removesuffix(".O0.wasm")
        cases = _kernel_cases(name)
        if not cases:
            continue
        g = Genome.from_bytes(path.read_bytes(), name)
        changes = {}
        for t in g.targets:
            f = facts(g, t)
            slots = find_slots(f)
            if slots:
                changes[t] = promote(f.body, len(f.local_types), slots)
        if not changes:
            continue
        promoted_any += 1
        child = g.with_bodies(changes)
        assert is_valid(child.wasm) and len(child.wasm) < len(g.wasm)
        compiled = wasmtime.Module(ENGINE, child.wasm)
        for case in cases:
            got = _run_case(compiled, name, case)
            assert got == case["expect"] or all(math.isnan(a) and math.isnan(b) for a, b in zip(got, case["expect"])), (
                name, case)
    assert promoted_any >= 10
