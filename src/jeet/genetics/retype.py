"""Typing of an edited body derived from its parent's, so a child need not be analysed again.

Every structural edit keeps the operand stack at its seams unchanged, so the `InstrInfo`s of the
untouched instructions carry over verbatim and only inserted instructions need new ones. Each
function here returns exactly what `jeet.wasm.analysis.analyze` would compute for the new body
(tests compare the two).
"""

from __future__ import annotations

from collections.abc import Sequence

from jeet.wasm.analysis import InstrInfo
from jeet.wasm.ir import Instr
from jeet.wasm.opcodes import OPCODES
from jeet.wasm.types import ValType

from ._ops import CONST_TYPE, LOCAL_GET

__all__ = ["moved_run", "pushed_value"]


def moved_run(infos: Sequence[InstrInfo], at: InstrInfo) -> list[InstrInfo]:
    """The typing of a neutral run (given by its infos at its original place) executed where `at`
    is the typing of the instruction it is inserted before."""
    first = infos[0]
    depth = first.depth
    base = first.height
    shift = at.depth - depth
    prefix = at.stack
    height = at.height
    out = []
    for info in infos:
        if info.depth == depth:
            out.append(InstrInfo(info.pops, info.pushes, height + info.height - base,
                                 prefix + info.stack[base:], at.depth, info.reachable))
        elif shift:
            out.append(InstrInfo(info.pops, info.pushes, info.height, info.stack, info.depth + shift,
                                 info.reachable))
        else:
            out.append(info)
    return out


def pushed_value(new: Sequence[Instr], at: InstrInfo, local_types: Sequence[ValType]) -> list[InstrInfo]:
    """The typing of a short sequence `local.get k` / `T.const c`, optionally followed by a unary
    operator, inserted where `at` is the typing of the first replaced instruction."""
    out = []
    stack = at.stack
    for ins in new:
        if ins.op == LOCAL_GET:
            pops, pushes = (), (local_types[ins.imm[0]],)
        elif ins.op in CONST_TYPE:
            pops, pushes = (), (CONST_TYPE[ins.op],)
        else:
            pops, pushes = OPCODES[ins.op].sig
        out.append(InstrInfo(pops, pushes, len(stack), stack, at.depth, True))
        stack = stack[: len(stack) - len(pops)] + pushes
    return out
