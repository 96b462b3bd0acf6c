"""licm: loop-invariant code motion — compute an expression once before the loop instead of every trip.

    loop ... E ... end   ->   E local.set $t  loop ... local.get $t ... end

E is a straight-line expression free of effects and traps (so evaluating it once more, or on a
path that never reached it, cannot be observed) whose inputs do not change inside the loop: the
locals it reads are not written in the loop, and the globals it reads are neither set nor
possibly set by a call there. It holds at least one operator (hoisting a lone `local.get` buys
nothing), and it is the largest such expression where it stands.

clang -O0 passes every value through a temporary, which the loop writes, so the inputs of an
invariant computation look loop-dependent (`local.get c local.set 9 local.get 9 i32.const 255
i32.and`). What an instruction computes is therefore also followed through the locals of its
straight-line stretch: when that tree reads only locals the loop leaves alone, it is computed
before the loop, and the instruction becomes `drop ... local.get $t` (its operands, now dead, are
left for the compiler to drop).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from jeet.wasm.types import ValType

from jeet.wasm.ir import Instr
from jeet.wasm.opcodes import OPCODES

from ._ops import CALL, CALL_INDIRECT, CONST_TYPE, GLOBAL_GET, GLOBAL_SET, LOCAL_GET, LOOP
from ._rewrite import CONTROL, PURE, I, local_writes, rewrite_one_site, signed
from ._symbolic import State, leaves, step
from .operator import Genome, Operator
from .runs import expressions
from .sites import Facts, add_locals

__all__ = ["Licm", "Hoist", "find_hoists", "hoist"]

_LEAVES = frozenset(CONST_TYPE) | {LOCAL_GET, GLOBAL_GET}


@dataclass(frozen=True, slots=True)
class Hoist:
    """Expression [start, stop) of type `vtype`, invariant in the loop that starts at `loop`; or,
    with `tree`, the single instruction at `start` whose result is `tree`."""

    loop: int
    start: int
    stop: int
    vtype: ValType
    tree: tuple | None = None

_FREE = {"const", "local", "global", "parametric", "nop"}


def find_hoists(f: Facts) -> tuple[Hoist, ...]:
    instrs, infos, ends = f.instrs, f.infos, f.ends
    out = []
    for loop, ins in enumerate(instrs):
        if ins.op != LOOP or not f.live[loop]:
            continue
        end = ends[loop]
        written = local_writes(instrs, loop + 1, end)
        globals_fixed = not any(instrs[k].op in (GLOBAL_SET, CALL, CALL_INDIRECT) for k in range(loop + 1, end))

        def invariant(k: int) -> bool:
            i = instrs[k]
            if i.op not in PURE:
                return False
            if i.op == LOCAL_GET:
                return i.imm[0] not in written
            return globals_fixed or i.op != GLOBAL_GET

        found: list[Hoist] = []
        for start in range(loop + 1, end):
            if not f.live[start] or infos[start].pops or not invariant(start):
                continue
            if found and found[-1].start < start < found[-1].stop:
                continue  # inside a larger invariant expression: hoist that one
            checked = start
            operator = False
            longest = None
            for stop, vtype in expressions(instrs, infos, ends, start):
                while checked < stop and invariant(checked):
                    operator = operator or instrs[checked].op not in _LEAVES
                    checked += 1
                if checked < stop:
                    break
                if operator:
                    longest = Hoist(loop, start, stop, vtype)
            if longest is not None:
                found.append(longest)
        out.extend(found)
        covered = {k for h in found for k in range(h.start, h.stop)}
        out.extend(h for h in _through_locals(f, loop, end, written) if h.start not in covered)
    return tuple(out)


def _through_locals(f: Facts, loop: int, end: int, written: set[int]) -> list[Hoist]:
    """Instructions of the loop whose result, followed through the locals of their stretch, is an
    invariant tree with an operator in it."""
    instrs, infos = f.instrs, f.infos
    out = []
    state = State([], {})
    for k in range(loop + 1, end):
        ins, info = instrs[k], infos[k]
        if ins.op in CONTROL or not f.live[k]:
            state = State([], {})
            continue
        if not step(state, ins):
            del state.stack[max(0, len(state.stack) - len(info.pops)):]
            state.stack.extend([("opaque", k)] * len(info.pushes))
            continue
        if ins.op in PURE and OPCODES[ins.op].cls not in _FREE and info.pushes and state.stack:
            tree = state.stack[-1]
            if all(leaf[0] in ("const", "fconst") or leaf[0] == "local" and leaf[1] not in written
                   for leaf in leaves(tree)):
                out.append(Hoist(loop, k, k + 1, info.pushes[0], tree))
    return out


def _emit(tree: tuple) -> list[Instr]:
    """Code that computes `tree` from the locals it reads."""
    head = tree[0]
    if head == "local":
        return [I("local.get", tree[1])]
    if head == "const":
        return [I("i32.const" if tree[1] == 0x7F else "i64.const", signed(tree[2], tree[1]))]
    if head == "fconst":
        return [I("f32.const" if tree[1] == 0x7D else "f64.const", tree[2])]
    code = [ins for child in tree[1:] for ins in _emit(child)]
    return code + [I(head)]


def hoist(f: Facts, h: Hoist):
    """The body with expression `h` computed once into a new local before its loop."""
    instrs = f.instrs
    t = len(f.local_types)
    if h.tree is None:
        new = (list(instrs[:h.loop]) + list(instrs[h.start:h.stop]) + [I("local.set", t)]
               + list(instrs[h.loop:h.start]) + [I("local.get", t)] + list(instrs[h.stop:]))
    else:
        drops = [I("drop")] * len(f.infos[h.start].pops)
        new = (list(instrs[:h.loop]) + _emit(h.tree) + [I("local.set", t)] + list(instrs[h.loop:h.start])
               + drops + [I("local.get", t)] + list(instrs[h.stop:]))
    return add_locals(f.body.with_instrs(new), [h.vtype])


class Licm(Operator):
    name = "licm"

    def propose(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        return rewrite_one_site(parents[0], rng, "invariants", find_hoists, hoist)
