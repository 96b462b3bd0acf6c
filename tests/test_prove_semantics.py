"""The symbolic semantics against wasmtime, instruction by instruction (differential, seeded random).

Each integer instruction becomes a one-instruction WAT function; its formula is evaluated on
random and edge inputs (concretely, and through both solvers for a few), and must agree with
what wasmtime returns or traps on. Loads and stores of every width run at random addresses
near the end of memory, with random offsets, over random memory contents.
"""

from __future__ import annotations

import random

import pytest
import wasmtime

from jeet.oracle import Case
from jeet.prove.numeric import NUMERIC
from jeet.prove.solver import open_solver
from jeet.prove.testing import ConcreteRunner
from jeet.sandbox import Outcome

SEED = 9
N = 60

UNARY = [n for n in NUMERIC if n.split(".")[1] in ("clz", "ctz", "popcnt", "eqz", "extend8_s", "extend16_s",
                                                    "extend32_s", "wrap_i64", "extend_i32_s", "extend_i32_u")]
BINARY = [n for n in NUMERIC if n not in UNARY]


def _types(name: str) -> tuple[list[str], str]:
    t = name[:3]
    op = name.split(".")[1]
    if name == "i32.wrap_i64":
        return ["i64"], "i32"
    if name.startswith("i64.extend_i32"):
        return ["i32"], "i64"
    result = "i32" if op in ("eqz", "eq", "ne") or op[:2] in ("lt", "gt", "le", "ge") else t
    return [t] * (1 if name in UNARY else 2), result


def _edges(t: str) -> list[int]:
    w = 32 if t == "i32" else 64
    return [0, 1, 2, 3, w - 1, w, w + 1, 2 * w - 1, (1 << w) - 1, (1 << w) - 2, 1 << (w - 1), (1 << (w - 1)) - 1,
            (1 << (w - 1)) + 1, 0x80, 0xFF, 0x8000, 0xFFFF, 0x13371337]


def _inputs(rng: random.Random, params: list[str]) -> list[tuple[int, ...]]:
    out = []
    for i in range(N):
        args = []
        for t in params:
            w = 32 if t == "i32" else 64
            pick = rng.random()
            if pick < 0.4:
                v = rng.choice(_edges(t))
            elif pick < 0.6:
                v = rng.getrandbits(rng.randint(1, 8))
            else:
                v = rng.getrandbits(w)
            args.append(v & ((1 << w) - 1))
        out.append(tuple(args))
    return out


def _module(name: str) -> tuple[bytes, list[str], str]:
    params, result = _types(name)
    ps = " ".join(params)
    gets = " ".join(f"local.get {i}" for i in range(len(params)))
    wat = f'(module (func (export "f") (param {ps}) (result {result}) {gets} {name}))'
    return wasmtime.wat2wasm(wat), params, result


@pytest.mark.parametrize("name", sorted(NUMERIC))
def test_instruction_matches_wasmtime(name, sandbox):
    wasm, params, _ = _module(name)
    runner = ConcreteRunner(wasm, "f")
    inputs = _inputs(random.Random(f"{SEED}:{name}"), params)
    results = sandbox.run(wasm, "f", [Case(a) for a in inputs], fresh_instance_per_case=True)
    for args, r in zip(inputs, results):
        mine = runner(args)
        assert r.outcome in (Outcome.OK, Outcome.TRAP), r
        assert mine.trapped == (r.outcome is Outcome.TRAP), (name, args, r)
        if not mine.trapped:
            assert mine.results == r.results, (name, args, mine.results, r.results)


@pytest.mark.parametrize("solver", ["bitwuzla", "z3"])
@pytest.mark.parametrize("name", ["i32.div_s", "i64.rem_s", "i32.rotl", "i64.rotr", "i32.clz", "i64.ctz",
                                  "i64.popcnt", "i32.shr_s", "i64.extend32_s", "i32.lt_s", "i32.rem_u"])
def test_solver_agrees_with_concrete_meaning(name, solver, sandbox):
    """The lowering to each solver means what `jeet.prove.terms.apply` means."""
    wasm, params, result = _module(name)
    runner = ConcreteRunner(wasm, "f")
    b, out = runner.b, runner.outcome
    for args in _inputs(random.Random(f"{SEED}:solver:{name}"), params)[:6]:
        expect = runner(args)
        s = open_solver(solver, 5.0)
        for var, v in zip(runner.inputs.args, args):
            s.add(b.eq(var, b.const(v, var.w)))
        s.add(b.eq(out.trapped, b.const(expect.trapped, 0)))
        if not expect.trapped:
            s.add(b.ne(out.results[0], b.const(expect.results[0], out.results[0].w)))
        assert s.check() == "unsat", (name, args)


LOADS = ["i32.load", "i64.load", "i32.load8_s", "i32.load8_u", "i32.load16_s", "i32.load16_u", "i64.load8_s",
         "i64.load8_u", "i64.load16_s", "i64.load16_u", "i64.load32_s", "i64.load32_u"]
STORES = ["i32.store", "i64.store", "i32.store8", "i32.store16", "i64.store8", "i64.store16", "i64.store32"]


def _addresses(rng: random.Random) -> list[int]:
    end = 65536
    return [rng.choice([end - rng.randint(0, 12), rng.randint(0, 16), 0xFFFFFFFF - rng.randint(0, 8),
                        rng.randrange(end)]) for _ in range(N)]


