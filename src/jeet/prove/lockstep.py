"""Loop code proved in lockstep, for every number of iterations: equal states at every loop header.

Bounded unrolling says nothing past k iterations, and random tests rarely reach the states a long loop
makes; a checksum compare wrong only when a running sum meets its modulus exactly passed 830 held-out
cases. Lockstep proofs cover every iteration count. Both functions are translated once with every loop
cut at its header (`semantics.Cuts`): the header state is fresh variables, shared by the two versions
for what either may read from there on (`Side.carried_from`: another loop's temporaries are free; a
local the loop never writes keeps its entry value), and each body runs once from there. They are equal
when the solver finds no input and header state on which they enter a loop in different states, leave
an iteration along different back edges or in different states, or end the call differently. By induction
over the iterations, every execution then stays in step. Code between and inside loops may be
restructured freely; the loops themselves must pair up (same count, same order); unrolled or
re-rotated loops do not, and only bounded unrolling applies to them.

When both versions also share their whole control skeleton (blocks, branches, calls in the same
places), the changed straight-line runs are checked first, each on its own (smaller queries), and the
whole-function check runs only when one is not shown equal.

"Any header state" is narrowed by invariants: unsigned upper bounds of locals, proposed by the
operators' range analysis (`Bounds`) and kept only when the solver shows them inductive (Houdini: every
write of a bounded local, from any state within the bounds, stays within them; a failing candidate is
dropped and the rest are checked again). The analysis proposes and the solver decides, so a wrong bound
costs a proof, never soundness. That is how `%u 65521` turned into a conditional subtract is proved for
every buffer length (the sum is below 65521 at the header, so one subtract is enough).

When the versions part at a header only in bits nobody reads (a byte kept in an i32 and masked once at
the end instead of after every step), equal header states are too strong an induction hypothesis. The
check then runs again with each carried integer local free in both versions and related only by its
low bits being equal: all of them, 32, 16, 8; the solver weakens each relation until every loop entry and
back edge keeps it (Houdini again), and the call's outcome must still be equal from there.

A difference found this way is not a refutation (the header state may be unreachable) but it withholds
adoption: see `DOUBT` and `DIFFERS`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..errors import Unprovable, WasmError
from ..wasm import Module
from ..wasm.analysis import analyze
from .semantics import WIDTH, Cuts, Translator, _State, make_inputs
from .solver import Portfolio
from .terms import Builder, Term

# how a lockstep answer other than "proved" starts its reason; DIFFERS marks the one gates act on: the
# solver found a header state within the invariants on which the two versions part
DOUBT = "not shown equal in lockstep"
DIFFERS = "they differ on a state the checked loop invariants allow"

# control instructions: the skeleton both versions must share (everything else is straight-line code)
_CONTROL = frozenset((0x00, 0x02, 0x03, 0x04, 0x05, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x12, 0x13,
                      0x06, 0x07, 0x08, 0x09, 0x18, 0x19))
_GET, _SET, _TEE = 0x20, 0x21, 0x22
_LOOP, _END, _STARTS = 0x03, 0x0B, frozenset((0x02, 0x03, 0x04))
HOUDINI_ROUNDS = 8
LOW_BITS = (32, 16, 8)  # the relations a carried local may fall back to: its low bits equal, these many


@dataclass(frozen=True, slots=True)
class LockstepProof:
    """`result`: "proved" (equal under the invariants), "differs" (the versions part on some state the
    invariants allow: maybe unreachable, so not a refutation) or "unknown" (the solver gave no answer).
    `changed`: the changed runs checked, or the loops cut."""

    result: str
    changed: int
    invariants: int
    solver_s: float
    reason: str


def _runs(instrs: tuple) -> tuple[list[tuple[int, int]], list]:
    """The straight-line runs [start, end) between control instructions (empty ones too) and the
    control instructions themselves, as (op, imm): the skeleton."""
    runs, skeleton, start = [], [], 0
    for k, ins in enumerate(instrs):
        if ins.op in _CONTROL:
            runs.append((start, k))
            skeleton.append((ins.op, ins.imm))
            start = k + 1
    runs.append((start, len(instrs)))
    return runs, skeleton


class Side:
    """One version's function: its body, typing, runs and checked invariants."""

    def __init__(self, m: Module, func: int, wasm: bytes) -> None:
        self.m, self.func, self.wasm = m, func, wasm
        self.d = func - m.num_imported_funcs
        body = m.bodies[self.d]
        if body.instrs is None:
            raise Unprovable("the function is opaque to the IR")
        self.instrs = body.instrs
        ft = m.func_type(func)
        self.local_types = tuple(ft.params) + body.local_types()
        self.nparams = len(ft.params)
        self.infos = analyze(m, self.d)
        self.runs, self.skeleton = _runs(self.instrs)
        self.carried = self._carried()

    def _carried(self) -> frozenset[int]:
        """Locals whose value can cross a run boundary: read in some run before that run writes them.
        The others are temporaries of one run, so the two versions may leave them different."""
        return frozenset(j for run in self.runs for j in self._read_first(run))

    def loops(self) -> list[int]:
        """The positions of the loop instructions, in order."""
        return [k for k, ins in enumerate(self.instrs) if ins.op == _LOOP]

    def carried_from(self, at: int) -> frozenset[int]:
        """The locals whose value at instruction `at` may be read: read before written in a run that can
        follow it (one after it, or one of the outermost loop around it, which may come round)."""
        start, open_ = at, []
        for k, ins in enumerate(self.instrs[:at]):
            if ins.op in _STARTS:
                open_.append(k)
            elif ins.op == _END and open_:
                open_.pop()
        loops = [k for k in open_ if self.instrs[k].op == _LOOP]
        if loops:
            start = loops[0]
        return frozenset(j for run in self.runs if run[0] >= start for j in self._read_first(run))

    def _read_first(self, run: tuple[int, int]) -> set[int]:
        out, written = set(), set()
        for k in range(*run):
            ins = self.instrs[k]
            if ins.op == _GET and ins.imm[0] not in written:
                out.add(ins.imm[0])
            elif ins.op in (_SET, _TEE):
                written.add(ins.imm[0])
        return out

    def live(self, run: tuple[int, int]) -> bool:
        return self.infos[run[0]].reachable if run[0] < len(self.instrs) else False

    def stack_types(self, run: tuple[int, int]) -> tuple:
        return self.infos[min(run[0], len(self.instrs) - 1)].stack

    def candidates(self) -> dict[int, int]:
        """The range analysis' bounds of declared integer locals that say more than their type."""
        from ..genetics.operator import Genome  # the operators' analysis proposes; nothing here trusts it
        from ..genetics.sites import facts
        from ..genetics._bounds import Bounds

        try:
            bounds = Bounds(facts(Genome(self.wasm, self.m), self.d))
        except (WasmError, RecursionError):
            return {}
        out = {}
        for i in range(self.nparams, len(self.local_types)):
            w = WIDTH.get(self.local_types[i])
            c = bounds.local(i)
            if w in (32, 64) and c is not None and c < (1 << w) - 1:
                out[i] = c
        return out


