"""Which instruction produced each operand: a stack simulation over a body with producer indices.

`operands[k]` lists, bottom to top, the indices of the instructions whose results instruction k
pops (-1 when the value comes from outside the frame: a block parameter); `consumers[p]` lists the
(consumer index, operand position) pairs of the values p pushes. Only reachable instructions are
simulated; values a block passes out are credited to its `end` (or to the branch that carries
them), so a value that leaves its frame is always seen as consumed by a control instruction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from jeet.wasm.ir import Instr

from ._ops import BLOCK_STARTS, ELSE, END, IF

__all__ = ["Flow", "simulate"]


@dataclass(frozen=True, slots=True)
class Flow:
    operands: tuple[tuple[int, ...], ...]
    consumers: dict[int, list[tuple[int, int]]]


def simulate(instrs: Sequence[Instr], infos: Sequence) -> Flow:
    operands: list[tuple[int, ...]] = [()] * len(instrs)
    consumers: dict[int, list[tuple[int, int]]] = {}
    # Each frame: [values (producer indices), number of block params].
    frames: list[list] = [[[], 0]]
    for k, ins in enumerate(instrs):
        op = ins.op
        info = infos[k]
        if op in BLOCK_STARTS:
            nparams = len(info.pops) - (1 if op == IF else 0)
            if info.reachable:
                _pop(frames[-1][0], len(info.pops), k, operands, consumers)
            frames.append([[-1] * nparams, nparams])
        elif op == ELSE:
            frame = frames[-1]
            if info.reachable:
                _pop(frame[0], len(frame[0]), k, operands, consumers)
            frame[0] = [-1] * frame[1]
        elif op == END:
            frame = frames.pop()
            if info.reachable:
                _pop(frame[0], len(frame[0]), k, operands, consumers)
            if frames:
                frames[-1][0].extend([k] * len(info.pushes))
        elif info.reachable:
            values = frames[-1][0]
            _pop(values, len(info.pops), k, operands, consumers)
            values.extend([k] * len(info.pushes))
    return Flow(tuple(operands), consumers)


def _pop(values: list[int], n: int, k: int, operands: list, consumers: dict) -> None:
    if n == 0:
        return
    taken = values[-n:] if n <= len(values) else [-1] * (n - len(values)) + values
    del values[-n:]
    operands[k] = tuple(taken)
    for pos, producer in enumerate(taken):
        if producer >= 0:
            consumers.setdefault(producer, []).append((k, pos))
