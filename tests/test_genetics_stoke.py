"""stoke: MCMC over loop-free windows keeps only cheaper rewrites that agree with the window on every
test, and its window interpreter agrees with wasmtime instruction by instruction."""

from __future__ import annotations

import random

import pytest
from genetics_support import assert_becomes
from ops_support import KERNEL_NAMES, kernel, wasmtime_valid, wat

from jeet.genetics import Genome
from jeet.genetics.stoke import Stoke
from jeet.genetics.superopt import _SEMANTICS, Window, _Moves, _typecheck, interpret, predicted_cost, search
from jeet.sandbox import Outcome, Sandbox
from jeet.wasm import decode, validate
from jeet.wasm.encode import encode_instr
from jeet.wasm.ir import Instr
from jeet.wasm.opcodes import OPCODES
from jeet.wasm.types import I32, I64


class QuickStoke(Stoke):
    """A shorter chain, for tests that only need some rewrites to check."""

    iterations = 300


@pytest.fixture(scope="module")
def box() -> Sandbox:
    return Sandbox(compiler="cranelift")


def test_a_multiply_by_eight_and_identities_become_a_shift():
    assert_becomes(Stoke(), 1, """
(module (func (export "f") (param i32 i32) (result i32)
  local.get 0  i32.const 0  i32.add  i32.const 1  i32.mul
  local.get 1  i32.const 8  i32.mul
  i32.xor))""", """
(module (func (export "f") (param i32 i32) (result i32)
  local.get 0
  local.get 1  i32.const 3  i32.shl
  i32.xor))""")


def test_dead_copies_through_locals_disappear():
    assert_becomes(Stoke(), 3, """
(module (func (export "f") (param i32) (result i32) (local i32 i32)
  local.get 0  local.set 1
  local.get 1  i32.const 1  i32.sub  local.set 2
  local.get 1  local.get 2  i32.and))""", """
(module (func (export "f") (param i32) (result i32) (local i32 i32)
  local.get 0  local.get 0  i32.const -1  i32.add  i32.and))""")


def test_a_compare_with_a_rare_constant_is_not_taken_for_zero():
    """Random inputs alone almost never hit 12345; the tests also draw the window's own constants."""
    text = """(module (func (export "f") (param i32) (result i32) local.get 0 i32.const 12345 i32.eq))"""
    for seed in range(6):
        assert_becomes(Stoke(), seed, text, None)


def test_a_live_local_keeps_its_value():
    """Local 1 is read after the window (in the loop), so a rewrite must still set it."""
    text = """
(module (func (export "f") (param i32) (result i32) (local i32)
  loop
    local.get 0  i32.const 2  i32.mul  local.set 1
    local.get 1  i32.const 100  i32.lt_u
    if
      local.get 1  local.set 0
      br 1
    end
  end
  local.get 1))"""
    g = Genome.from_bytes(wat(text), "f")
    for seed in range(6):
        child = Stoke().apply(random.Random(seed), [g])
        if child is not None:
            body = child.decoded().bodies[0].instrs
            assert any(i.op == 0x21 and i.imm == (1,) for i in body)  # local.set 1 survives
            box = Sandbox(compiler="cranelift")
            for x in (0, 1, 3, 49, 50, 1000, 0x7FFFFFFF, 0x80000000):
                assert box.call(child.wasm, "f", (x,)).results == box.call(g.wasm, "f", (x,)).results


def _random_program(rng: random.Random, length: int) -> list[Instr]:
    """A random valid straight-line program over locals (i32 i32 i64) leaving one i32."""
    local_types = (I32, I32, I64)
    window = Window(0, 0, (0, 1, 2), (I32,), ())
    moves = _Moves(rng, window, [Instr(0x41, (rng.getrandbits(32),))], local_types)
    prog = [Instr(0x20, (0,))]
    for _ in range(400):
        new = moves.propose(prog, length)
        if new is not None:
            prog = new
    return prog


