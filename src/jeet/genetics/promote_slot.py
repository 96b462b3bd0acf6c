"""promote_slot: turn a stack-frame memory slot into a local (one slot, or all of them at once).

clang at -O0 keeps every C local in a frame in linear memory: a frame-pointer local FP, computed
from the stack-pointer global, and accesses `local.get FP; T.load offset=K` and
`local.get FP; <value>; T.store offset=K`. A slot (FP, K) is promotable when
  * FP is a declared i32 local whose every assignment derives from a `global.get` (the stack
    pointer), possibly through other locals and add/sub;
  * every reachable read of FP is either the address operand of a load/store, or flows only into
    stack-pointer updates (`global.set`, possibly through add/sub and other locals) — the frame
    address never escapes into arithmetic, calls, or memory;
  * every access overlapping bytes [K, K + width) is a load/store of one type T and one width at
    exactly offset K (full width, or narrow: `i32.store8` with `i32.load8_u` and `i32.load8_s`, say).
Then each load becomes `local.get NEW` and each store `local.set NEW`, and the `local.get FP`
that pushed the address is deleted. A narrow slot's local holds what the memory would: the stored
value masked to the slot's width (`T.const mask; T.and` before the set), zero-extended, so an
unsigned load is the local itself and a signed one `local.get NEW; T.extendN_s`. The result
validates by construction; it means the same whenever the slot is not reached through another
pointer, which the oracle checks.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from jeet.wasm.ir import Body, Instr
from jeet.wasm.types import I32, I64, ValType

from ._ops import (DROP, GLOBAL_GET, GLOBAL_SET, I32_ADD, I32_SUB, LOADS, LOCAL_GET, LOCAL_SET,
                   LOCAL_TEE, MEMORY_ACCESS, STORES)
from .flow import Flow, simulate
from .operator import Genome, Operator
from .sites import Facts, add_locals, facts

__all__ = ["PromoteSlot", "Slot", "find_slots", "promote", "promote_all"]

# Probability that one application promotes every promotable slot of every target.
PROMOTE_ALL = 0.5


@dataclass(frozen=True, slots=True)
class Slot:
    """A promotable frame slot: base local `base`, byte offset `offset`, value type `vtype`, and its
    accesses as (load or store index, index of the `local.get base` that pushed the address); `width`
    in bytes, narrower than the type's for a narrow slot."""

    base: int
    offset: int
    vtype: ValType
    loads: tuple[tuple[int, int], ...]
    stores: tuple[tuple[int, int], ...]
    width: int = 0  # 0: the type's full width

# how a narrow slot is kept in its local: the mask instructions of its type, and the sign extension a signed
# load of it becomes (every narrow width of i32 and i64 has its extend instruction)
_MASK_OPS = {I32: (0x41, 0x71), I64: (0x42, 0x83)}
_EXTEND_S = {(I32, 1): 0xC0, (I32, 2): 0xC1, (I64, 1): 0xC2, (I64, 2): 0xC3, (I64, 4): 0xC4}
_SIGNED_LOADS = frozenset((0x2C, 0x2E, 0x30, 0x32, 0x34))


# Bound on the value-flow walk per body; a body that needs more is left alone.
MAX_STEPS = 20_000


def find_slots(f: Facts) -> tuple[Slot, ...]:
    """Every promotable slot of one body, ordered by (base, offset)."""
    try:
        return _SlotFinder(f).run()
    except (_TooComplex, RecursionError):
        return ()


class _TooComplex(Exception):
    pass


