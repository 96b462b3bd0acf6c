"""copy_run: insert a copy of a self-contained stack-neutral run at a reachable point of a target.

The source run (same or another target function) must branch only to blocks inside itself, so
it can execute anywhere: it neither needs nor leaves operands, and its labels travel with it.
Local indices are mapped into the destination function: kept when the type there matches (always
within one function), otherwise sent to a same-typed local of the destination or to a fresh one.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from jeet.wasm.ir import Body, Instr
from jeet.wasm.types import ValType

from ._ops import LOCAL_OPS
from .operator import Genome, Operator
from .retype import moved_run
from .runs import neutral_runs, prefer_short
from .sites import add_locals, facts, pick_target, start_sites

__all__ = ["CopyRun", "insert_run", "map_locals"]

ATTEMPTS = 16


def map_locals(rng: random.Random, run: Sequence[Instr], src_types: Sequence[ValType],
               dst_types: Sequence[ValType], same_function: bool) -> tuple[dict[int, int], list[ValType]]:
    """Where each local of `run` goes in the destination, and the types of locals to add there."""
    mapping: dict[int, int] = {}
    added: list[ValType] = []
    for ins in run:
        if ins.op not in LOCAL_OPS or ins.imm[0] in mapping:
            continue
        src = ins.imm[0]
        vtype = src_types[src]
        if same_function or (src < len(dst_types) and dst_types[src] == vtype and rng.random() < 0.8):
            mapping[src] = src
            continue
        same = [k for k, t in enumerate(dst_types) if t == vtype]
        if same and rng.random() < 0.7:
            mapping[src] = rng.choice(same)
        else:
            mapping[src] = len(dst_types) + len(added)
            added.append(vtype)
    return mapping, added


def insert_run(body: Body, at: int, run: Sequence[Instr], mapping: dict[int, int] | None = None,
               new_locals: Sequence[ValType] = ()) -> Body:
    """`body` with `run` inserted before instruction `at`, its locals renamed by `mapping`."""
    if mapping:
        run = [Instr(ins.op, (mapping[ins.imm[0]],)) if ins.op in LOCAL_OPS and mapping[ins.imm[0]] != ins.imm[0]
               else ins for ins in run]
    if new_locals:
        body = add_locals(body, new_locals)
    ins = body.instrs
    return body.with_instrs(ins[:at] + tuple(run) + ins[at:])


class CopyRun(Operator):
    name = "copy_run"

    def propose(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        parent = parents[0]
        for src, i in start_sites(parent, rng, ATTEMPTS):
            ends = neutral_runs(src.instrs, src.infos, src.ends, i, internal=True)
            if not ends:
                continue
            j = ends[prefer_short(rng, len(ends))]
            run = src.instrs[i:j]
            dst_t = pick_target(parent, rng)
            dst = facts(parent, dst_t)
            points = _insertion_points(parent, dst_t)
            if not points:
                continue
            at = rng.choice(points)
            mapping, added = map_locals(rng, run, src.local_types, dst.local_types, dst_t == src.index)
            infos = dst.infos[:at] + tuple(moved_run(src.infos[i:j], dst.infos[at])) + dst.infos[at:]
            return parent.with_bodies({dst_t: insert_run(dst.body, at, run, mapping, added)}, {dst_t: infos})
        return None


def _insertion_points(genome: Genome, t: int) -> tuple[int, ...]:
    def compute():
        return tuple(k for k, live in enumerate(facts(genome, t).live) if live)
    return genome.memo_body("insertion_points", t, compute)
