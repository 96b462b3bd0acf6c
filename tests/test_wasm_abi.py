"""The shadow-stack ABI read from the IR: the stack pointer, frame sizes, scratch regions, state writes."""

from __future__ import annotations

import pytest
import wasmtime

from jeet.kernels import KERNELS
from jeet.wasm import decode
from jeet.wasm.abi import Scratch, frame_bytes, scratch, stack_pointer, state_writes


def module(wat: str):
    return decode(wasmtime.wat2wasm(wat))


# clang -O2 style: the prologue lowers the pointer, stores into the frame, the epilogue restores it.
FRAMED = """(module (memory (export "memory") 2)
  (global $sp (mut i32) (i32.const 4096))
  (func $leaf (param i32) (result i32) (local i32)
    global.get $sp i32.const 16 i32.sub local.tee 1 local.get 0 i32.store offset=12
    local.get 1 i32.load offset=12)
  (func (export "f") (param i32) (result i32) (local i32)
    global.get $sp i32.const 32 i32.sub local.tee 1 global.set $sp
    local.get 1 local.get 0 i32.store offset=4
    local.get 1 i32.load offset=4 call $leaf
    local.get 1 i32.const 32 i32.add global.set $sp))"""


def test_clang_style_frame_is_scratch():
    m = module(FRAMED)
    assert stack_pointer(m) == 0
    # 32 bytes of its own, then the 4 bytes the leaf stores into below them
    assert frame_bytes(m, m.export_func("f")) == 36
    assert scratch(m, "f") == Scratch(0, 4096, 36)
    assert scratch(m, "f").region == (4060, 4096)
    assert state_writes(m, "f") == ()


def test_leaf_frame_without_moving_the_pointer():
    # clang -O0 leaf functions keep their frame below the pointer and never write it back
    m = module("""(module (memory 1) (global $sp (mut i32) (i32.const 1024))
      (func (export "f") (param i32) (result i32) (local i32 i32 i32)
        global.get $sp local.set 1 i32.const 8 local.set 2 local.get 1 local.get 2 i32.sub local.set 3
        local.get 3 local.get 0 i32.store offset=4 local.get 3 i32.load offset=4))""")
    assert scratch(m, "f") == Scratch(0, 1024, 4)
    assert state_writes(m, "f") == ()


def test_store_through_a_parameter_is_state():
    m = module("""(module (memory (export "memory") 1)
      (func (export "f") (param i32 i32) local.get 0 i32.const 1023 i32.and local.get 1 i32.store))""")
    assert stack_pointer(m) is None and scratch(m, "f") is None
    assert state_writes(m, "f") == ("function 0: a store (instruction 4) outside its stack frame",)


def test_global_write_and_unrestored_pointer_are_state():
    m = module("""(module (memory 1) (global $sp (mut i32) (i32.const 1024)) (global $n (mut i32) (i32.const 0))
      (func (export "f") global.get $sp i32.const 16 i32.sub global.set $sp
        global.get $n i32.const 1 i32.add global.set $n))""")
    reasons = state_writes(m, "f")
    assert "function 0: global.set 1" in reasons
    assert "function 0: the stack pointer is not restored" in reasons


def test_non_constant_frame_has_no_bound():
    m = module("""(module (memory 1) (global $sp (mut i32) (i32.const 1024))
      (func (export "f") (param i32)
        global.get $sp i32.const 16 i32.sub global.set $sp
        global.get $sp local.get 0 i32.sub global.set $sp))""")
    assert frame_bytes(m, 0) is None and scratch(m, "f") is None
    assert state_writes(m, "f")


def test_recursion_has_no_bound():
    m = module("""(module (memory 1) (global $sp (mut i32) (i32.const 1024))
      (func $f (export "f") (param i32)
        global.get $sp i32.const 16 i32.sub global.set $sp
        local.get 0 if local.get 0 i32.const 1 i32.sub call $f end
        global.get $sp i32.const 16 i32.add global.set $sp))""")
    assert frame_bytes(m, 0) is None


def test_every_kernel_at_O0_has_a_small_scratch_frame():
    for kernel in KERNELS:
        m = decode(kernel.wasm("O0"))
        s = scratch(m, kernel.function)
        assert s is not None and s.sp_entry == 4096 and 0 < s.frame <= 512, (kernel.name, s)


_SP = '(module (memory 1) (global $sp (mut i32) (i32.const 1024)) (func (export "f") (param i32) (result i32) (local i32) {}))'


@pytest.mark.parametrize("body, reason", [
    # lowers the pointer, then may return before the epilogue restores it
    ("global.get $sp i32.const 16 i32.sub local.tee 1 global.set $sp "
     "local.get 0 (if (then i32.const 0 return)) "
     "local.get 1 i32.load offset=4 local.get 1 i32.const 16 i32.add global.set $sp",
     "may return with the stack pointer moved"),
    # a 4-byte store at sp-2: two of its bytes lie above the entry pointer
    ("global.get $sp i32.const 16 i32.sub local.tee 1 global.set $sp "
     "local.get 1 local.get 0 i32.store offset=14 "
     "local.get 1 i32.load offset=4 local.get 1 i32.const 16 i32.add global.set $sp",
     "outside its stack frame"),
    # lowered once per loop iteration, raised once: the pointer leaks
    ("(loop global.get $sp i32.const 16 i32.sub global.set $sp "
     "local.get 0 i32.const 1 i32.sub local.tee 0 br_if 0) "
     "global.get $sp i32.const 16 i32.add global.set $sp i32.const 0",
     "set inside a block"),
    # local 1 is read (as 0) before it is given the frame address: the store hits address 0
    ("local.get 0 (if (then local.get 1 local.get 0 i32.store)) "
     "global.get $sp i32.const 16 i32.sub local.set 1 local.get 1 i32.load offset=4",
     "outside its stack frame"),
])
def test_state_writes_sees_what_a_straight_line_reading_misses(body, reason):
    reasons = state_writes(module(_SP.format(body)), "f")
    assert reasons and reason in reasons[0], reasons
