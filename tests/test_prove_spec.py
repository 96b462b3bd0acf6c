"""The symbolic semantics against the WebAssembly spec testsuite's integer commands.

For every module of the integer, memory and control-flow scripts, each `assert_return` and
`assert_trap` whose function the semantics covers (integers only, no imports) is evaluated on
the formula, with memory and globals carried from command to command as the script does.
Skipped when ../shared/spec-testsuite is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jeet.prove.coverage import uncovered
from jeet.errors import Unprovable
from jeet.prove.testing import ConcreteRunner
from jeet.wasm import WasmError, decode
from jeet.wasm.types import I32, I64

SPEC = Path(__file__).resolve().parents[1].parent / "shared" / "spec-testsuite"
SCRIPTS = ["i32", "i64", "address", "load", "store", "endianness", "memory_trap", "int_exprs", "int_literals",
           "br", "br_if", "br_table", "block", "if", "loop", "call", "fac", "select", "local_get", "local_set",
           "local_tee", "labels", "nop", "return", "switch", "unreachable", "traps", "left-to-right", "stack",
           "forward", "global", "memory_size", "unwind"]


def _initial_state(m) -> tuple[bytearray, dict[int, int]]:
    size = m.memory_types[0].limits.min * 65536 if m.memory_types else 0
    mem = bytearray(size)
    for d in m.data:
        if d.mode == "active":
            off = d.offset.instrs[0]
            if off.name != "i32.const":
                raise Unprovable("data offset from a global")
            start = off.imm[0] & 0xFFFFFFFF
            mem[start:start + len(d.init)] = d.init
    globals_ = {}
    for i, g in enumerate(m.globals):
        ins = g.init.instrs
        if ins and ins[0].name in ("i32.const", "i64.const"):
            globals_[i] = ins[0].imm[0] & ((1 << (32 if g.type.type == I32 else 64)) - 1)
    return mem, globals_


def _int(v: dict) -> int | None:
    if v["type"] not in ("i32", "i64") or not v["value"].lstrip("-").isdigit():
        return None
    return int(v["value"]) & ((1 << (32 if v["type"] == "i32" else 64)) - 1)


@pytest.mark.parametrize("script", SCRIPTS)
def test_spec_script(script):
    path = SPEC / script / f"{script}.json"
    if not path.exists():
        pytest.skip("spec testsuite not present (../shared/spec-testsuite)")
    commands = json.loads(path.read_text())["commands"]
    m = state = None
    runners: dict[str, ConcreteRunner | None] = {}
    checked = 0
    for cmd in commands:
        if cmd["type"] == "module":
            try:
                m = decode((path.parent / cmd["filename"]).read_bytes())
            except WasmError:  # a proposal jeet's codec does not read
                m = None
                continue
            runners = {}
            try:
                state = None if m.imports else _initial_state(m)
            except Unprovable:
                state = None
            continue
        if cmd["type"] not in ("assert_return", "assert_trap", "action") or m is None or state is None:
            continue
        action = cmd["action"]
        if action["type"] != "invoke" or action.get("module"):
            continue
        name = action["field"]
        args = [_int(a) for a in action["args"]]
        f = m.export_func(name)
        if f is None or None in args or any(t not in (I32, I64) for t in m.func_type(f).results):
            state = None if cmd["type"] == "action" else state  # an unmodelled action: state unknown
            continue
        if name not in runners:
            try:
                runners[name] = None if uncovered(m, f) else ConcreteRunner(m, name, bound=128, max_depth=8)
            except Unprovable:
                runners[name] = None
        runner = runners[name]
        if runner is None:
            state = None  # it may have changed memory or globals the way the semantics does not follow
            continue
        mem, globals_ = state
        out = runner(tuple(args), bytes(mem), globals_)
        if out.exceeded:
            continue
        if cmd["type"] == "assert_trap":
            assert out.trapped, (script, cmd["line"], name, args)
        else:
            assert not out.trapped, (script, cmd["line"], name, args, cmd.get("text"))
            if cmd["type"] == "assert_return":
                expected = [_int(v) for v in cmd["expected"]]
                if None not in expected:
                    assert list(out.results) == expected, (script, cmd["line"], name, args)
            if m.memory_types:
                mem[:] = out.memory
            state = (mem, {i: v for i, v in enumerate(out.globals)})
        checked += 1
    print(f"{script}: {checked} commands checked")
    if checked == 0:
        pytest.skip(f"{script}: no command the semantics covers")
