"""Linear memory as an array of bytes: little-endian loads and stores of every width.

The effective address is `base + offset` computed in 64 bits (no wrap: the spec's 33-bit
sum), and an access traps when `ea + width > size`. In bounds, `ea` fits in 32 bits and
byte i of the access lives at `ea + i`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .terms import Builder, Term


@dataclass(frozen=True, slots=True)
class Access:
    """How an instruction touches memory: bytes, value width, sign extension."""

    nbytes: int
    width: int
    signed: bool = False


def _access(name: str) -> Access:
    ty, op = name.split(".")
    width = int(ty[1:])
    digits = op.replace("load", "").replace("store", "").split("_")[0]
    bits = int(digits) if digits else width
    return Access(bits // 8, width, op.endswith("_s"))


LOADS = {f"{t}.load{s}": _access(f"{t}.load{s}") for t, s in (
    ("i32", ""), ("i64", ""), ("i32", "8_s"), ("i32", "8_u"), ("i32", "16_s"), ("i32", "16_u"),
    ("i64", "8_s"), ("i64", "8_u"), ("i64", "16_s"), ("i64", "16_u"), ("i64", "32_s"), ("i64", "32_u"))}
STORES = {f"{t}.store{s}": _access(f"{t}.store{s}") for t, s in (
    ("i32", ""), ("i64", ""), ("i32", "8"), ("i32", "16"), ("i64", "8"), ("i64", "16"), ("i64", "32"))}
LOADS["v128.load"] = STORES["v128.store"] = Access(16, 128)  # a vector is its 16 bytes (`jeet.prove.vector`)


def effective(b: Builder, base: Term, offset: int, nbytes: int, size: int) -> tuple[Term, Term]:
    """(the 32-bit effective address, the out-of-bounds trap condition)."""
    ea = b.bin("add", b.zext(base, 64), b.const(offset, 64))
    oob = b.cmp("ult", b.const(size, 64), b.bin("add", ea, b.const(nbytes, 64)))
    return b.extract(ea, 31, 0), oob


def load(b: Builder, mem: Term, addr: Term, access: Access) -> Term:
    """The value read at in-bounds address `addr`, extended to the access's width."""
    value = b.select(mem, addr)
    for i in range(1, access.nbytes):
        byte = b.select(mem, b.bin("add", addr, b.const(i, 32)))
        value = b.concat(byte, value)
    return b.sext(value, access.width) if access.signed else b.zext(value, access.width)


def store(b: Builder, mem: Term, addr: Term, value: Term, access: Access) -> Term:
    """The memory after writing the low `nbytes` of `value` at in-bounds address `addr`."""
    for i in range(access.nbytes):
        at = b.bin("add", addr, b.const(i, 32))
        mem = b.store(mem, at, b.extract(value, 8 * i + 7, 8 * i))
    return mem