class _Run:
    """One straight-line run executed symbolically from a given state."""

    def __init__(self, b: Builder, side: Side, inputs, locals_: list[Term], stack: list[Term],
                 globals_: list[Term]) -> None:
        self.t = Translator(b, side.m, inputs, bound=1)
        self.state = _State(b.true, list(locals_), list(globals_), inputs.memory, list(stack))
        self.writes: list[tuple[int, Term, Term]] = []  # (local, value, live) of each local.set/tee

    def execute(self, side: Side, run: tuple[int, int]) -> "_Run":
        st = self.state
        for k in range(*run):
            ins = side.instrs[k]
            self.t._step(side.func, ins, st, [], 0)
            if ins.op in (_SET, _TEE):
                self.writes.append((ins.imm[0], st.locals[ins.imm[0]], st.live))
        return self


class _Context:
    """Fresh symbolic state for one query: locals, globals, memory and the frame's operand stack."""

    def __init__(self, side: Side, local_types: tuple, stack_types: tuple) -> None:
        b = self.b = Builder()
        self.inputs = make_inputs(b, side.m, side.func)
        self.locals = [b.var(f"local{i}", WIDTH[t]) for i, t in enumerate(local_types)]
        self.stack = [b.var(f"stack{j}", WIDTH[t]) for j, t in enumerate(stack_types)]
        probe = Translator(b, side.m, self.inputs, bound=1)
        self.globals = [probe._initial_global(i) for i in range(len(side.m.global_types))]

    def within(self, bounds: dict[int, int]) -> list[Term]:
        b = self.b
        return [b.cmp("ule", self.locals[i], b.const(c, self.locals[i].w)) for i, c in bounds.items()
                if i < len(self.locals)]