def promote(body: Body, first_new_local: int, slots: Sequence[Slot]) -> Body:
    """`body` with each slot turned into a fresh local; `first_new_local` is the index the first one
    gets (the number of parameters plus declared locals)."""
    deleted: set[int] = set()
    replaced: dict[int, list[Instr]] = {}
    for n, slot in enumerate(slots):
        new = first_new_local + n
        narrow = slot.width and (slot.vtype, slot.width) in _EXTEND_S
        for at, address in slot.loads:
            deleted.add(address)
            replaced[at] = [Instr(LOCAL_GET, (new,))]
            if narrow and body.instrs[at].op in _SIGNED_LOADS:
                replaced[at].append(Instr(_EXTEND_S[slot.vtype, slot.width], ()))
        for at, address in slot.stores:
            deleted.add(address)
            const, and_ = _MASK_OPS.get(slot.vtype, (0, 0))
            mask = [Instr(const, ((1 << (8 * slot.width)) - 1,)), Instr(and_, ())] if narrow else []
            replaced[at] = mask + [Instr(LOCAL_SET, (new,))]
    instrs = [new_ins for k, ins in enumerate(body.instrs) if k not in deleted
              for new_ins in replaced.get(k, (ins,))]
    return add_locals(body.with_instrs(instrs), [s.vtype for s in slots])


class _SlotFinder:
    def __init__(self, f: Facts) -> None:
        self.instrs = f.instrs
        self.infos = f.infos
        self.local_types = f.local_types
        self.nparams = len(f.params)
        self.flow: Flow = simulate(f.instrs, f.infos)
        self.budget = MAX_STEPS
        self.from_sp: dict[int, bool] = {}
        self.gets: dict[int, list[int]] = {}
        self.sets: dict[int, list[int]] = {}
        for k, ins in enumerate(f.instrs):
            if not f.live[k]:
                continue
            if ins.op == LOCAL_GET:
                self.gets.setdefault(ins.imm[0], []).append(k)
            elif ins.op == LOCAL_SET or ins.op == LOCAL_TEE:
                self.sets.setdefault(ins.imm[0], []).append(k)

    def run(self) -> tuple[Slot, ...]:
        out: list[Slot] = []
        for base in sorted(self.gets):
            if base < self.nparams or self.local_types[base] != I32:
                continue
            accesses = self._accesses(base)
            if accesses:
                out.extend(_slots_of(base, accesses, self.instrs))
        return tuple(out)

    def _accesses(self, base: int) -> list[tuple[int, int]] | None:
        """(access, address producer) pairs when `base` is a frame pointer, else None."""
        sets = self.sets.get(base)
        if not sets or not all(self._from_stack_pointer(self._operand(s, 0), frozenset((base,))) for s in sets):
            return None
        accesses = []
        consumers = self.flow.consumers
        for g in self.gets[base]:
            used = consumers.get(g, ())
            if len(used) == 1 and used[0][1] == 0 and self.instrs[used[0][0]].op in MEMORY_ACCESS:
                accesses.append((used[0][0], g))
            elif not self._only_updates_stack_pointer(g, base, frozenset()):
                return None
        for s in sets:
            if self.instrs[s].op == LOCAL_TEE and not self._only_updates_stack_pointer(s, base, frozenset()):
                return None
        return accesses

    def _operand(self, k: int, pos: int) -> int:
        operands = self.flow.operands[k]
        return operands[pos] if pos < len(operands) else -1

    def _step(self) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise _TooComplex

    def _from_stack_pointer(self, p: int, visiting: frozenset[int]) -> bool:
        """Whether the value produced at p is derived from a `global.get`."""
        if p < 0:
            return False
        if self.from_sp.get(p):
            return True
        self._step()
        found = self._derive_from_stack_pointer(p, visiting)
        if found:  # a positive answer never depends on `visiting`, so it can be remembered
            self.from_sp[p] = True
        return found

    def _derive_from_stack_pointer(self, p: int, visiting: frozenset[int]) -> bool:
        ins = self.instrs[p]
        op = ins.op
        if op == GLOBAL_GET:
            return True
        if op == LOCAL_TEE:
            return self._from_stack_pointer(self._operand(p, 0), visiting)
        if op == I32_ADD or op == I32_SUB:
            return any(self._from_stack_pointer(q, visiting) for q in self.flow.operands[p])
        if op == LOCAL_GET:
            local = ins.imm[0]
            sets = self.sets.get(local)
            if local < self.nparams or local in visiting or not sets:
                return False
            inner = visiting | {local}
            return all(self._from_stack_pointer(self._operand(s, 0), inner) for s in sets)
        return False

    def _only_updates_stack_pointer(self, p: int, base: int, visiting: frozenset[int]) -> bool:
        """Whether the value produced at p flows only into `global.set` (or is dropped)."""
        self._step()
        used = self.flow.consumers.get(p)
        if not used:
            return False
        for c, _pos in used:
            ins = self.instrs[c]
            op = ins.op
            if op == GLOBAL_SET or op == DROP:
                continue
            if op == I32_ADD or op == I32_SUB:
                if not self._only_updates_stack_pointer(c, base, visiting):
                    return False
                continue
            if op == LOCAL_SET or op == LOCAL_TEE:
                local = ins.imm[0]
                if local == base:
                    return False
                if local in visiting:
                    continue
                inner = visiting | {local}
                if not all(self._only_updates_stack_pointer(g, base, inner) for g in self.gets.get(local, ())):
                    return False
                if op == LOCAL_TEE and not self._only_updates_stack_pointer(c, base, inner):
                    return False
                continue
            return False
        return True


