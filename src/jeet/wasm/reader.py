"""Bounded byte reading and LEB128, both directions.

Readers take `(data, pos, end)` and return `(value, new_pos)`; they never read at or past
`end` and raise `WasmError` (with the absolute offset) instead. LEB128 decoding follows the
spec exactly: at most ceil(N/7) bytes, and the unused bits of the last byte must be zero
(unsigned) or copies of the sign bit (signed), so every malformed integer is rejected.
"""

from __future__ import annotations

from ..errors import WasmError

__all__ = [
    "Reader",
    "read_u32",
    "read_s32",
    "read_s33",
    "read_s64",
    "read_uleb",
    "read_sleb",
    "write_u32",
    "write_sleb",
    "write_uleb",
]


def _too_long(pos: int) -> WasmError:
    return WasmError(pos, "integer representation too long")


def _too_large(pos: int) -> WasmError:
    return WasmError(pos, "integer too large")


def _eof(pos: int) -> WasmError:
    return WasmError(pos, "unexpected end")


def read_uleb(data: bytes, pos: int, end: int, bits: int) -> tuple[int, int]:
    """An unsigned LEB128 of at most `bits` bits."""
    result = 0
    shift = 0
    maxbytes = (bits + 6) // 7
    start = pos
    while True:
        if pos >= end:
            raise _eof(pos)
        b = data[pos]
        pos += 1
        if pos - start == maxbytes:
            if b & 0x80:
                raise _too_long(pos - 1)
            if b >> (bits - shift):
                raise _too_large(pos - 1)
            return result | (b << shift), pos
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def read_sleb(data: bytes, pos: int, end: int, bits: int) -> tuple[int, int]:
    """A signed LEB128 of at most `bits` bits, as a Python int in [-2^(bits-1), 2^(bits-1))."""
    result = 0
    shift = 0
    maxbytes = (bits + 6) // 7
    start = pos
    while True:
        if pos >= end:
            raise _eof(pos)
        b = data[pos]
        pos += 1
        if pos - start == maxbytes:
            if b & 0x80:
                raise _too_long(pos - 1)
            # bits of the last byte beyond the value must all equal the sign bit
            used = bits - shift  # 1..7 value bits in this byte
            rest = b >> (used - 1)  # sign bit and everything above it, within 7 bits
            if rest != 0 and rest != (0x7F >> (used - 1)):
                raise _too_large(pos - 1)
            result |= (b & 0x7F) << shift
            shift += 7
            break
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    if result >> (shift - 1) & 1:
        result -= 1 << shift
    return result, pos


def read_u32(data: bytes, pos: int, end: int) -> tuple[int, int]:
    if pos < end:
        b = data[pos]
        if b < 0x80:
            return b, pos + 1
    return read_uleb(data, pos, end, 32)


def _signed_reader(bits: int):
    """A reader of a signed LEB128 of `bits` bits, with the one-byte case inlined (the hot path)."""

    def read(data: bytes, pos: int, end: int) -> tuple[int, int]:
        if pos < end:
            b = data[pos]
            if b < 0x40:
                return b, pos + 1
            if b < 0x80:
                return b - 0x80, pos + 1
        return read_sleb(data, pos, end, bits)

    read.__name__ = read.__qualname__ = f"read_s{bits}"
    return read


read_s32 = _signed_reader(32)
read_s33 = _signed_reader(33)
read_s64 = _signed_reader(64)


class Reader:
    """A cursor over `data[pos:end]` for the section-level decoder."""

    __slots__ = ("data", "pos", "end")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def error(self, reason: str, offset: int | None = None) -> WasmError:
        return WasmError(self.pos if offset is None else offset, reason)

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def at_end(self) -> bool:
        return self.pos >= self.end

    def u8(self) -> int:
        if self.pos >= self.end:
            raise _eof(self.pos)
        b = self.data[self.pos]
        self.pos += 1
        return b

    def peek(self) -> int:
        if self.pos >= self.end:
            raise _eof(self.pos)
        return self.data[self.pos]

    def take(self, n: int) -> bytes:
        if n > self.end - self.pos:
            raise WasmError(self.pos, "unexpected end")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u32(self) -> int:
        v, self.pos = read_u32(self.data, self.pos, self.end)
        return v

    def s32(self) -> int:
        v, self.pos = read_s32(self.data, self.pos, self.end)
        return v

    def s33(self) -> int:
        v, self.pos = read_s33(self.data, self.pos, self.end)
        return v

    def s64(self) -> int:
        v, self.pos = read_s64(self.data, self.pos, self.end)
        return v

    def count(self, min_item_size: int = 1) -> int:
        """A vector length, rejected at once if the remaining bytes cannot hold that many items."""
        at = self.pos
        n = self.u32()
        if n * min_item_size > self.end - self.pos:
            raise WasmError(at, f"length out of bounds: {n} items claimed, {self.end - self.pos} bytes left")
        return n

    def name(self) -> str:
        at = self.pos
        n = self.u32()
        if n > self.end - self.pos:
            raise WasmError(at, "length out of bounds")
        raw = self.data[self.pos : self.pos + n]
        try:
            s = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise WasmError(self.pos + e.start, "malformed UTF-8 encoding") from None
        self.pos += n
        return s


def write_uleb(value: int) -> bytes:
    """Minimal unsigned LEB128 of a non-negative int."""
    if 0 <= value < 0x80:
        return bytes((value,))
    if value < 0:
        raise WasmError(-1, f"negative value {value} for an unsigned LEB128")
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def write_sleb(value: int) -> bytes:
    """Minimal signed LEB128 of an int."""
    if -0x40 <= value < 0x40:
        return bytes((value & 0x7F,))
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if (value == 0 and not b & 0x40) or (value == -1 and b & 0x40):
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def write_u32(value: int) -> bytes:
    if not 0 <= value <= 0xFFFFFFFF:
        raise WasmError(-1, f"{value} does not fit in u32")
    return write_uleb(value)