def houdini(side: Side, solver: str, timeout_s: float, deadline: float) -> tuple[dict[int, int], float]:
    """The candidate bounds that are inductive: kept only while every write stays within them."""
    bounds = side.candidates()
    spent = 0.0
    writers = [r for r in side.runs if side.live(r)
               and any(side.instrs[k].op in (_SET, _TEE) and side.instrs[k].imm[0] in bounds for k in range(*r))]
    for _ in range(HOUDINI_ROUNDS):
        dropped = False
        for run in writers:
            if not bounds:
                return bounds, spent
            try:
                ctx = _Context(side, side.local_types, side.stack_types(run))
                ex = _Run(ctx.b, side, ctx.inputs, ctx.locals, ctx.stack, ctx.globals).execute(side, run)
            except Unprovable:
                for k in range(*run):
                    if side.instrs[k].op in (_SET, _TEE):
                        dropped |= bounds.pop(side.instrs[k].imm[0], None) is not None
                continue
            for i, value, live in ex.writes:
                if i not in bounds:
                    continue
                if time.monotonic() > deadline:
                    return {}, spent
                s = Portfolio(solver, min(timeout_s, 1.0))
                for f in ctx.within(bounds):
                    s.add(f)
                status = s.check([live, ctx.b.not_(ctx.b.cmp("ule", value, ctx.b.const(bounds[i], value.w)))])
                spent += s.seconds
                if status != "unsat":
                    del bounds[i]
                    dropped = True
        if not dropped:
            return bounds, spent
    return {}, spent  # did not settle: assume nothing


def invariants_of(a: Side, v: Side, solver: str, timeout_s: float, deadline: float
                  ) -> tuple[dict[int, int], dict[int, int], float]:
    """Each side's solver-checked bounds (`houdini`), and the solver time."""
    bounds_a, spent = houdini(a, solver, timeout_s, deadline)
    bounds_v, more = houdini(v, solver, timeout_s, deadline)
    return bounds_a, bounds_v, spent + more


def lockstep(ma: Module, mb: Module, fa: int, fb: int, original: bytes, variant: bytes, *,
             solver: str = "bitwuzla", timeout_s: float = 10.0) -> LockstepProof | None:
    """Equivalence of `fa` in `ma` and `fb` in `mb` in lockstep, or None when that does not apply (loops
    that do not pair up, other functions changed, locals retyped, recursion): then only the unrolling
    proof applies. Changed straight-line runs of a shared skeleton are tried first (small queries),
    then the whole function with every loop cut at its header."""
    if (fa != fb or fa < ma.num_imported_funcs or len(ma.bodies) != len(mb.bodies)
            or ma.funcs != mb.funcs or ma.types != mb.types or ma.imports != mb.imports
            or ma.tables != mb.tables or ma.elements != mb.elements or ma.globals != mb.globals
            or ma.memories != mb.memories or ma.data != mb.data):
        return None
    d = fa - ma.num_imported_funcs
    for i, (x, y) in enumerate(zip(ma.bodies, mb.bodies)):
        if i != d and (x.instrs != y.instrs or x.locals != y.locals or x.instrs is None):
            return None
    try:
        a, v = Side(ma, fa, original), Side(mb, fb, variant)
    except (Unprovable, WasmError):
        return None
    if v.local_types[:len(a.local_types)] != a.local_types:
        return None
    if a.instrs == v.instrs:
        return LockstepProof("proved", 0, 0, 0.0, "the same code (locals aside)")
    cut = _Cut.translate(a, v)
    if cut is None:
        return None
    deadline = time.monotonic() + 4 * timeout_s
    bounds_a, bounds_v, spent = invariants_of(a, v, solver, timeout_s, deadline)
    invariants = len(bounds_a) + len(bounds_v)
    if a.skeleton == v.skeleton:
        runs = _by_runs(a, v, bounds_a, bounds_v, solver, timeout_s)
        spent += runs[1]
        if runs[0] is not None:
            return LockstepProof("proved", runs[0], invariants, spent,
                                 f"equal run by run: {runs[0]} changed straight-line runs, each equal on every "
                                 f"state within {invariants} solver-checked loop invariants")
    proof = cut.decide(bounds_a, bounds_v, invariants, spent, solver, timeout_s)
    if proof.result != "differs":
        return proof
    related = _Cut.translate(a, v, related=True)
    if related is None or not related.related:
        return proof
    low = related.decide(bounds_a, bounds_v, invariants, proof.solver_s, solver, timeout_s, deadline=deadline)
    return low if low.result == "proved" else proof


