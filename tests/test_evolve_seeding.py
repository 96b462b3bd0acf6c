"""The first population's wasm-opt seeds: the input optimised as it is, and optimised after its frame slots
became locals, which wasm-opt alone may not do (the frame is memory it can see) and jeet may (it is scratch)."""

from __future__ import annotations

import shutil

import pytest
from genetics_support import bodies, wat

from jeet.evolve.seeding import wasm_opt_seeds
from jeet.genetics import Genome
from jeet.genetics.promote_slot import promote_all
from jeet.kernels import get_kernel
from jeet.prove import prove
from jeet.sandbox import Sandbox
from jeet.oracle import load_tests

needs_wasm_opt = pytest.mark.skipif(shutil.which("wasm-opt") is None, reason="wasm-opt not installed")

# clang -O0's x & (x - 1): x and x - 1 live in a frame below the stack pointer
FRAME = """(module (memory (export "memory") 2 16) (global $sp (mut i32) (i32.const 4096))
  (func (export "f") (param i32) (result i32) (local i32)
    global.get $sp i32.const 16 i32.sub local.set 1
    local.get 1 local.get 0 i32.store offset=12
    local.get 1 local.get 1 i32.load offset=12 i32.const 1 i32.sub i32.store offset=8
    local.get 1 i32.load offset=12 local.get 1 i32.load offset=8 i32.and))"""

PROMOTED = """(module (memory (export "memory") 2 16) (global $sp (mut i32) (i32.const 4096))
  (func (export "f") (param i32) (result i32) (local i32 i32 i32)
    global.get $sp i32.const 16 i32.sub local.set 1
    local.get 0 local.set 3
    local.get 3 i32.const 1 i32.sub local.set 2
    local.get 3 local.get 2 i32.and))"""

# what wasm-opt -O3 makes of PROMOTED: clang -O2's code
REGISTERS = """(module (func (export "f") (param i32) (result i32) local.get 0 local.get 0 i32.const 1 i32.sub i32.and))"""


def test_promote_all_turns_every_frame_slot_into_a_local():
    promoted = promote_all(Genome.from_bytes(wat(FRAME), "f"))
    assert bodies(promoted.wasm) == bodies(wat(PROMOTED))
    assert promote_all(Genome.from_bytes(promoted.wasm, "f")) is None  # nothing left to promote


@needs_wasm_opt
def test_the_promoted_seed_is_the_register_form_wasm_opt_cannot_reach_alone():
    original = wat(FRAME)
    plain, promoted = wasm_opt_seeds(original, "f")
    assert any("i32.store" in i for i in bodies(plain)[0][1])  # the frame stays
    assert bodies(promoted) == bodies(wat(REGISTERS))
    assert prove(original, promoted, "f", timeout_s=5.0).result == "proved"


@needs_wasm_opt
def test_a_hacker_program_is_seeded_at_clang_O2s_fuel():
    k = get_kernel("p01")
    seeds = wasm_opt_seeds(k.wasm("O0"), k.function)
    cases = list(load_tests(k.tests_path(), k.params, k.results))[:20]
    with Sandbox() as sandbox:
        fuel = [sum(r.fuel for r in sandbox.run(w, k.function, cases)) for w in (*seeds, k.wasm("O2opt"))]
    assert len(seeds) == 2 and fuel[1] == fuel[2] < fuel[0]


def test_without_frame_slots_there_is_no_promoted_seed():
    plain = wat('(module (func (export "f") (param i32) (result i32) local.get 0 i32.const 0 i32.add))')
    assert promote_all(Genome.from_bytes(plain, "f")) is None
    assert len(wasm_opt_seeds(plain, "f")) <= 1
