"""Length-prefixed frames on a byte stream: a 4-byte big-endian length, then that many bytes.

The length is checked against a limit before anything is read, so an oversized or lying prefix costs the
sender its connection, never the node its memory.
"""

from __future__ import annotations

import asyncio
import struct

from ..net import NetError

HEADER = struct.Struct(">I")


class FrameError(NetError):
    """The stream broke the framing rules (empty or oversized frame, or a truncated one)."""


async def read_frame(reader: asyncio.StreamReader, max_size: int) -> bytes | None:
    """The next frame, or None at a clean end of stream (between frames)."""
    try:
        header = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise FrameError("stream ended inside a frame header") from None
    (size,) = HEADER.unpack(header)
    if size == 0:
        raise FrameError("empty frame")
    if size > max_size:
        raise FrameError(f"frame of {size} bytes exceeds the limit of {max_size}")
    try:
        return await reader.readexactly(size)
    except asyncio.IncompleteReadError:
        raise FrameError(f"stream ended inside a frame of {size} bytes") from None


def frame(payload: bytes) -> bytes:
    """`payload` with its length prefix."""
    return HEADER.pack(len(payload)) + payload
