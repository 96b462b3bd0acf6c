"""What one executed instruction counts as, for the native-time predictor and the fitness it feeds.

The classes are `jeet.wasm.opcodes.OPCODES[op].cls`, except that every branch counts as "branch", a
loop header as "loop" (its iterations are counted), and what makes no machine code (nop, block, end)
as nothing.
"""

from __future__ import annotations

from .opcodes import OPCODES

__all__ = ["op_class"]

_FREE = frozenset({0x01, 0x02, 0x0B})  # nop, block, end
_LOOP = 0x03
_BRANCHES = frozenset({0x04, 0x05, 0x0C, 0x0D, 0x0E, 0x0F, 0x00})  # if else br br_if br_table return unreachable


def op_class(op: int) -> str | None:
    """The class an execution of `op` counts in; None for what makes no machine code (nop, block, end)."""
    if op in _FREE:
        return None
    if op == _LOOP:
        return "loop"
    if op in _BRANCHES:
        return "branch"
    info = OPCODES.get(op)
    if info is None:
        return "int_arith"
    return "branch" if info.cls == "control" else info.cls