@pytest.mark.parametrize("name", LOADS)
def test_load_matches_wasmtime(name, sandbox):
    rng = random.Random(f"{SEED}:{name}")
    offset = rng.choice([0, 1, 3, 7, 65535, 0xFFFFFFFF])
    t = name[:3]
    wasm = wasmtime.wat2wasm(f'(module (memory (export "memory") 1) (func (export "f") (param i32) (result {t}) '
                             f'local.get 0 {name} offset={offset}))')
    runner = ConcreteRunner(wasm, "f")
    for addr in _addresses(rng):
        mem = bytearray(rng.getrandbits(8) for _ in range(65536))
        block = (65536 - 32, bytes(mem[-32:]))
        low = (0, bytes(mem[:32]))
        r = sandbox.run(wasm, "f", [Case((addr,), memory=(low, block))], fresh_instance_per_case=True)[0]
        mine = runner((addr,), bytes(mem[:32]) + bytes(65536 - 64) + bytes(mem[-32:]))
        assert mine.trapped == (r.outcome is Outcome.TRAP), (name, offset, addr, r)
        if not mine.trapped:
            assert mine.results == r.results, (name, offset, addr)


@pytest.mark.parametrize("name", STORES)
def test_store_matches_wasmtime(name, sandbox):
    rng = random.Random(f"{SEED}:{name}")
    offset = rng.choice([0, 1, 3, 7, 0xFFFFFFFF])
    t = name[:3]
    wasm = wasmtime.wat2wasm(f'(module (memory (export "memory") 1) (func (export "f") (param i32 {t}) '
                             f'local.get 0 local.get 1 {name} offset={offset}))')
    runner = ConcreteRunner(wasm, "f")
    for addr in _addresses(rng):
        value = rng.getrandbits(64 if t == "i64" else 32)
        edge = bytes(rng.getrandbits(8) for _ in range(32))
        low = bytes(rng.getrandbits(8) for _ in range(32))
        case = Case((addr, value), memory=((0, low), (65536 - 32, edge)),
                    expect_memory=((0, bytes(32)), (65536 - 32, bytes(32))))
        r = sandbox.run(wasm, "f", [case], fresh_instance_per_case=True)[0]
        init = low + bytes(65536 - 64) + edge
        mine = runner((addr, value), init, read=range(65536))
        assert mine.trapped == (r.outcome is Outcome.TRAP), (name, offset, addr, r)
        if not mine.trapped:
            assert (mine.memory[:32], mine.memory[-32:]) == (r.memory[0][1], r.memory[1][1]), (name, offset, addr)


CONTROL = r'''(module (memory (export "memory") 1) (global $g (mut i32) (i32.const 7))
  (func $helper (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 10))
      (then (return (i32.mul (local.get 0) (i32.const 3))))
      (else (i32.sub (local.get 0) (i32.const 10)))))
  (func (export "f") (param i32 i32) (result i32) (local i32 i64)
    (block $out
      (block $b2 (block $b1 (block $b0
        (br_table $b0 $b1 $b2 $out (i32.and (local.get 1) (i32.const 7))))
        (local.set 2 (call $helper (local.get 0))) (br $out))
        (global.set $g (i32.add (global.get $g) (local.get 0))) (br $out))
      (local.set 3 (i64.extend_i32_u (local.get 0)))
      (local.set 2 (i32.wrap_i64 (i64.rotl (local.get 3) (i64.const 33))))
      (if (i32.eqz (local.get 0)) (then unreachable)))
    (i32.store8 offset=100 (i32.and (local.get 1) (i32.const 255)) (local.get 2))
    (select (local.get 2) (global.get $g) (i32.rem_u (local.get 1) (i32.const 3)))
    (drop (i32.load (i32.const 0)))
    (i32.add (i32.load8_u offset=100 (i32.and (local.get 1) (i32.const 255))))))'''


def test_control_flow_calls_and_globals_match_wasmtime(sandbox):
    wasm = wasmtime.wat2wasm(CONTROL)
    runner = ConcreteRunner(wasm, "f")
    rng = random.Random(SEED)
    for _ in range(200):
        args = (rng.choice([0, 1, 5, 9, 10, 11, 0xFFFFFFFF, rng.getrandbits(32)]), rng.getrandbits(32))
        r = sandbox.run(wasm, "f", [Case(args, expect_memory=((0, bytes(512)),))], fresh_instance_per_case=True)[0]
        mine = runner(args, globals_={0: 7}, read=range(512))
        assert mine.trapped == (r.outcome is Outcome.TRAP), (args, r)
        if not mine.trapped:
            assert mine.results == r.results, args
            assert mine.memory == r.memory[0][1], args


def test_loop_unrolling_is_exact_within_the_bound_and_says_when_it_is_exceeded(sandbox):
    wasm = wasmtime.wat2wasm('''(module (memory (export "memory") 1)
      (func (export "f") (param i32 i32) (result i32) (local i32 i32)
        (block $done (loop $next
          (br_if $done (i32.ge_u (local.get 2) (local.get 1)))
          (local.set 3 (i32.add (local.get 3) (i32.load8_u (i32.add (local.get 0) (local.get 2)))))
          (local.set 2 (i32.add (local.get 2) (i32.const 1)))
          (br $next)))
        (local.get 3)))''')
    runner = ConcreteRunner(wasm, "f", bound=8)
    rng = random.Random(SEED)
    mem = bytes(rng.getrandbits(8) for _ in range(64))
    for n in range(12):
        r = sandbox.run(wasm, "f", [Case((3, n), memory=((0, mem),))])[0]
        mine = runner((3, n), mem + bytes(65536 - 64))
        assert mine.exceeded == (n + 1 > 8), n
        if not mine.exceeded:
            assert mine.results == r.results, n
