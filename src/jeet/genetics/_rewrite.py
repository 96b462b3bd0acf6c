"""Helpers the machine-level rewrites share: instruction builders, effect classes, constants seen
through locals, expression boundaries, a child genome that is checked before it is handed out, and
`rewrite_one_site`, the search every site-based rewrite makes.

The rewrites (strength reduction, if-conversion, loop-invariant code motion, idioms, unrolling)
are built to be valid; `checked_child` type-checks the edited body once more so that a missed
corner can only make an operator answer "not applicable", never emit an invalid module.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TypeVar

from jeet.errors import WasmError
from jeet.wasm.ir import Body, Instr
from jeet.wasm.opcodes import BY_NAME, OPCODES
from jeet.wasm.types import I32, I64, ValType

from ._ops import (BLOCK_STARTS, BRANCHES, CONST_TYPE, ELSE, END, LOCAL_GET, LOCAL_SET, LOCAL_TEE,
                   RETURN, UNREACHABLE)
from .operator import Genome
from .sites import Facts, facts, pick_target

__all__ = ["CONTROL", "PURE", "WIDTH", "I", "block_local", "checked_child", "const_of", "everywhere",
           "expression_start", "local_writes", "rewrite_one_site", "signed", "unsigned"]

S = TypeVar("S")
# how many targets a site-based rewrite draws before it answers "not applicable"
TARGET_TRIES = 4
MAX_REWRITES = 32  # sites `everywhere` rewrites in one function

WIDTH = {I32: 32, I64: 64}
CONTROL = BLOCK_STARTS | BRANCHES | {ELSE, END, RETURN, UNREACHABLE}


def I(name: str, *imm: object) -> Instr:  # noqa: E743 - reads like the text format
    """A new instruction by its text name: `I("i32.const", 5)`."""
    return Instr(BY_NAME[name], tuple(imm))


def _pure_opcodes() -> frozenset[int]:
    """Instructions with a fixed signature that neither trap nor touch state: constants,
    arithmetic without division, comparisons, bit counts, conversions that cannot trap."""
    out = set()
    for code, info in OPCODES.items():
        if info.sig is None or info.cls in ("load", "store", "memory", "table", "call", "control", "nop"):
            continue
        name = info.name
        if info.cls == "int_div":
            continue  # division by zero, INT_MIN / -1
        if ".trunc_f" in name and "_sat_" not in name and not name.startswith("f"):
            continue  # i32.trunc_f32_s and friends trap on NaN and overflow
        out.add(code)
    out.update((BY_NAME["select"], BY_NAME["global.get"], LOCAL_GET))
    return frozenset(out)


PURE = _pure_opcodes()  # may be evaluated any number of times, or not at all, with no observable effect


def signed(value: int, vtype: ValType) -> int:
    bits = WIDTH[vtype]
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def unsigned(value: int, vtype: ValType) -> int:
    return value & ((1 << WIDTH[vtype]) - 1)


def checked_child(parent: Genome, index: int, body: Body) -> Genome | None:
    """The child with `body` at defined function `index`, or None when it does not type-check."""
    child = parent.with_bodies({index: body})
    try:
        child.analysis(index)
    except WasmError:
        return None
    return child


def rewrite_one_site(parent: Genome, rng: random.Random, memo: str, find: Callable[[Facts], Sequence[S]],
                     rewrite: Callable[[Facts, S], Body | None]) -> Genome | None:
    """Draw up to `TARGET_TRIES` targets (by size); in the first where `find` reports sites (memoised per
    body under the name `memo`), `rewrite` one site drawn at random and hand out the checked child.

    None when no drawn target has a site, or when the rewrite gives no body or one that does not type-check.
    """
    for _ in range(TARGET_TRIES):
        t = pick_target(parent, rng)
        if t is None:
            return None
        found = parent.memo_body(memo, t, lambda: find(facts(parent, t)))
        if found:
            f = facts(parent, t)
            body = rewrite(f, found[rng.randrange(len(found))])
            return checked_child(parent, t, body) if body is not None else None
    return None


def everywhere(genome: Genome, find: Callable[[Facts], Sequence[S]], rewrite: Callable[[Facts, S], Body | None],
               pick: Callable[[Sequence[S]], S]) -> Genome | None:
    """`genome` with `rewrite` applied at every site `find` reports in every target, one `pick`ed site at a
    time (the facts found afresh after each), or None when there is no site. `find` must stop reporting a
    site once it is rewritten; at most `MAX_REWRITES` rewrites per function."""
    child = genome
    for t in genome.targets:
        for _ in range(MAX_REWRITES):
            f = facts(child, t)
            found = find(f)
            if not found:
                break
            body = rewrite(f, pick(found))
            nxt = checked_child(child, t, body) if body is not None else None
            if nxt is None:
                break
            child = nxt
    return None if child is genome else child


def local_writes(instrs: Sequence[Instr], start: int = 0, stop: int | None = None) -> set[int]:
    """The locals `local.set`/`local.tee` write in instrs[start:stop]."""
    return {ins.imm[0] for ins in instrs[start:stop] if ins.op == LOCAL_SET or ins.op == LOCAL_TEE}


def block_local(instrs: Sequence[Instr], nparams: int) -> frozenset[int]:
    """Declared locals whose every read follows a write of them in the same straight-line stretch.

    Their value never crosses a label or branch, so code that leaves them with other final values
    (a loop replaced by its closed form) cannot be told apart. clang -O0 keeps every temporary so.
    """
    bad: set[int] = set()
    seen: set[int] = set()
    written: set[int] = set()
    for ins in instrs:
        op = ins.op
        if op in CONTROL:
            written = set()
        elif op == LOCAL_GET:
            seen.add(ins.imm[0])
            if ins.imm[0] not in written:
                bad.add(ins.imm[0])
        elif op == LOCAL_SET or op == LOCAL_TEE:
            written.add(ins.imm[0])
            seen.add(ins.imm[0])
    return frozenset(x for x in seen - bad if x >= nparams)


def const_of(instrs: Sequence[Instr], p: int, nparams: int) -> tuple[ValType, int] | None:
    """(type, value) when the instruction at p pushes a known integer constant: `T.const c`, or
    `local.get k` of a declared local that every write sets to the same constant and that was
    written earlier in p's straight-line stretch (clang -O0 passes constants through such locals)."""
    ins = instrs[p]
    vtype = CONST_TYPE.get(ins.op)
    if vtype in WIDTH:
        return vtype, ins.imm[0]
    if ins.op != LOCAL_GET or ins.imm[0] < nparams:
        return None
    k = ins.imm[0]
    for q in range(p - 1, -1, -1):
        op = instrs[q].op
        if op in CONTROL:
            return None
        if (op == LOCAL_SET or op == LOCAL_TEE) and instrs[q].imm[0] == k:
            break
    else:
        return None
    value: tuple[ValType, int] | None = None
    for q, w in enumerate(instrs):
        if (w.op == LOCAL_SET or w.op == LOCAL_TEE) and w.imm[0] == k:
            prev = instrs[q - 1] if q else None
            vtype = CONST_TYPE.get(prev.op) if prev is not None else None
            if vtype not in WIDTH or (value is not None and value != (vtype, prev.imm[0])):
                return None
            value = (vtype, prev.imm[0])
    return value


def expression_start(instrs: Sequence[Instr], infos: Sequence, end: int, base: int) -> int | None:
    """The start s of the shortest straight-line run [s, end) that takes the stack from height
    `base` to `base + 1` without reaching below it; None when control flow intervenes."""
    for s in range(end - 1, -1, -1):
        info = infos[s]
        if instrs[s].op in CONTROL or not info.reachable or info.height - len(info.pops) < base:
            return None
        if info.height == base:
            return s
    return None
