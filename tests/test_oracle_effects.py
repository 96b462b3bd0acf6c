"""Side effects are behaviour: memory written outside the stack frame, memory size and exported globals.

"This original, that variant: the oracle accepts / rejects it", with and without a tests file.
"""

from __future__ import annotations

import os
from dataclasses import replace

from wasmtime import wat2wasm

from jeet.kernels import get_kernel
from jeet.oracle import Case, differential_oracle, tests_oracle
from jeet.sandbox.effects import FOREIGN, UNCHANGED, MemoryEnv
from jeet.sandbox._scan import may_write_memory
from jeet.wasm import Instr, decode


def wasm(text: str) -> bytes:
    return bytes(wat2wasm(text))


STORE = wasm('(module (memory (export "memory") 1) (func (export "f") (param i32 i32) '
             'local.get 0 i32.const 1023 i32.and local.get 1 i32.store))')
EMPTY = wasm('(module (memory (export "memory") 1) (func (export "f") (param i32 i32)))')


def test_dropping_a_store_fails_without_tests(sandbox):
    oracle = differential_oracle(sandbox, STORE, "f", seed=0)
    assert oracle.verify(sandbox, STORE, "f", oracle.held_out).ok
    verdict = oracle.verify(sandbox, EMPTY, "f", oracle.held_out)
    assert not verdict.ok and "left memory as it was" in verdict.message
    assert not oracle.verify(sandbox, EMPTY, "f", oracle.train).ok


def test_storing_elsewhere_or_more_fails(sandbox):
    oracle = differential_oracle(sandbox, STORE, "f", seed=0)
    masked_wrong = STORE.replace(b"\x41\xff\x07", b"\x41\xff\x0f")  # i32.const 1023 -> 2047
    assert masked_wrong != STORE
    assert not oracle.verify(sandbox, masked_wrong, "f", oracle.held_out).ok
    extra = wasm('(module (memory (export "memory") 1) (func (export "f") (param i32 i32) '
                 'local.get 0 i32.const 1023 i32.and local.get 1 i32.store i32.const 9000 i32.const 1 i32.store8))')
    verdict = oracle.verify(sandbox, extra, "f", oracle.held_out)
    assert not verdict.ok and "differs from the original" in verdict.message.replace("different from", "differs from")


def test_dropping_a_write_to_an_exported_global_fails(sandbox):
    original = wasm('(module (global (export "g") (mut i32) (i32.const 0)) (func (export "f") (param i32) (result i32) '
                    'local.get 0 i32.const 3 i32.mul global.set 0 local.get 0))')
    dropped = wasm('(module (global (export "g") (mut i32) (i32.const 0)) (func (export "f") (param i32) (result i32) '
                   'local.get 0))')
    oracle = differential_oracle(sandbox, original, "f", seed=0)
    assert oracle.verify(sandbox, original, "f", oracle.held_out).ok
    verdict = oracle.verify(sandbox, dropped, "f", oracle.held_out)
    assert not verdict.ok and "exported globals" in verdict.message
    tests = [Case((5,), (5,)), Case((7,), (7,))]
    oracle = tests_oracle(sandbox, original, "f", tests, seed=0, held_out_factor=4)
    assert not oracle.verify(sandbox, dropped, "f", oracle.held_out[:2]).ok  # the given tests alone catch it


def with_dead_frame_store(data: bytes, function: str) -> bytes:
    """`data` with one more store into the function's -O0 frame (offset 4 of the frame, never read)."""
    module = decode(data)
    index = module.export_func(function) - module.num_imported_funcs
    body = module.bodies[index]
    instrs = list(body.instrs)
    # the frame pointer is the local that clang's prologue sets to sp - frame size (local.set after i32.sub)
    at = next(i for i, ins in enumerate(instrs) if ins.op == 0x6B) + 1
    frame_local = instrs[at].imm[0]
    store = [Instr(0x20, (frame_local,)), Instr(0x41, (0x55,)), Instr(0x36, (2, 4))]
    instrs[at + 1:at + 1] = store
    return module.with_body(index, replace(body, instrs=tuple(instrs), raw=None)).encode()


def test_dropping_a_dead_store_in_a_clang_O0_frame_passes(sandbox):
    kernel = get_kernel("count_byte")
    plain = kernel.wasm("O0")
    original = with_dead_frame_store(plain, kernel.function)
    tests = [Case((65536, 4, 7), None, ((65536, bytes([7, 1, 7, 2])),)), Case((65536, 0, 0), None, ((65536, b""),))]
    oracle = tests_oracle(sandbox, original, kernel.function, tests, seed=0, held_out_factor=40)
    assert oracle.env.scratch is not None and oracle.env.scratch[1] == 4096
    assert oracle.verify(sandbox, plain, kernel.function, oracle.held_out).ok
    # the same store 128 bytes higher lands above the frame, in memory the caller owns: a change of behaviour
    outside = original.replace(b"\x41\xd5\x00\x36\x02\x04", b"\x41\xd5\x00\x36\x02\x80\x01")
    assert outside != original
    assert not oracle.verify(sandbox, outside, kernel.function, oracle.held_out).ok


