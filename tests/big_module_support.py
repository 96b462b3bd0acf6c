"""Huge modules for budget tests: a small module grown by one custom section (same code, any size)."""

from __future__ import annotations


def leb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def with_custom_section(wasm: bytes, size: int) -> bytes:
    """`wasm` with a custom section named "big" of `size` zero bytes appended."""
    content = leb(3) + b"big" + bytes(size)
    return wasm + b"\x00" + leb(len(content)) + content
