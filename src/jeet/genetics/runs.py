"""Finding the pieces of a body that can be moved or removed without breaking validation.

A *run* [i, j) is a contiguous range at one block level: nested blocks are included whole, every
top-level instruction in it is reachable, and the operand stack never dips below its height at i.
A run is *neutral* when the height at j equals the height at i (then the stack types are equal
too, since nothing below the starting height was touched), and an *expression* of type T when the
height at j is one more and the new top is T. Deleting a neutral run, or replacing an expression
by any other expression of the same type, keeps the body valid. All functions here read the
per-instruction facts of `jeet.wasm.analysis.analyze`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from jeet.wasm.ir import Instr
from jeet.wasm.types import ValType

from ._ops import BLOCK_STARTS, BR, BR_IF, BR_TABLE, ELSE, END, RETURN

__all__ = [
    "expressions",
    "labels_internal",
    "neutral_runs",
    "next_at_level",
    "prefer_short",
    "run_steps",
    "top_level_points",
]

# How many top-level instructions a run may span; keeps operators cheap and edits local.
MAX_STEPS = 48


def next_at_level(instrs: Sequence[Instr], ends: dict[int, int], k: int) -> int:
    """The index of the next instruction at the same block level as instruction k."""
    return ends[k] + 1 if instrs[k].op in BLOCK_STARTS else k + 1


def labels_internal(instrs: Sequence[Instr], start: int, stop: int, *, returns: bool = False) -> bool:
    """True when every branch in instrs[start:stop] targets a block that starts inside the range.

    `return` counts as external unless `returns` (code repeated in place, as unrolling does, may return;
    code moved elsewhere may not). The range must be a whole run (balanced blocks).
    """
    depth = 0
    for x in range(start, stop):
        ins = instrs[x]
        op = ins.op
        if op in BLOCK_STARTS:
            depth += 1
        elif op == END:
            depth -= 1
        elif op == BR or op == BR_IF:
            if ins.imm[0] >= depth:
                return False
        elif op == BR_TABLE:
            labels, default = ins.imm
            if default >= depth or any(label >= depth for label in labels):
                return False
        elif op == RETURN and not returns:
            return False
    return True


def run_steps(instrs: Sequence[Instr], infos: Sequence, ends: dict[int, int], i: int,
              max_steps: int = MAX_STEPS, internal: bool = False) -> list[tuple[int, int]]:
    """The ends j of all runs starting at i, each with the stack height change over [i, j).

    Empty when i is unreachable or closes a block. With `internal`, the run stops before the
    first instruction that branches out of it (or returns).
    """
    first = infos[i]
    if not first.reachable or instrs[i].op in (ELSE, END):
        return []
    base = first.height
    out: list[tuple[int, int]] = []
    k = i
    for _ in range(max_steps):
        ins = instrs[k]
        info = infos[k]
        op = ins.op
        if op == ELSE or op == END or not info.reachable:
            break
        if info.height - len(info.pops) < base:
            break
        nxt = next_at_level(instrs, ends, k)
        if internal and (op in BLOCK_STARTS or op in (BR, BR_IF, BR_TABLE, RETURN)):
            if not labels_internal(instrs, k, nxt):
                break
        after = infos[nxt]
        if not after.reachable:
            break
        out.append((nxt, after.height - base))
        k = nxt
    return out


def neutral_runs(instrs: Sequence[Instr], infos: Sequence, ends: dict[int, int], i: int,
                 max_steps: int = MAX_STEPS, internal: bool = False) -> list[int]:
    """Ends j, shortest first, of the non-empty neutral runs [i, j)."""
    return [j for j, delta in run_steps(instrs, infos, ends, i, max_steps, internal) if delta == 0]


def expressions(instrs: Sequence[Instr], infos: Sequence, ends: dict[int, int], i: int,
                max_steps: int = MAX_STEPS) -> list[tuple[int, ValType]]:
    """Ends j, shortest first, of the expressions [i, j), each with the type it pushes."""
    return [(j, infos[j].stack[-1])
            for j, delta in run_steps(instrs, infos, ends, i, max_steps) if delta == 1]


def top_level_points(instrs: Sequence[Instr], infos: Sequence, ends: dict[int, int]) -> list[int]:
    """Reachable instruction indices at block depth 0 (the function's own level), final `end` included."""
    out = []
    k = 0
    n = len(instrs)
    while k < n:
        if infos[k].reachable:
            out.append(k)
        if instrs[k].op == END:
            break
        k = next_at_level(instrs, ends, k)
    return out


def prefer_short(rng: random.Random, n: int) -> int:
    """An index into a list of n choices sorted shortest first, halving the odds at each step."""
    k = 0
    while k < n - 1 and rng.random() < 0.5:
        k += 1
    return k
