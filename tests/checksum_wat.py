"""A running checksum and its rewrites, shared by the lockstep proof and proof-gate tests."""

from __future__ import annotations

import wasmtime

# a running checksum kept below its modulus: `a = (a + byte) %u 65521`
CHECKSUM = '''(local i32 i32 i32)
  (local.set 2 (i32.const 1))
  (block $done (loop $next
    (br_if $done (i32.ge_u (local.get 3) (local.get 1)))
    (local.set 2 (i32.rem_u (i32.add (local.get 2) (i32.load8_u (i32.add (local.get 0) (local.get 3))))
                            (i32.const 65521)))
    (local.set 3 (i32.add (local.get 3) (i32.const 1)))
    (br $next)))
  (local.get 2)'''
REMAINDER = '''(local.set 2 (i32.rem_u (i32.add (local.get 2) (i32.load8_u (i32.add (local.get 0) (local.get 3))))
                            (i32.const 65521)))'''
# the remainder as one conditional subtract: exact because a <= 65520 and a byte adds at most 255
SUBTRACT = '''(local.set 2 (select (i32.sub (local.tee 4 (i32.add (local.get 2)
                                    (i32.load8_u (i32.add (local.get 0) (local.get 3))))) (i32.const 65521))
                                  (local.get 4) (i32.ge_u (local.get 4) (i32.const 65521))))'''
# `>u 65522` for `>=u 65521`: wrong only when the sum meets the modulus exactly (after 257 bytes at least)
WRONG_COMPARE = SUBTRACT.replace("(i32.ge_u (local.get 4) (i32.const 65521))", "(i32.gt_u (local.get 4) (i32.const 65522))")
assert REMAINDER in CHECKSUM and WRONG_COMPARE != SUBTRACT


def module(body: str) -> bytes:
    return wasmtime.wat2wasm(f'(module (memory (export "memory") 1) (func (export "f") (param i32 i32) (result i32) {body}))')


def checksum(step: str) -> bytes:
    """The checksum with its loop step replaced (one more local for the step's temporary)."""
    return module(CHECKSUM.replace(REMAINDER, step).replace("(local i32 i32 i32)", "(local i32 i32 i32 i32)"))


def restructured(step: str) -> bytes:
    """Like `checksum`, with loops that do not pair up with the original's (a second one, run once)."""
    head, tail = CHECKSUM.replace(REMAINDER, step).rsplit("(local.get 2)", 1)
    body = head + "(loop $once) (local.get 2)" + tail
    return module(body.replace("(local i32 i32 i32)", "(local i32 i32 i32 i32)"))
