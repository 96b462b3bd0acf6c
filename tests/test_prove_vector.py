"""The SIMD semantics against wasmtime: every integer v128 instruction the semantics models, on random
and edge lanes, computes in the formula what wasmtime computes (results, stored bytes, traps)."""

from __future__ import annotations

import random

import pytest
import wasmtime

from jeet.evolve.proof_check import judge, solver_gave_up
from jeet.prove import prove
from jeet.prove.equivalence import VECTOR_LOOPS
from jeet.prove.coverage import uncovered
from jeet.prove.replay import run_side
from jeet.prove.testing import ConcreteRunner
from jeet.prove.vector import VECTOR, VECTOR_LOADS
from jeet.sandbox import Sandbox
from jeet.wasm import decode
from jeet.wasm.opcodes import BY_NAME, OPCODES
from jeet.wasm.types import I32, I64, V128

OUT = 256  # where each test module stores what the instruction pushed
EDGES = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0xFE, 0x81)


def _immediate(name: str, rng: random.Random) -> str:
    imm = OPCODES[BY_NAME[name]].imm
    if imm == "lane":
        return f" {rng.randrange(128 // int(name.split('x')[0][1:]) if name[0] == 'i' else 1)}"
    if imm == "shuffle":
        return " " + " ".join(str(rng.randrange(32)) for _ in range(16))
    if imm == "v128":
        return " i32x4 " + " ".join(str(rng.randrange(-2**31, 2**31)) for _ in range(4))
    return ""


def _module(name: str, rng: random.Random) -> bytes:
    """A function of (i32, i64) that runs `name` on vectors loaded from bytes 0..47 (or, for a load, from
    the address in the i32) and stores what it pushes at OUT."""
    pops, pushes = OPCODES[BY_NAME[name]].sig
    if name in VECTOR_LOADS:
        expr = f"({name} offset=3 (local.get 0))"
    else:
        vectors = iter(range(0, 48, 16))
        args = [f"(v128.load offset={next(vectors)} (i32.const 0))" if t == V128 else
                "(local.get 0)" if t == I32 else "(local.get 1)" for t in pops]
        expr = f"({name}{_immediate(name, rng)} {' '.join(args)})"
    store = {V128: "v128.store", I32: "i32.store", I64: "i64.store"}[pushes[0]]
    return bytes(wasmtime.wat2wasm(f"""(module (memory (export "memory") 1)
      (func (export "f") (param i32 i64) (result i32) ({store} offset={OUT} (i32.const 0) {expr}) (i32.const 0)))"""))


def _inputs(rng: random.Random, loads: bool) -> tuple[tuple[int, int], bytes]:
    data = bytes(rng.choice(EDGES) if rng.random() < 0.4 else rng.randrange(256) for _ in range(48))
    if loads:
        address = rng.choice([rng.randrange(0, 200), 65536 - 3 - 16, 65536 - 3 - 8, 65536 - 3 - 4, 65536 - 2])
    else:
        address = rng.choice([rng.randrange(2**32), rng.randrange(70), 7, 8, 15, 16, 31, 32, 63, 64])
    return (address, rng.randrange(2**64)), data


@pytest.mark.parametrize("name", sorted(VECTOR) + sorted(VECTOR_LOADS))
def test_the_formula_computes_what_wasmtime_computes(name):
    rng = random.Random(name)
    wasm = _module(name, rng)
    m = decode(wasm)
    func = m.export_func("f")
    assert uncovered(m, func) is None, name
    runner = ConcreteRunner(m, "f")
    with Sandbox() as sb:
        for _ in range(12):
            args, data = _inputs(rng, name in VECTOR_LOADS)
            formula = runner(args, data + bytes(65536 - len(data)), read=range(OUT, OUT + 16))
            real = run_side(sb, m, func, args, (), ((0, data),), ((OUT, 16),))
            assert real is not None
            assert formula.trapped == real.trapped, (name, args, data.hex())
            if not real.trapped:
                assert formula.memory == real.memory[0][1], (name, args, data.hex())


# counts the bytes equal to c, one at a time: the whole original, and the vector version's tail
BYTE_LOOP = """(block $end (loop $tail
      (br_if $end (i32.le_s (local.get $n) (i32.const 0)))
      (local.set $k (i32.add (local.get $k)
        (i32.eq (i32.load8_u (local.get $p)) (i32.and (local.get $c) (i32.const 255)))))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $tail)))"""
SCALAR_COUNT = f"""(module (memory (export "memory") 1)
  (func (export "count") (param $p i32) (param $n i32) (param $c i32) (result i32) (local $k i32)
    {BYTE_LOOP}
    (local.get $k)))"""
# 16 bytes a trip (compare, subtract the all-ones lanes, widen and add), then the scalar loop for the rest
VECTOR_COUNT = f"""(module (memory (export "memory") 1)
  (func (export "count") (param $p i32) (param $n i32) (param $c i32) (result i32) (local $k i32) (local $acc v128)
    (block $done (loop $next
      (br_if $done (i32.lt_s (local.get $n) (i32.const 16)))
      (local.set $acc (i32x4.add (local.get $acc) (i32x4.extadd_pairwise_i16x8_u (i16x8.extadd_pairwise_i8x16_u
        (i8x16.sub (v128.const i32x4 0 0 0 0) (i8x16.eq (v128.load (local.get $p)) (i8x16.splat (local.get $c))))))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (local.set $n (i32.sub (local.get $n) (i32.const 16)))
      (br $next)))
    (local.set $k (i32.add (i32.add (i32x4.extract_lane 0 (local.get $acc)) (i32x4.extract_lane 1 (local.get $acc)))
                          (i32.add (i32x4.extract_lane 2 (local.get $acc)) (i32x4.extract_lane 3 (local.get $acc)))))
    {BYTE_LOOP}
    (local.get $k)))"""


def _count(wat: str) -> bytes:
    return bytes(wasmtime.wat2wasm(wat))


def test_vector_loops_are_searched_for_a_counterexample_and_a_clean_search_is_tested_only():
    """Proving a vector loop equal to a scalar one takes the solver minutes; a check searches for a
    counterexample among inputs whose loops run up to the bound (one vector trip and a tail here) and,
    finding none, says so: the gate then adopts on its held-out cases, as "tested only"."""
    answer = prove(_count(SCALAR_COUNT), _count(VECTOR_COUNT), "count", bound=17, timeout_s=2.0)
    assert answer.result == "unknown" and answer.reason.startswith(VECTOR_LOOPS), answer
    assert not solver_gave_up(answer)
    verdict = judge(answer, 17)
    assert verdict.accepted and verdict.status == "tested only"


@pytest.mark.parametrize("wrong", [
    VECTOR_COUNT.replace("i8x16.eq", "i8x16.ne"),  # wrong in the vector body: one trip shows it
    VECTOR_COUNT.replace("(br_if $end (i32.le_s (local.get $n) (i32.const 0)))",
                         "(br_if $end (i32.eqz (local.get $n)))"),  # reads on for a negative length
], ids=["vector body", "negative length"])
def test_a_vector_loop_that_differs_is_refuted(wrong):
    assert wrong != VECTOR_COUNT
    answer = prove(_count(SCALAR_COUNT), _count(wrong), "count", bound=17, timeout_s=2.0)
    assert answer.result == "refuted", answer
    assert judge(answer, 17).blacklist