def test_the_window_interpreter_agrees_with_wasmtime(box):
    rng = random.Random(2024)
    ops_seen = set()
    for n in range(60):
        prog = _random_program(rng, 14)
        assert _typecheck(prog, (I32, I32, I64), (I32,))
        ops_seen.update(i.op for i in prog)
        body = "\n".join(f"    {OPCODES[i.op].name} {i.imm[0] if i.imm else ''}" for i in prog)
        wasm = wat(f"(module (func (export \"f\") (param i32 i32 i64) (result i32)\n{body}))")
        assert [encode_instr(i) for i in decode(wasm).bodies[0].instrs[:-1]] == [encode_instr(i) for i in prog]
        for _ in range(20):
            args = [rng.choice((0, 1, 0xFFFFFFFF, 0x80000000, rng.getrandbits(32))) for _ in range(2)] + \
                   [rng.choice((0, 1, 2**64 - 1, 2**63, rng.getrandbits(64)))]
            ours = interpret(prog, args, (I32, I32, I64))
            theirs = box.call(wasm, "f", (args[0], args[1], args[2]))
            if ours is None:
                assert theirs.outcome is Outcome.TRAP
            else:
                assert theirs.outcome is Outcome.OK and theirs.results == (ours[0][0],), (body, args)
    assert len(ops_seen & set(_SEMANTICS)) > 20


def test_every_interpreted_instruction_agrees_with_wasmtime_alone(box):
    """Each opcode the interpreter knows, on special and random operands (traps included)."""
    rng = random.Random(5)
    specials = {I32: (0, 1, 2, 31, 32, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF),
                I64: (0, 1, 63, 64, 2**31, 2**32, 2**63 - 1, 2**63, 2**64 - 1)}
    for op in sorted(_SEMANTICS):
        pops, pushes = OPCODES[op].sig
        local_types = (I32, I32, I64, I64)
        slots = {I32: [0, 1], I64: [2, 3]}
        used = {I32: 0, I64: 0}
        prog = []
        for t in pops:
            prog.append(Instr(0x20, (slots[t][used[t]],)))
            used[t] += 1
        prog.append(Instr(op))
        if pushes != (I32,):
            prog.append(Instr(0xA7))  # i32.wrap_i64
        body = " ".join(f"{OPCODES[i.op].name} {i.imm[0] if i.imm else ''}" for i in prog)
        wasm = wat(f"(module (func (export \"f\") (param i32 i32 i64 i64) (result i32) {body}))")
        for _ in range(40):
            args = [rng.choice(specials[t] + (rng.getrandbits(32 if t == I32 else 64),)) for t in local_types]
            ours = interpret(prog, args, local_types)
            theirs = box.call(wasm, "f", tuple(args))
            if ours is None:
                assert theirs.outcome is Outcome.TRAP, (OPCODES[op].name, args)
            else:
                assert theirs.results == (ours[0][0],), (OPCODES[op].name, args, ours, theirs)


def test_search_finds_nothing_cheaper_than_an_optimal_window():
    prog = [Instr(0x20, (0,)), Instr(0x20, (0,)), Instr(0x41, (1,)), Instr(0x6B), Instr(0x71)]  # x & (x - 1)
    window = Window(0, 5, (0,), (I32,), (), ())
    assert search(prog, window, (I32,), random.Random(1), iterations=800) is None


def test_the_operator_is_valid_and_keeps_results_over_the_kernel_suite(box):
    rng = random.Random(7)
    applied = []
    for name in KERNEL_NAMES:
        for level in ("O0", "O2"):
            wasm = kernel(name, level)
            function = next(iter(decode(wasm).exported_functions()))
            g = Genome.from_bytes(wasm, function)
            sig = box.signature(wasm, function)
            for seed in range(2):
                child = QuickStoke().apply(random.Random(seed), [g])
                if child is None:
                    continue
                validate(decode(child.wasm))
                assert wasmtime_valid(child.wasm)
                applied.append(f"{name}.{level}")
                if name in ("count_byte", "sum_bytes", "max_byte", "adler32", "fnv1a32", "crc8", "crc8.table"):
                    continue  # buffer kernels: pointer arguments
                for _ in range(100):
                    args = tuple(rng.choice((0, 1, -1, 7, rng.randrange(-300, 300), rng.getrandbits(31)))
                                 for _ in sig.params)
                    a, b = box.call(wasm, function, args), box.call(child.wasm, function, args)
                    assert a.outcome is b.outcome and a.results == b.results, (name, level, args)
    assert applied  # stoke finds something somewhere in the suite


def test_predicted_cost_prices_a_multiply_above_a_shift():
    assert predicted_cost([Instr(0x6C)]) > predicted_cost([Instr(0x74)])


def test_same_seed_same_rewrite():
    g = Genome.from_bytes(kernel("days_in_month", "O2"), "days_in_month")
    runs = [[getattr(QuickStoke().apply(random.Random(seed), [Genome(g.wasm, None, g.targets)]), "wasm", None)
             for seed in range(3)] for _ in range(2)]
    assert runs[0] == runs[1]
