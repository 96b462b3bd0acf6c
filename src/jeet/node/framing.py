"""Length-prefixed frames on a byte stream: a 4-byte big-endian length, then that many bytes.

The reader (`jeet.node.transport`) checks the length against a limit before reading the frame, so an
oversized or lying prefix costs the sender its connection, never the node its memory.
"""

from __future__ import annotations

import struct

from ..net import NetError

HEADER = struct.Struct(">I")


class FrameError(NetError):
    """The stream broke the framing rules (empty or oversized frame, or a truncated one)."""


def frame(payload: bytes) -> bytes:
    """`payload` with its length prefix."""
    return HEADER.pack(len(payload)) + payload