def _relax(mask: int, w: int) -> int:
    """The next weaker relation of a local of width `w`: fewer low bits equal (0: none)."""
    return next(((1 << k) - 1 for k in LOW_BITS if (1 << k) - 1 < mask and k < w), 0)


def _by_runs(a: Side, v: Side, bounds_a: dict[int, int], bounds_v: dict[int, int], solver: str,
             timeout_s: float) -> tuple[int | None, float]:
    """The number of changed runs when each is shown equal (else None), and the solver time."""
    changed = [(ra, rv) for ra, rv in zip(a.runs, v.runs)
               if a.instrs[ra[0]:ra[1]] != v.instrs[rv[0]:rv[1]] and (a.live(ra) or v.live(rv))]
    spent = 0.0
    for ra, rv in changed:
        status, seconds = _same_run(a, v, ra, rv, bounds_a, bounds_v, solver, min(timeout_s, 2.0))
        spent += seconds
        if status != "unsat":
            return None, spent
    return len(changed), spent


class _Cut:
    """Both functions translated once with every loop cut at its header (`Cuts`), and the conditions under
    which they differ: on entering a loop, on its back edges, in the call's outcome."""

    def __init__(self, b: Builder, fa: int, carried: list[set[int]], ca: Cuts, cv: Cuts, oa, ob,
                 related: dict[int, int]) -> None:
        self.b, self.fa, self.ca, self.cv, self.oa, self.ob = b, fa, ca, cv, oa, ob
        self.carried = carried  # for each pair of cut points: the locals whose header values may be read
        self.related = related  # local -> width: the locals with header variables of each version's own

    @classmethod
    def translate(cls, a: Side, v: Side, related: bool = False) -> "_Cut | None":
        """With `related`, the carried integer locals get header variables of each version's own, to be
        related by their low bits (`decide`), not shared."""
        n = len(a.local_types)
        loops_a, loops_v = a.loops(), v.loops()
        if len(loops_a) != len(loops_v):
            return None
        # what may be read at each loop's header, in either version (the n-th loops pair up)
        live = [{j for j in a.carried_from(x) | v.carried_from(y) if j < n} for x, y in zip(loops_a, loops_v)]
        every = set().union(*live)
        own = {j: WIDTH[a.local_types[j]] for j in every
               if WIDTH.get(a.local_types[j]) in (32, 64)} if related else {}

        def sharing(loops: list[int]):
            nth = {at: k for k, at in enumerate(loops)}

            def shared(func: int, at: int, j: int) -> bool:
                if func != a.func:
                    return True  # a callee's loops: the same code in both
                return j in live[nth[at]] and j not in own
            return shared
        b = Builder()
        inputs = make_inputs(b, a.m, a.func)
        ca, cv = Cuts("original", sharing(loops_a)), Cuts("variant", sharing(loops_v))
        try:
            oa = Translator(b, a.m, inputs, cuts=ca).run(a.func)
            ob = Translator(b, v.m, inputs, cuts=cv).run(v.func)
        except (Unprovable, RecursionError):
            return None
        if (oa.exceeded is not b.false or ob.exceeded is not b.false or len(ca.points) != len(cv.points)
                or not ca.points or any(p.func != q.func or len(p.entry[4]) != len(q.entry[4])
                                       for p, q in zip(ca.points, cv.points))):
            return None
        nth = {at: k for k, at in enumerate(loops_a)}
        carried = [live[nth[p.at]] if p.func == a.func else set() for p in ca.points]
        return cls(b, a.func, carried, ca, cv, oa, ob, own)

    def _solver(self, bounds_a: dict[int, int], bounds_v: dict[int, int], masks: dict[int, int], solver: str,
                timeout_s: float) -> Portfolio:
        """A solver that assumes the checked bounds at every header, and the related locals' relations."""
        b, fa = self.b, self.fa
        s = Portfolio(solver, timeout_s)
        for cuts, bounds in ((self.ca, bounds_a), (self.cv, bounds_v)):
            for p in cuts.points:
                if p.func == fa:
                    for j, c in bounds.items():
                        s.add(b.cmp("ule", p.header[j], b.const(c, p.header[j].w)))
        for k, (p, q) in enumerate(zip(self.ca.points, self.cv.points)):
            if p.func == fa:
                for j, m in masks.items():
                    # a local neither loop writes is its entry value at the header: assuming the relation
                    # there would assume what the entry check must show
                    fresh = p.header[j] is not p.entry[1][j] or q.header[j] is not q.entry[1][j]
                    if m and j in self.carried[k] and fresh:
                        s.add(b.eq(_low(b, p.header[j], q.header[j], m), b.const(0, p.header[j].w)))
        return s

    def _relations(self, bounds_a: dict[int, int], bounds_v: dict[int, int], solver: str, timeout_s: float,
                   deadline: float) -> tuple[dict[int, int] | None, float]:
        """The strongest low-bit relations of the related locals that every loop entry and back edge keeps
        (None when they did not settle in time), and the solver time."""
        b, fa = self.b, self.fa
        masks = {j: (1 << w) - 1 for j, w in self.related.items()}  # all bits: equal
        spent = 0.0
        for _ in range(HOUDINI_ROUNDS * len(LOW_BITS)):
            if time.monotonic() > deadline:
                return None, spent
            s = self._solver(bounds_a, bounds_v, masks, solver, timeout_s)
            weakened = False
            for k, (p, q) in enumerate(zip(self.ca.points, self.cv.points)):
                if p.func != fa:
                    continue
                for x, y in ((p.entry, q.entry), (p.back, q.back)):
                    both = b.and_(x[0], y[0])
                    for j, m in masks.items():
                        if not m or both is b.false or j not in self.carried[k]:
                            continue
                        w = x[1][j].w
                        status = s.check([b.and_(both, b.ne(_low(b, x[1][j], y[1][j], m), b.const(0, w)))])
                        if status == "sat":
                            masks[j] = _relax(m, w)
                            weakened = True
                        elif status != "unsat":
                            spent += s.seconds
                            return None, spent
            spent += s.seconds
            if not weakened:
                return masks, spent
        return None, spent

    def decide(self, bounds_a: dict[int, int], bounds_v: dict[int, int], invariants: int, spent: float,
               solver: str, timeout_s: float, deadline: float | None = None) -> LockstepProof:
        b, fa = self.b, self.fa
        masks: dict[int, int] = {}
        if self.related:
            found, more = self._relations(bounds_a, bounds_v, solver, timeout_s,
                                          deadline if deadline is not None else time.monotonic() + 4 * timeout_s)
            spent += more
            if found is None:
                return LockstepProof("unknown", len(self.ca.points), invariants, spent,
                                     f"{DOUBT}: the low-bit relations of the loop state did not settle")
            masks = found
        s = self._solver(bounds_a, bounds_v, masks, solver, timeout_s)
        equal = [c - self.related.keys() for c in self.carried]
        pairs = list(zip(self.ca.points, self.cv.points))
        checks = [(f"loop {k}'s entry", _differ(b, p.entry, q.entry, equal[k] if p.func == fa else None, f"e{k}"))
                  for k, (p, q) in enumerate(pairs)]
        checks += [(f"loop {k}'s back edge", _differ(b, p.back, q.back, equal[k] if p.func == fa else None, f"b{k}"))
                   for k, (p, q) in enumerate(pairs)]
        checks.append(("the outcome", _outcomes_differ(b, self.oa, self.ob)))
        loops = len(pairs)
        for what, parts in checks:
            for part in parts:
                if part is b.false:
                    continue
                status = s.check([part])
                if status == "sat":
                    return LockstepProof("differs", loops, invariants, spent + s.seconds,
                                         f"{DOUBT}: at {what}, with every loop cut at its header, {DIFFERS}")
                if status != "unsat":
                    return LockstepProof("unknown", loops, invariants, spent + s.seconds,
                                         f"{DOUBT}: the solver gave no answer at {what} ({s.last_reason or status})")
        low = {j: m for j, m in masks.items() if m != (1 << self.related[j]) - 1}
        if low:
            kept = ", ".join(f"local {j}: {_bits(m)}" for j, m in sorted(low.items()))
            return LockstepProof("proved", loops, invariants, spent + s.seconds,
                                 f"equal in lockstep: {loops} loops cut at their headers, the loop state related "
                                 f"there on entry and on every back edge ({kept} equal, the rest equal), from every "
                                 f"state within {invariants} solver-checked invariants")
        return LockstepProof("proved", loops, invariants, spent + s.seconds,
                             f"equal in lockstep: {loops} loops cut at their headers, equal states there on entry "
                             f"and on every back edge, from every state within {invariants} solver-checked invariants")


