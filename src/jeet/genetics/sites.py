"""Per-genome facts the operators share, memoised on the Genome: bodies with their analyses, local
types, and the places an edit may start. Edits pick a target function first (weighted by its
size, which needs no analysis) and analyse only that one."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence, Set
from dataclasses import dataclass

from jeet.wasm.analysis import block_ends
from jeet.wasm.ir import Body, Instr
from jeet.wasm.types import ValType

from ._ops import BLOCK_STARTS, ELSE, END, LOCAL_GET, LOOP
from .operator import Genome

__all__ = ["Facts", "add_locals", "compatible", "facts", "live_after", "live_instructions", "pick_site",
           "pick_start", "pick_target", "starts"]


@dataclass(frozen=True, slots=True)
class Facts:
    """One function body with what the operators read about it."""

    index: int
    body: Body
    instrs: tuple[Instr, ...]
    infos: tuple
    ends: dict[int, int]
    params: tuple[ValType, ...]
    results: tuple[ValType, ...]
    local_types: tuple[ValType, ...]  # parameters first, then the declared locals
    live: tuple[bool, ...]  # reachable, and not inside a block that is itself unreachable


_CLOSERS = frozenset((ELSE, END))


def facts(genome: Genome, defined_index: int) -> Facts:
    """The Facts of a defined function's body (raises WasmError when it does not type-check)."""
    def compute() -> Facts:
        module = genome.decoded()
        body = module.bodies[defined_index]
        infos = genome.analysis(defined_index)
        ftype = module.func_type(module.num_imported_funcs + defined_index)
        ends = block_ends(body.instrs)
        return Facts(defined_index, body, body.instrs, infos, ends, ftype.params, ftype.results,
                     ftype.params + body.local_types(), live_instructions(body.instrs, infos, ends))
    return genome.memo_body("facts", defined_index, compute)


def live_instructions(instrs: Sequence[Instr], infos: Sequence,
                      ends: dict[int, int] | None = None) -> tuple[bool, ...]:
    """Per instruction: can it execute at all? `InstrInfo.reachable` alone says True inside a
    block that sits in dead code (the block's own frame is typed normally)."""
    reachable = tuple([info.reachable for info in infos])
    if ends is not None and all(reachable[k] for k in ends):
        return reachable  # no block starts in dead code
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


def pick_target(genome: Genome, rng: random.Random) -> int | None:
    """A target drawn with probability proportional to its instruction count, or None if none."""
    def compute() -> tuple[tuple[int, ...], list[int]]:
        bodies = genome.decoded().bodies
        cumulative, total = [], 0
        for t in genome.targets:
            total += len(bodies[t].instrs)
            cumulative.append(total)
        return genome.targets, cumulative
    targets, cumulative = genome.memo("target_weights", compute)
    if not targets:
        return None
    return rng.choices(targets, cum_weights=cumulative)[0]


def starts(genome: Genome, defined_index: int) -> tuple[int, ...]:
    """Where a run may begin in one body: live instructions that take no operands (a run never
    reaches below its starting height) and do not close a block."""
    def compute() -> tuple[int, ...]:
        f = facts(genome, defined_index)
        live = f.live
        return tuple([k for k, info in enumerate(f.infos)
                      if not info.pops and live[k] and f.instrs[k].op not in _CLOSERS])
    return genome.memo_body("starts", defined_index, compute)


def pick_start(genome: Genome, rng: random.Random) -> tuple[Facts, int] | None:
    """A run start in a target drawn by `pick_target`, or None when that target has none."""
    t = pick_target(genome, rng)
    if t is None:
        return None
    ks = starts(genome, t)
    if not ks:
        return None
    return facts(genome, t), ks[rng.randrange(len(ks))]


def pick_site(genome: Genome, rng: random.Random, name: str, opcodes: Set[int],
              attempts: int = 8) -> tuple[Facts, int] | None:
    """A live instruction whose opcode is in `opcodes`, in a target drawn by `pick_target`
    (`attempts` draws at most); `name` keys the memoised site list."""
    for _ in range(attempts):
        t = pick_target(genome, rng)
        if t is None:
            return None
        f = facts(genome, t)
        live = f.live
        sites = genome.memo_body(name, t, lambda: tuple(
            [k for k, ins in enumerate(f.instrs) if ins.op in opcodes and live[k]]))
        if sites:
            return f, sites[rng.randrange(len(sites))]
    return None


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


def start_sites(genome: Genome, rng: random.Random, attempts: int = 16) -> Iterator[tuple[Facts, int]]:
    """Up to `attempts` random live instruction sites `(facts, index)` of the genome's targets.

    The shared search loop of the run-based operators: each one tries sites until one suits it."""
    for _ in range(attempts):
        start = pick_start(genome, rng)
        if start is not None:
            yield start


def live_after(instrs: Sequence[Instr], stop: int) -> set[int]:
    """Locals that may be read after `instrs[:stop]` ran: read anywhere later in the body, or anywhere
    in a loop around `stop` (the loop may come round). A safe over-approximation of liveness."""
    live = {i.imm[0] for i in instrs[stop:] if i.op == LOCAL_GET}
    starts: list[int] = []
    for k, i in enumerate(instrs[:stop]):
        if i.op in BLOCK_STARTS:
            starts.append(k)
        elif i.op == END and starts:
            starts.pop()
    open_loops = [k for k in starts if instrs[k].op == LOOP]
    if open_loops:
        live |= {i.imm[0] for i in instrs[open_loops[0]:stop] if i.op == LOCAL_GET}
    return live
