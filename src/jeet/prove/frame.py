"""Lockstep across a moved stack frame: the original keeps a value in a frame slot, the variant in a local.

clang at -O0 keeps every C variable in a frame below the stack pointer; the variants that make such code
fast keep them in locals (`promote_slot`), fold the frame pointer to a constant and drop the stack
pointer global. Their loops still pair up with the original's, but their header states are not equal:
the same quantity lives in a memory slot on one side and in a local on the other, and the frame bytes
part. `frame_lockstep` proves such pairs for every iteration count, as `lockstep` does, with the
"equal header states" hypothesis replaced by relations between the two states:

* memory outside the frames is equal (the header memory is one array; the variant's frame bytes, the
  original's frame `[sp0 - frame, sp0)` and any fixed slots it moved elsewhere in the free stack, are its
  own variables on top of it);
* candidate relations, per loop: a local of one side equal to a local of the other, a local (or its low
  bytes) equal to a slot of the other side's frame, a slot holding what it held when the loop was
  entered, a frame byte equal on both sides, a moved slot equal to the original's.

The candidates are first filtered on a few concrete runs of both cut translations (`_Tracer`: each header
state bound to the cut's variables, the body's terms evaluated from there), then kept only while the
solver shows them inductive (Houdini): they hold on entering
every loop, and every back edge keeps them from any header state that satisfies them; a model that
breaks some drops exactly those, and the rest are checked again. Then, from every header state the
surviving relations allow, both versions must reach each loop and back edge under the same conditions
with equal memory outside the frame, equal globals and loop parameters, and end the call alike (same
trap, results and globals, memory equal outside the free shadow stack, which is dead once it returns).
The stack pointer is held at its initial value, which the original restores (checked), as in
`jeet.prove.equivalence`, and the ABI's contract is assumed: the caller keeps no data in the free shadow
stack, so the original's accesses at computed addresses lie outside it (sound only because the original
reaches its frame at fixed slots alone: `abi.frame_slots` is None otherwise, and it calls nothing). The
relations are guessed, so failing to find them is "not shown", never a difference.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable

from ..errors import Unprovable, WasmError
from ..wasm import Module, abi
from ..wasm.analysis import block_ends
from .lockstep import DOUBT, HOUDINI_ROUNDS, LockstepProof, Side, invariants_of
from .evaluate import Evaluator
from .memory import Access, load
from .semantics import WIDTH, Cuts, Translator, make_inputs
from .solver import Portfolio
from .terms import Builder, Term

# a state at a cut point: (live, locals, globals, memory, loop parameters)
State = tuple
MAX_CANDIDATES = 600  # relation candidates per function pair; more (a huge frame) is not tried
TRACES = 4            # concrete runs that filter the candidates before the solver sees them
MAX_VISITS = 160      # loop header visits followed per run and side
MAX_OWN_BYTES = 256   # frame bytes a side may keep apart (each is a variable at every loop header)
HOUDINI_QUERY_S = 1.0  # per query while the relations are refined (the final checks get the full limit)


@dataclass(frozen=True, slots=True)
class Relation:
    """A candidate relation between the two versions' states at one loop header: `kind` is "locals"
    (original local i = variant local j), "slot" (a local's low `n` bytes = the other side's `n`-byte
    slot at `addr`), "byte" (a frame byte equal on both sides), "kept" (one side's slot holds what it
    held when the loop was entered: an outer loop's variable, seen from an inner one) or "moved" (the
    original's slot equals the variant's slot elsewhere)."""

    loop: int
    kind: str
    args: tuple
    what: str


def _le(read: Callable[[int], object], addr: int, n: int, b: Builder | None = None):
    """The `n`-byte little-endian value at `addr`, symbolic (`b` given) or concrete."""
    if b is not None:
        return load(b, read, b.const(addr, 32), Access(n, n * 8))
    return sum(read(addr + i) << (8 * i) for i in range(n))


def _holds(r: Relation, b: Builder, x: State, y: State, e: tuple[State, State]) -> Term:
    """The relation as a formula over the two states (and the loop's entry states)."""
    if r.kind == "locals":
        i, j = r.args
        return b.eq(x[1][i], y[1][j])
    if r.kind == "slot":
        j, addr, n, in_variant = r.args
        mine, theirs = (y, x) if in_variant else (x, y)
        value = mine[1][j] if n * 8 == mine[1][j].w else b.extract(mine[1][j], n * 8 - 1, 0)
        return b.eq(value, _le(theirs[3], addr, n, b))
    if r.kind == "byte":
        at = b.const(r.args[0], 32)
        return b.eq(b.select(x[3], at), b.select(y[3], at))
    if r.kind == "moved":
        addr, at, n = r.args
        return b.eq(_le(x[3], addr, n, b), _le(y[3], at, n, b))
    addr, n, in_variant = r.args
    now, then = (y, e[1]) if in_variant else (x, e[0])
    return b.eq(_le(now[3], addr, n, b), _le(then[3], addr, n, b))


def _true_on(r: Relation, x: tuple, y: tuple, e: tuple) -> bool:
    """The relation on concrete states (locals as ints, memory as an address -> byte reader)."""
    if r.kind == "locals":
        i, j = r.args
        return x[0][i] == y[0][j]
    if r.kind == "slot":
        j, addr, n, in_variant = r.args
        mine, theirs = (y, x) if in_variant else (x, y)
        return mine[0][j] & ((1 << (8 * n)) - 1) == _le(theirs[1].__getitem__, addr, n)
    if r.kind == "byte":
        return x[1][r.args[0]] == y[1][r.args[0]]
    if r.kind == "moved":
        addr, at, n = r.args
        return _le(x[1].__getitem__, addr, n) == _le(y[1].__getitem__, at, n)
    addr, n, in_variant = r.args
    now, then = (y, e[1]) if in_variant else (x, e[0])
    return _le(now[1].__getitem__, addr, n) == _le(then[1].__getitem__, addr, n)


def _fresh(state: State, entry: State, side: Side, at: int) -> list[int]:
    """The locals of a header state that are variables of their own (written in the loop) and read later."""
    live = side.carried_from(at)
    return [j for j, x in enumerate(state[1])
            if x is not entry[1][j] and j in live and WIDTH.get(side.local_types[j]) in (32, 64)]


def _candidates(a: Side, v: Side, pa, pv, k: int, slots: list[tuple[int, int]], frame: range,
                moved: list[tuple[int, int]]) -> list[Relation]:
    """The relation candidates at the k-th pair of cut points: `slots` are the original's frame slots as
    (address, bytes); a local pairs with a slot of its own width, or of fewer than 4 bytes (its low bits);
    `moved` are the variant's slots elsewhere in the free stack, each paired with an original slot of its
    size."""
    la = _fresh(pa.head, pa.entry, a, pa.at)
    lv = _fresh(pv.head, pv.entry, v, pv.at)
    out = [Relation(k, "locals", (i, j), f"original local {i} = variant local {j}")
           for i in la for j in lv if pa.head[1][i].w == pv.head[1][j].w]
    for side_locals, head, in_variant in ((lv, pv.head, True), (la, pa.head, False)):
        who = "variant" if in_variant else "original"
        for j in side_locals:
            w = head[1][j].w
            out += [Relation(k, "slot", (j, addr, n, in_variant), f"{who} local {j} = the {n}-byte slot at {addr}")
                    for addr, n in slots if n * 8 == w or n < 4]
    out += [Relation(k, "byte", (addr,), f"frame byte {addr} equal") for addr in frame]
    out += [Relation(k, "kept", (addr, n, variant), f"{'variant' if variant else 'original'} slot at {addr} as on entry")
            for addr, n in slots for variant in (False, True)]
    out += [Relation(k, "kept", (addr, n, True), f"variant slot at {addr} as on entry") for addr, n in moved]
    out += [Relation(k, "moved", (addr, at, n), f"the original's slot at {addr} = the variant's at {at}")
            for addr, n in slots for at, m in moved if m == n]
    return out


def _nesting(side: Side, points: list) -> list[int | None]:
    """For each cut point, the index of the cut point of the innermost loop around it (None: outermost)."""
    ends = block_ends(side.instrs)
    where = {p.at: n for n, p in enumerate(points)}
    return [max((where[q.at] for q in points if q.at < p.at < ends.get(q.at, -1)), default=None) for p in points]


class _Tracer:
    """Runs one side's cut translation concretely: loop by loop, each header state bound to the cut's
    variables, the body's terms evaluated from there (`Evaluator`). Records every header visit as
    (locals, memory) with the state the loop was entered with."""

    def __init__(self, points: list, parents: list[int | None], scalars: dict, arrays: dict) -> None:
        self.points, self.parents = points, parents
        # a loop not entered yet leaves its header variables unbound: they read as zero (only terms guarded
        # by its not being entered mention them)
        self.scalars, self.arrays = defaultdict(int, scalars), dict(arrays)
        for p in points:
            node = p.head[3]
            while node is not None and node.op == "store":
                node = node.args[0]
            if node is not None:
                self.arrays.setdefault(node.p[0], lambda a: 0)
        self.visits: list[list[tuple]] = [[] for _ in points]
        self.budget = MAX_VISITS

    def _eval(self, terms: list) -> list:
        ev = Evaluator(self.scalars, self.arrays)
        return [ev(t) if t is not None else None for t in terms]

    def _bind(self, head: State, values: list) -> None:
        """Give the header's variables the values of a state (its memory: the array under the side's own
        frame bytes, and those bytes)."""
        live, locals_, globals_, mem, params = head
        terms = list(locals_) + list(globals_) + list(params)
        for t, value in zip(terms, values[0] + values[1] + values[3]):
            if t.op == "var":
                self.scalars[t.p[0]] = int(value)
        node = mem
        while node is not None and node.op == "store":
            addr, byte = node.args[1], node.args[2]
            if byte.op == "var":
                self.scalars[byte.p[0]] = values[2][addr.p[0]]
            node = node.args[0]
        if node is not None and node.op == "avar":
            self.arrays[node.p[0]] = values[2].__getitem__

    def _state(self, s: State) -> tuple[bool, list]:
        live, locals_, globals_, mem, params = s
        vals = self._eval([live, mem, *locals_, *globals_, *params])
        n, g = len(locals_), len(globals_)
        return bool(vals[0]), [vals[2:2 + n], vals[2 + n:2 + n + g], vals[1], vals[2 + n + g:]]

    def run(self, k: int) -> None:
        p = self.points[k]
        live, cur = self._state(p.entry)
        if not live:
            return
        entry = (cur[0], cur[2])
        while self.budget > 0:
            self.budget -= 1
            self._bind(p.head, cur)
            head = self._state(p.head)[1]
            self.visits[k].append(((head[0], head[2]), entry))
            for child, parent in enumerate(self.parents):
                if parent == k:
                    self.run(child)
            live, cur = self._state(p.back)
            if not live:
                return

    def trace(self) -> list[list[tuple]]:
        for k, parent in enumerate(self.parents):
            if parent is None:
                self.run(k)
        return self.visits


def _concrete_filter(relations: list[Relation], inputs, pa: list, pv: list, parents_a: list,
                     parents_v: list, above: int) -> list[Relation] | None:
    """The candidates true on every header visit of a few concrete runs of both versions (random arguments
    from `above` up, random memory), or None when the runs do not visit the loops in step."""
    rng = random.Random(0x51075)
    kept = relations
    for _ in range(TRACES):
        # arguments just above the stack pointer: as pointers they keep the caller's data out of the free
        # stack (the contract the proof assumes), as counts they run the loops a while
        scalars = {v.p[0]: above + rng.randrange(512) for v in inputs.args}
        scalars.update({v.p[0]: rng.getrandbits(v.w) for v in inputs.globals.values()})
        seed = rng.getrandbits(32)
        arrays = {inputs.memory.p[0]: lambda a, seed=seed: hash((seed, a)) & 0xFF} if inputs.memory is not None else {}
        ta = _Tracer(pa, parents_a, scalars, arrays).trace()
        tv = _Tracer(pv, parents_v, scalars, arrays).trace()
        if any(len(x) != len(y) for x, y in zip(ta, tv)):
            return None
        kept = [r for r in kept if all(_true_on(r, x, y, (ex, ey))
                                       for (x, ex), (y, ey) in zip(ta[r.loop], tv[r.loop]))]
    return kept


def frame_lockstep(ma: Module, mb: Module, fa: int, fb: int, original: bytes, variant: bytes, *,
                   solver: str = "bitwuzla", timeout_s: float = 10.0) -> LockstepProof | None:
    """Equivalence of `fa` and `fb` in lockstep with their frames related (see the module docstring), or
    None when it does not apply: no stack pointer the original restores with a frame of static size,
    loops that do not pair up, other functions or module parts changed."""
    scratch = abi.scratch(ma, fa)
    if scratch is None or scratch.frame is None or fa != fb or fa < ma.num_imported_funcs:
        return None
    sp, sp0 = scratch.sp_global, scratch.sp_entry
    lo, hi = sp0 - scratch.frame, sp0
    d = fa - ma.num_imported_funcs
    if (len(ma.bodies) != len(mb.bodies) or ma.funcs != mb.funcs or ma.types != mb.types
            or ma.imports != mb.imports or ma.tables != mb.tables or ma.elements != mb.elements
            or ma.memories != mb.memories or ma.data != mb.data or not ma.memory_types):
        return None
    if any(i != d and (x.instrs != y.instrs or x.locals != y.locals or x.instrs is None)
           for i, (x, y) in enumerate(zip(ma.bodies, mb.bodies))):
        return None
    try:
        a, v = Side(ma, fa, original), Side(mb, fb, variant)
    except (Unprovable, WasmError):
        return None
    if len(a.loops()) != len(v.loops()) or not a.loops():
        return None
    frame_slots = abi.frame_slots(ma, fa)
    if frame_slots is None or any(ins.op in (0x10, 0x11) for ins in a.instrs):
        return None  # a frame address escapes (some frame access is not at a fixed slot), or other frames
    slots = [(sp0 + disp, n) for disp, n in frame_slots]
    b = Builder()
    inputs = make_inputs(b, ma, fa, {sp: sp0})
    ca = Cuts("original", lambda func, at, j: func != fa)
    floor = scratch.region[0]
    # the variant's frame where the stack pointer is folded away: fixed slots anywhere in the free stack
    moved = [(addr, n) for addr, n in abi.constant_slots(mb, fb) if floor <= addr and addr + n <= sp0
             and not (lo <= addr and addr + n <= hi)]
    own = sorted(set(range(lo, hi)) | {addr + i for addr, n in moved for i in range(n)})
    if len(own) > MAX_OWN_BYTES:
        return None
    cv = Cuts("variant", lambda func, at, j: func != fa, own_bytes=tuple(own))
    try:
        oa = Translator(b, ma, inputs, cuts=ca).run(fa)
        ob = Translator(b, mb, inputs, cuts=cv).run(fb)
    except (Unprovable, RecursionError):
        return None
    if (oa.exceeded is not b.false or ob.exceeded is not b.false or len(ca.points) != len(cv.points)
            or any(p.func != q.func or p.func != fa or len(p.entry[4]) != len(q.entry[4])
                   for p, q in zip(ca.points, cv.points))
            or oa.globals[sp] is not b.const(sp0, 32)):
        return None  # callee loops, or the original does not plainly restore the stack pointer
    pairs = list(zip(ca.points, cv.points))
    relations = [r for k, (p, q) in enumerate(pairs) for r in _candidates(a, v, p, q, k, slots, range(lo, hi), moved)]
    if len(relations) > MAX_CANDIDATES:
        return None
    relations = _concrete_filter(relations, inputs, ca.points, cv.points, _nesting(a, ca.points),
                                 _nesting(v, cv.points), sp0)
    if relations is None:
        return None
    deadline = time.monotonic() + 4 * timeout_s
    bounds_a, bounds_v, spent = invariants_of(a, v, solver, timeout_s, deadline)
    invariants = len(bounds_a) + len(bounds_v)

    # The ABI contract: the caller keeps no data in the free shadow stack. The original reaches its frame only
    # at fixed slots (constant addresses, the stack pointer held) and calls nothing, so an access at a
    # computed address is to the caller's data and lies outside the free stack.
    contract = [b.or_(b.not_(live), b.cmp("ule", b.bin("add", b.zext(addr, 64), b.const(n, 64)), b.const(floor, 64)),
                      b.cmp("ule", b.const(sp0, 32), addr))
                for addr, n, live in oa.accesses if not addr.is_const]

    def solver_with(kept: list[Relation], limit_s: float = timeout_s) -> Portfolio:
        s = Portfolio(solver, limit_s)
        for f in contract:
            s.add(f)
        for bounds, points in ((bounds_a, ca.points), (bounds_v, cv.points)):
            for p in points:
                for j, c in bounds.items():
                    s.add(b.cmp("ule", p.header[j], b.const(c, p.header[j].w)))
        for r in kept:
            p, q = pairs[r.loop]
            s.add(_holds(r, b, p.head, q.head, (p.entry, q.entry)))
        return s

    # Houdini: drop what some entry or back edge breaks, until what is left holds on all of them
    kept = relations
    for _ in range(HOUDINI_ROUNDS * 4):
        if time.monotonic() > deadline:
            return LockstepProof("unknown", len(pairs), invariants, spent,
                                 f"{DOUBT}: the frame relations did not settle in time")
        breaks = [(r, b.and_(x[0], y[0], b.not_(_holds(r, b, x, y, (p.entry, q.entry)))))
                  for r in kept for p, q in (pairs[r.loop],) for x, y in ((p.entry, q.entry), (p.back, q.back))]
        breaks = [(r, t) for r, t in breaks if t is not b.false]
        if not breaks:
            break
        s = solver_with(kept, min(timeout_s, HOUDINI_QUERY_S))  # a guess to refine: short queries
        status = s.check([b.or_(*(t for _, t in breaks))])
        spent += s.seconds
        if status == "unsat":
            break
        if status != "sat":
            return LockstepProof("unknown", len(pairs), invariants, spent,
                                 f"{DOUBT}: the solver gave no answer on the frame relations ({s.last_reason or status})")
        broken = {id(r) for r, t in breaks if s.value(t)}
        if not broken:
            return LockstepProof("unknown", len(pairs), invariants, spent, f"{DOUBT}: the frame relations' model is inconsistent")
        kept = [r for r in kept if id(r) not in broken]
    else:
        return LockstepProof("unknown", len(pairs), invariants, spent, f"{DOUBT}: the frame relations did not settle")
    s = solver_with(kept)
    w = b.var("witness.frame", 32)
    outside = b.and_(*(b.ne(w, b.const(addr, 32)) for addr in own))
    checks = []
    for k, (p, q) in enumerate(pairs):
        for what, x, y in ((f"loop {k}'s entry", p.entry, q.entry), (f"loop {k}'s back edge", p.back, q.back)):
            both = b.and_(x[0], y[0])
            checks.append((what, b.ne(x[0], y[0])))
            checks.append((what, b.and_(both, b.or_(*(b.ne(g, h) for g, h in zip(x[2], y[2])),
                                                    *(b.ne(g, h) for g, h in zip(x[4], y[4]))))))
            checks.append((what, b.and_(both, outside, b.ne(b.select(x[3], w), b.select(y[3], w)))))
    ok = b.and_(b.not_(oa.trapped), b.not_(ob.trapped))
    beyond = b.or_(b.cmp("ult", w, b.const(floor, 32)), b.cmp("ule", b.const(sp0, 32), w))
    checks += [("the outcome", b.ne(oa.trapped, ob.trapped)),
               ("the outcome", b.and_(ok, b.or_(*(b.ne(x, y) for x, y in zip(oa.results, ob.results))))),
               ("the outcome", b.and_(ok, b.or_(*(b.ne(x, y) for x, y in zip(oa.globals, ob.globals))))),
               ("the outcome", b.and_(ok, beyond, b.ne(b.select(oa.memory, w), b.select(ob.memory, w))))]
    for what, part in checks:
        if part is b.false:
            continue
        status = s.check([part])
        if status != "unsat":
            spent += s.seconds
            detail = "they part on a state the relations allow" if status == "sat" else \
                f"the solver gave no answer ({s.last_reason or status})"
            return LockstepProof("unknown", len(pairs), invariants, spent,
                                 f"{DOUBT}: with the frames related, at {what}, {detail}")
    spent += s.seconds
    related = sum(1 for r in kept if not r.what.startswith("frame byte"))
    return LockstepProof("proved", len(pairs), invariants, spent,
                         f"equal in lockstep with the frames related: {len(pairs)} loops cut at their headers, "
                         f"{related} local-to-slot or local-to-local relations and {len(kept) - related} frame "
                         f"bytes kept on entry and on every back edge, memory equal outside the frame, from every "
                         f"state within {invariants} solver-checked invariants")