def _low(b: Builder, x: Term, y: Term, mask: int) -> Term:
    """The bits of `mask` in which x and y differ."""
    return b.bin("and", b.bin("xor", x, y), b.const(mask, x.w))


def _bits(mask: int) -> str:
    return "no bits" if not mask else f"low {mask.bit_length()} bits"


def _differ(b: Builder, x: tuple, y: tuple, locals_: set[int] | None, tag: str) -> list[Term]:
    """Ways two (live, locals, globals, memory, stack) states at one cut point can differ: reached under
    different conditions, or, reached by both, a shared local (`locals_`; None: all), a global, a byte
    of memory or a loop parameter that differs."""
    (la, xa, ga, ma, pa), (lb, xb, gb, mb, pb) = x, y
    both = b.and_(la, lb)
    if both is b.false:
        return [b.ne(la, lb)]
    idx = range(min(len(xa), len(xb))) if locals_ is None else sorted(locals_)
    parts = [b.ne(la, lb),
             b.and_(both, b.or_(*(b.ne(xa[j], xb[j]) for j in idx))),
             b.and_(both, b.or_(*(b.ne(g, h) for g, h in zip(ga, gb)))),
             b.and_(both, b.or_(*(b.ne(g, h) for g, h in zip(pa, pb))))]
    if ma is not None and ma is not mb:
        w = b.var(f"witness.{tag}", 32)
        parts.append(b.and_(both, b.ne(b.select(ma, w), b.select(mb, w))))
    return parts


