"""Per-genome facts the operators share, memoised on the Genome: bodies with their analyses, local
types, and the list of places an edit may start."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from jeet.wasm.analysis import block_ends
from jeet.wasm.ir import Body, Instr
from jeet.wasm.types import ValType

from ._ops import BLOCK_STARTS, ELSE, END
from .operator import Genome

__all__ = ["Facts", "add_locals", "compatible", "facts", "live_instructions", "pick_start", "starts"]


@dataclass(frozen=True, slots=True)
class Facts:
    """One target body with what the operators read about it."""

    index: int
    body: Body
    instrs: tuple[Instr, ...]
    infos: tuple
    ends: dict[int, int]
    params: tuple[ValType, ...]
    results: tuple[ValType, ...]
    local_types: tuple[ValType, ...]  # parameters first, then the declared locals
    live: tuple[bool, ...]  # reachable, and not inside a block that is itself unreachable


def facts(genome: Genome, defined_index: int) -> Facts:
    """The Facts of a target body (raises WasmError when the body does not type-check)."""
    def compute() -> Facts:
        module = genome.decoded()
        body = module.bodies[defined_index]
        infos = genome.analysis(defined_index)
        ftype = module.func_type(module.num_imported_funcs + defined_index)
        return Facts(defined_index, body, body.instrs, infos, block_ends(body.instrs),
                     ftype.params, ftype.results, ftype.params + body.local_types(),
                     live_instructions(body.instrs, infos))
    return genome.memo(("facts", defined_index), compute)


def live_instructions(instrs: Sequence[Instr], infos: Sequence) -> tuple[bool, ...]:
    """Per instruction: can it execute at all? `InstrInfo.reachable` alone says True inside a
    block that sits in dead code (the block's own frame is typed normally)."""
    out = []
    frames = [True]
    for ins, info in zip(instrs, infos):
        op = ins.op
        live = frames[-1] and info.reachable
        out.append(live)
        if op in BLOCK_STARTS:
            frames.append(live)
        elif op == END and len(frames) > 1:
            frames.pop()
    return tuple(out)


def starts(genome: Genome) -> tuple[tuple[int, int], ...]:
    """Every (defined index, instruction index) in a target where a run may begin."""
    def compute() -> tuple[tuple[int, int], ...]:
        out = []
        for t in genome.targets:
            f = facts(genome, t)
            out.extend((t, k) for k, (ins, live) in enumerate(zip(f.instrs, f.live))
                       if live and ins.op != END and ins.op != ELSE)
        return tuple(out)
    return genome.memo("starts", compute)


def pick_start(genome: Genome, rng: random.Random) -> tuple[Facts, int] | None:
    """A uniformly drawn run start over all targets, or None when there is none."""
    all_starts = starts(genome)
    if not all_starts:
        return None
    t, k = all_starts[rng.randrange(len(all_starts))]
    return facts(genome, t), k


def add_locals(body: Body, types: Sequence[ValType]) -> Body:
    """`body` with locals of the given types appended after the existing ones."""
    groups = list(body.locals)
    for t in types:
        if groups and groups[-1][1] == t:
            groups[-1] = (groups[-1][0] + 1, t)
        else:
            groups.append((1, t))
    return body.with_locals(tuple(groups))


def compatible(a: Genome, b: Genome) -> bool:
    """Whether code from b's bodies means the same in a: equal types, functions, globals, memories, tables."""
    ma, mb = a.decoded(), b.decoded()
    return (ma is mb or (
        ma.types == mb.types and ma.func_type_indices == mb.func_type_indices
        and ma.global_types == mb.global_types and ma.memory_types == mb.memory_types
        and ma.table_types == mb.table_types and len(ma.elements) == len(mb.elements)
        and len(ma.data) == len(mb.data)))