def test_bytes_the_case_wrote_inside_the_frame_are_not_scratch(sandbox):
    env = MemoryEnv(os.urandom(16), bytes(65536), (), (4000, 4096))
    clear = wasm('(module (memory (export "memory") 1) (func (export "f") (param i32) '
                 'local.get 0 i32.const 0 i32.store8))')
    inside = Case((4050,), memory=((4050, b"\x01"),), env=env)
    beside = Case((4051,), memory=((4050, b"\x01"),), env=env)
    a, b = sandbox.run(clear, "f", [inside, beside])
    assert a.digest not in (None, UNCHANGED)  # it overwrote the case's own byte
    assert b.digest == UNCHANGED  # only frame bytes changed


def test_digest_depends_on_the_bytes_written_and_memory_size(sandbox):
    env = MemoryEnv(os.urandom(16), bytes(65536), ())
    put = wasm('(module (memory (export "memory") 1 2) (func (export "f") (param i32 i32) '
               'local.get 0 local.get 1 i32.store8))')
    grow = wasm('(module (memory (export "memory") 1 2) (func (export "f") (param i32 i32) '
                'i32.const 1 memory.grow drop))')
    results = sandbox.run(put, "f", [Case((10, 1), env=env), Case((10, 2), env=env), Case((11, 1), env=env),
                                     Case((10, 1), env=env), Case((10, 0), env=env)])
    digests = [r.digest for r in results]
    assert len(set(digests[:3])) == 3 and digests[3] == digests[0] and digests[4] == UNCHANGED
    (grown,) = sandbox.run(grow, "f", [Case((0, 0), env=env)])
    assert grown.digest not in (UNCHANGED, None) and grown.peak_pages == 2
    other = wasm('(module (memory (export "memory") 1) (data (i32.const 5) "x") (func (export "f") (param i32 i32)))')
    (foreign,) = sandbox.run(other, "f", [Case((0, 0), env=env)])
    assert foreign.digest == FOREIGN
    # every instance of a module starts alike: the answer is the module's, for each of its instances
    compiled = sandbox.compile(other)
    assert compiled.images == {env: False}
    assert [r.digest for r in sandbox.run(compiled, "f", [Case((0, 0), env=env), Case((9, 9)),
                                                         Case((0, 0), env=env)])] == [FOREIGN, None, FOREIGN]
    assert sandbox.compile(put).images == {env: True}


def test_each_case_starts_from_its_own_memory_whatever_ran_before(sandbox):
    env = MemoryEnv(os.urandom(16), bytes(65536), ((0, 16),))
    load = wasm('(module (memory (export "memory") 1) (func (export "f") (param i32) (result i32) '
                'local.get 0 i32.load local.get 0 i32.const -1 i32.store))')
    cases = [Case((100,), env=env, poison=p) for p in (0, 7, 0, 7, 9)]
    got = [r.results[0] for r in sandbox.run(load, "f", cases)]
    assert got[0] == got[2] == 0 and got[1] == got[3] != 0 and got[4] not in (0, got[1])
    (kept,) = sandbox.run(load, "f", [Case((8,), env=env, poison=7)])
    assert kept.results == (0,)  # kept ranges (data segments) are never poisoned


def test_modules_that_cannot_write_memory_are_recognised():
    assert may_write_memory(STORE) and not may_write_memory(EMPTY)
    reader = wasm('(module (memory 1) (func (export "f") (param i32) (result i32) local.get 0 i32.load))')
    assert not may_write_memory(reader)
    for op in ("i32.const 0 i32.const 1 i32.const 1 memory.fill", "i32.const 1 memory.grow drop",
               "i32.const 0 i64.const 1 i64.store32"):
        assert may_write_memory(wasm(f'(module (memory 1) (func (export "f") {op}))')), op


def test_cases_with_an_env_after_cases_without_one_still_start_from_the_image(sandbox):
    env = MemoryEnv(os.urandom(16), bytes(65536), ())
    put = wasm('(module (memory (export "memory") 1) (func (export "f") (param i32) (result i32) '
               'local.get 0 i32.load8_u local.get 0 i32.const 9 i32.store8))')
    plain, staged = Case((50,)), Case((50,), env=env)
    results = sandbox.run(put, "f", [plain, staged, plain, staged])
    assert [r.results for r in results] == [(0,), (0,), (9,), (0,)]
    assert all(r.digest not in (FOREIGN, UNCHANGED) for r in results[1::2])