def _outcomes_differ(b: Builder, oa, ob) -> list[Term]:
    """The call's outcome: the same traps and, when neither traps, the same results, globals and memory."""
    ok = b.and_(b.not_(oa.trapped), b.not_(ob.trapped))
    parts = [b.ne(oa.trapped, ob.trapped),
             b.and_(ok, b.or_(*(b.ne(x, y) for x, y in zip(oa.results, ob.results)))),
             b.and_(ok, b.or_(*(b.ne(x, y) for x, y in zip(oa.globals, ob.globals))))]
    if oa.memory is not None and oa.memory is not ob.memory:
        w = b.var("witness.out", 32)
        parts.append(b.and_(ok, b.ne(b.select(oa.memory, w), b.select(ob.memory, w))))
    return parts


def _same_run(a: Side, v: Side, ra: tuple[int, int], rv: tuple[int, int], bounds_a: dict[int, int],
              bounds_v: dict[int, int], solver: str, timeout_s: float) -> tuple[str, float]:
    """Whether the two runs, from one state within both sides' invariants, end in the same state
    (same trap condition; when neither traps, the same operand stack, globals, memory and original locals
    that a later run may read)."""
    types = a.stack_types(ra)
    if v.stack_types(rv) != types:
        return "sat", 0.0
    ctx = _Context(a, v.local_types, types)
    b = ctx.b
    try:
        xa = _Run(b, a, ctx.inputs, ctx.locals[:len(a.local_types)], ctx.stack, ctx.globals).execute(a, ra)
        xv = _Run(b, v, ctx.inputs, ctx.locals, ctx.stack, ctx.globals).execute(v, rv)
    except Unprovable as exc:
        return f"not covered: {exc.reason}", 0.0
    sa, sv = xa.state, xv.state
    if len(sa.stack) != len(sv.stack):
        return "sat", 0.0
    ok = b.and_(b.not_(xa.t.trap), b.not_(xv.t.trap))
    parts = [b.ne(xa.t.trap, xv.t.trap),
             b.and_(ok, b.or_(*(b.ne(x, y) for x, y in zip(sa.stack, sv.stack)))),
             b.and_(ok, b.or_(*(b.ne(sa.locals[i], sv.locals[i]) for i in sorted(a.carried | v.carried)
                                if i < len(sa.locals)))),
             b.and_(ok, b.or_(*(b.ne(x, y) for x, y in zip(sa.globals, sv.globals))))]
    if sa.mem is not None and sa.mem is not sv.mem:
        w = b.var("witness", 32)
        parts.append(b.and_(ok, b.ne(b.select(sa.mem, w), b.select(sv.mem, w))))
    s = Portfolio(solver, timeout_s)
    for f in ctx.within(bounds_a) + ctx.within(bounds_v):
        s.add(f)
    for part in parts:
        if part is b.false:
            continue
        status = s.check([part])
        if status != "unsat":
            return (status if status == "sat" else s.last_reason or "unknown"), s.seconds
    return "unsat", s.seconds