def _slots_of(base: int, accesses: list[tuple[int, int]], instrs: Sequence[Instr]) -> list[Slot]:
    by_offset: dict[int, list[tuple[int, int, int]]] = {}  # offset -> [(access, producer, op)]
    spans = []
    for at, producer in accesses:
        ins = instrs[at]
        offset = ins.imm[1]
        vtype, width, full = MEMORY_ACCESS[ins.op]
        spans.append((offset, offset + width, vtype, full))
        by_offset.setdefault(offset, []).append((at, producer, ins.op))
    out = []
    for offset, group in sorted(by_offset.items()):
        vtype, width, full = MEMORY_ACCESS[group[0][2]]
        if not full and (vtype, width) not in _EXTEND_S:
            continue
        stop = offset + width
        # Every access touching [offset, stop) must be exactly this slot: same width, same type.
        if any(lo < stop and offset < hi and (lo, hi, t, fl) != (offset, stop, vtype, full)
               for lo, hi, t, fl in spans):
            continue
        loads = tuple((at, p) for at, p, op in group if op in LOADS)
        stores = tuple((at, p) for at, p, op in group if op in STORES)
        out.append(Slot(base, offset, vtype, loads, stores, 0 if full else width))
    return out


def _target_slots(genome: Genome) -> tuple[tuple[int, Slot], ...]:
    return tuple((t, slot) for t in genome.targets
                 for slot in genome.memo_body("frame_slots", t, lambda: find_slots(facts(genome, t))))


def _promoted(parent: Genome, chosen: dict[int, list[Slot]]) -> Genome:
    changes = {}
    for t, slots in chosen.items():
        f = facts(parent, t)
        changes[t] = promote(f.body, len(f.local_types), slots)
    return parent.with_bodies(changes)


def promote_all(genome: Genome) -> Genome | None:
    """`genome` with every promotable slot of every target a local (None when there is none): clang -O0
    code in register form, which a local optimiser such as wasm-opt can then clean up."""
    chosen: dict[int, list[Slot]] = {}
    for t, slot in _target_slots(genome):
        chosen.setdefault(t, []).append(slot)
    return _promoted(genome, chosen) if chosen else None


class PromoteSlot(Operator):
    name = "promote_slot"

    def propose(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        parent = parents[0]
        found = _target_slots(parent)
        if not found:
            return None
        if rng.random() < PROMOTE_ALL:
            return promote_all(parent)
        t, slot = found[rng.randrange(len(found))]
        return _promoted(parent, {t: [slot]})
