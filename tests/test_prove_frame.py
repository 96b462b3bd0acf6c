"""Lockstep across a moved stack frame (`jeet.prove.frame`): clang -O0's crc8 against a variant that keeps
its loop counters in locals, has the frame pointer folded to a constant and the stack pointer dropped.
The loops pair up but their header states differ (a counter in a frame slot on one side, in a local on the
other): equal in lockstep only with the frames related."""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from jeet.prove import prove
from jeet.prove.frame import frame_lockstep
from jeet.wasm import abi, decode

KERNELS = Path(__file__).resolve().parents[1] / "src" / "jeet" / "kernels" / "wasm"
CRC8_O0 = (KERNELS / "crc8.O0.wasm").read_bytes()

# the counters i and k live in locals 2 and 4; crc and the polynomial stay in the frame at 4064 + 18, 19
PROMOTED = """(module
  (type (;0;) (func (param i32 i32 i32) (result i32)))
    (func (;0;) (type 0) (param i32 i32 i32) (result i32)
      (local i32 i32)
      i32.const 4064
      local.tee 3
      local.get 2
      i32.store8 offset=19
      local.get 3
      i32.const 0
      i32.store8 offset=18
      i32.const 0
      local.set 2
      loop  ;; label = @1
        local.get 1
        local.get 2
        i32.gt_s
        if  ;; label = @2
          local.get 3
          local.get 3
          i32.load8_u offset=18
          local.get 0
          local.get 2
          i32.add
          i32.load8_u
          i32.xor
          i32.store8 offset=18
          i32.const 0
          local.set 4
          local.get 2
          i32.const 1
          i32.add
          local.set 2
          loop  ;; label = @3
            local.get 4
            i32.const 8
            i32.lt_s
            if  ;; label = @4
              block  ;; label = @5
                local.get 3
                i32.load8_u offset=18
                i32.const 128
                i32.and
                if  ;; label = @6
                  local.get 3
                  local.get 3
                  i32.load8_u offset=19
                  local.get 3
                  i32.load8_u offset=18
                  i32.const 1
                  i32.shl
                  i32.xor
                  i32.store8 offset=18
                  br 1 (;@5;)
                end
                local.get 3
                local.get 3
                i32.load8_u offset=18
                i32.const 1
                i32.shl
                i32.store8 offset=18
              end
              local.get 4
              i32.const 1
              i32.add
              local.set 4
              br 1 (;@3;)
            end
          end
          br 1 (;@1;)
        end
      end
      local.get 3
      i32.load8_u offset=18)
    (memory (;0;) 2 16)
    (export "memory" (memory 0))
    (export "crc8" (func 0)))"""


def _frame(variant: bytes):
    ma, mb = decode(CRC8_O0), decode(variant)
    f = ma.export_func("crc8")
    return frame_lockstep(ma, mb, f, mb.export_func("crc8"), CRC8_O0, variant, timeout_s=2.0)


def test_counters_promoted_to_locals_are_equal_in_lockstep_with_the_frames_related():
    variant = wasmtime.wat2wasm(PROMOTED)
    p = _frame(variant)
    assert p is not None and p.result == "proved", p
    assert "local-to-slot" in p.reason
    v = prove(CRC8_O0, variant, "crc8", timeout_s=2.0)
    assert (v.result, v.method) == ("proved", "smt:bitwuzla+lockstep"), v


@pytest.mark.parametrize("change", [
    ("i32.const 128", "i32.const 64"),                                     # tests another bit
    ("i32.const 1\n" + " " * 18 + "i32.shl", "i32.const 2\n" + " " * 18 + "i32.shl"),  # shifts too far
    ("i32.load8_u offset=19", "i32.load8_u offset=18"),                    # reads crc for the polynomial
    ("i32.gt_s", "i32.ge_s"),                                              # one byte too many
    ("i32.const 8\n", "i32.const 7\n"),                                  # seven bits a byte
])
def test_a_wrong_variant_is_not_shown_equal(change):
    old, new = change
    assert old in PROMOTED
    variant = wasmtime.wat2wasm(PROMOTED.replace(old, new, 1))
    p = _frame(variant)
    assert p is None or p.result != "proved", p


def test_the_whole_check_does_not_prove_a_wrong_bit_test():
    variant = wasmtime.wat2wasm(PROMOTED.replace("i32.const 128", "i32.const 64", 1))
    assert prove(CRC8_O0, variant, "crc8", timeout_s=2.0).result in ("refuted", "unknown")


def test_a_frame_whose_address_escapes_has_no_fixed_slots():
    """A table in the frame, indexed by a computed offset: not every frame access is a fixed slot, so the
    relations (and the contract that computed accesses reach only the caller's data) do not apply."""
    table = decode((KERNELS / "crc8.table.O0.wasm").read_bytes())
    assert abi.frame_slots(table, table.export_func("crc8")) is None
    crc8 = decode(CRC8_O0)
    assert abi.frame_slots(crc8, crc8.export_func("crc8")) == (
        (-24, 4), (-20, 4), (-14, 1), (-13, 1), (-12, 4), (-8, 4), (-4, 4))
