"""while_loop: a loop around a one-armed `if` that branches back into the block-and-`br_if` loop clang writes.

    loop                                block
      <test>                              loop
      if                                    <test> i32.eqz        (a trailing i32.eqz is dropped instead)
        <body>                              br_if 1
        br 1                                <body>
      end                                   br 0
    end                                   end
                                        end

wasm-opt writes a `while` the first way, clang the second; both run the same instructions. The loop
rewrites (vectorize_bytes, word_at_a_time, unroll, idiom_bits) know clang's shapes, so code that went
through wasm-opt (jeet's seeds from -O0 builds, for one) reaches them through this operator. Inside the
body a branch that left the `if` (and so the loop) now leaves the new block, a branch to the loop stays
one, and branches further out keep their depth.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from jeet.wasm.ir import Body, Instr
from jeet.wasm.types import EMPTY_BLOCK

from ._ops import BLOCK_STARTS, BR, BR_IF, BR_TABLE, ELSE, END, IF, LOOP
from ._rewrite import CONTROL, I, rewrite_one_site
from .operator import Genome, Operator
from .sites import Facts, facts

__all__ = ["WhileLoop", "all_to_block_loops", "find_while_loops", "to_block_loop"]

_EQZ = 0x45


def find_while_loops(f: Facts) -> tuple[tuple[int, int, int], ...]:
    """(loop, if, loop's end) of each loop of the shape above: a straight-line test, a one-armed `if` of
    empty type whose arm ends with `br 1`, and nothing else in the loop."""
    instrs, ends, out = f.instrs, f.ends, []
    for i, ins in enumerate(instrs):
        if ins.op != LOOP or ins.imm[0] != EMPTY_BLOCK or not f.live[i]:
            continue
        stop = ends[i]
        j = next((k for k in range(i + 1, stop) if instrs[k].op in CONTROL), None)
        if j is None or j == i + 1 or instrs[j].op != IF or instrs[j].imm[0] != EMPTY_BLOCK:
            continue
        e = ends[j]
        last = instrs[e - 1]
        if e + 1 != stop or last.op != BR or last.imm[0] != 1:
            continue
        if any(instrs[k].op == ELSE and _level(instrs, j, k) == 0 for k in range(j + 1, e)):
            continue  # a two-armed if
        out.append((i, j, stop))
    return tuple(out)


def _level(instrs: Sequence[Instr], start: int, k: int) -> int:
    """How many blocks opened after `start` are still open at k."""
    depth = 0
    for ins in instrs[start + 1:k]:
        if ins.op in BLOCK_STARTS:
            depth += 1
        elif ins.op == END:
            depth -= 1
    return depth


def _relabel(body: Sequence[Instr]) -> list[Instr]:
    """The arm's branches at their new depths: to the `if` (label n at nesting n) -> the new block (n + 1),
    to the loop (n + 1) -> the loop (n); further out unchanged."""
    out, depth = [], 0

    def moved(label: int) -> int:
        return label + 1 if label == depth else label - 1 if label == depth + 1 else label

    for ins in body:
        if ins.op in BLOCK_STARTS:
            depth += 1
        elif ins.op == END:
            depth -= 1
        elif ins.op in (BR, BR_IF):
            ins = ins.with_imm(moved(ins.imm[0]))
        elif ins.op == BR_TABLE:
            labels, default = ins.imm
            ins = ins.with_imm(tuple(moved(x) for x in labels), moved(default))
        out.append(ins)
    return out


def to_block_loop(f: Facts, site: tuple[int, int, int]) -> Body:
    i, j, stop = site
    instrs = f.instrs
    test = list(instrs[i + 1:j])
    test = test[:-1] if test[-1].op == _EQZ else test + [I("i32.eqz")]
    arm = _relabel(instrs[j + 1:f.ends[j] - 1])
    new = (list(instrs[:i]) + [I("block", EMPTY_BLOCK), I("loop", EMPTY_BLOCK)] + test + [I("br_if", 1)] + arm
           + [I("br", 0), I("end"), I("end")] + list(instrs[stop + 1:]))
    return f.body.with_instrs(tuple(new))


class WhileLoop(Operator):
    name = "while_loop"

    def propose(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        return rewrite_one_site(parents[0], rng, "while_loops", find_while_loops, to_block_loop)


def all_to_block_loops(genome: Genome, limit: int = 64) -> Genome | None:
    """`genome` with every loop of this shape in every target rewritten (None: there was none)."""
    out = genome
    for _ in range(limit):
        for index in out.targets:
            sites = find_while_loops(facts(out, index))
            if sites:
                out = out.with_bodies({index: to_block_loop(facts(out, index), sites[0])})
                break
        else:
            break
    return out if out is not genome else None
