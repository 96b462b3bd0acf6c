"""Loop code proved in lockstep: equal straight-line runs under checked invariants make equal functions.

A variant that keeps the original's control skeleton (the same blocks, loops, branches and calls, in
the same places) and changes only the straight-line code between them behaves as the original on every
input, however long its loops run, when each changed run, started from any state the original can
reach, ends in the same state: by induction over the execution, both then pass every control
instruction with equal states. Unbounded unrolling is not needed, and each query is one loop-free run.

"Any state the original can reach" is approximated from above by invariants: unsigned upper bounds of
locals, proposed by the operators' range analysis (`Bounds`) and kept only when the solver shows them
inductive (Houdini: every write of a bounded local, from any state within the bounds, stays within
them; a failing candidate is dropped and the rest are checked again). The analysis proposes and the
solver decides, so a wrong bound costs a proof, never soundness.

This is how a checksum loop whose `%u 65521` became a conditional subtract is proved for every buffer
length, and how a later tweak of that compare (`>=u 65521` into `>u 65522`: wrong only when a running
sum meets the modulus exactly, once in thousands of random calls) is caught before any test meets it:
the changed run differs on a state the invariants allow. Such an answer is not a refutation (the state
may be unreachable) but it withholds adoption: see `DOUBT`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..errors import Unprovable, WasmError
from ..wasm import Module
from ..wasm.analysis import analyze
from ..wasm.types import WIDTH
from .semantics import Translator, _State, make_inputs
from .solver import Portfolio
from .terms import Builder, Term

# a reason containing this tells the gate the variant is not adoptable on held-out testing alone
DOUBT = "changed run not shown equal"

# control instructions: the skeleton both versions must share (everything else is straight-line code)
_CONTROL = frozenset((0x00, 0x02, 0x03, 0x04, 0x05, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x12, 0x13,
                      0x06, 0x07, 0x08, 0x09, 0x18, 0x19))
_GET, _SET, _TEE = 0x20, 0x21, 0x22
HOUDINI_ROUNDS = 8


@dataclass(frozen=True, slots=True)
class LockstepProof:
    """`result`: "proved" (every changed run equal under the invariants), "differs" (a changed run ends
    differently on some state the invariants allow: maybe unreachable, so not a refutation) or "unknown"
    (the solver gave no answer on a run)."""

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


class _Side:
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
        out = set()
        for run in self.runs:
            written = set()
            for k in range(*run):
                ins = self.instrs[k]
                if ins.op == _GET and ins.imm[0] not in written:
                    out.add(ins.imm[0])
                elif ins.op in (_SET, _TEE):
                    written.add(ins.imm[0])
        return frozenset(out)

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

    def __init__(self, b: Builder, side: _Side, inputs, locals_: list[Term], stack: list[Term],
                 globals_: list[Term]) -> None:
        self.t = Translator(b, side.m, inputs, bound=1)
        self.state = _State(b.true, list(locals_), list(globals_), inputs.memory, list(stack))
        self.writes: list[tuple[int, Term, Term]] = []  # (local, value, live) of each local.set/tee

    def execute(self, side: _Side, run: tuple[int, int]) -> "_Run":
        st = self.state
        for k in range(*run):
            ins = side.instrs[k]
            self.t._step(side.func, ins, st, [], 0)
            if ins.op in (_SET, _TEE):
                self.writes.append((ins.imm[0], st.locals[ins.imm[0]], st.live))
        return self


class _Context:
    """Fresh symbolic state for one query: locals, globals, memory and the frame's operand stack."""

    def __init__(self, side: _Side, local_types: tuple, stack_types: tuple) -> None:
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


def _houdini(side: _Side, solver: str, timeout_s: float, deadline: float) -> tuple[dict[int, int], float]:
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


def lockstep(ma: Module, mb: Module, fa: int, fb: int, original: bytes, variant: bytes, *,
             solver: str = "bitwuzla", timeout_s: float = 10.0) -> LockstepProof | None:
    """Equivalence of `fa` in `ma` and `fb` in `mb` run by run, or None when the two do not share a
    skeleton (different control structure, other functions changed, locals retyped): then only the
    unrolling proof applies."""
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
        a, v = _Side(ma, fa, original), _Side(mb, fb, variant)
    except (Unprovable, WasmError):
        return None
    n = len(a.local_types)
    if a.skeleton != v.skeleton or v.local_types[:n] != a.local_types:
        return None
    changed = [(ra, rv) for ra, rv in zip(a.runs, v.runs)
               if a.instrs[ra[0]:ra[1]] != v.instrs[rv[0]:rv[1]] and (a.live(ra) or v.live(rv))]
    if not changed:
        return LockstepProof("proved", 0, 0, 0.0, "same code (locals aside)")
    deadline = time.monotonic() + 4 * timeout_s
    bounds_a, spent_a = _houdini(a, solver, timeout_s, deadline)
    bounds_v, spent_v = _houdini(v, solver, timeout_s, deadline)
    spent = spent_a + spent_v
    invariants = len(bounds_a) + len(bounds_v)
    for ra, rv in changed:
        status, s_spent = _same_run(a, v, ra, rv, bounds_a, bounds_v, solver, timeout_s)
        spent += s_spent
        where = f"the run at instruction {ra[0]} of the original"
        if status == "sat":
            return LockstepProof("differs", len(changed), invariants, spent,
                                 f"{DOUBT}: {where} ends differently on a state the checked loop invariants allow")
        if status != "unsat":
            return LockstepProof("unknown", len(changed), invariants, spent,
                                 f"{DOUBT}: the solver gave no answer on {where} ({status})")
    return LockstepProof("proved", len(changed), invariants, spent,
                         f"equal run by run: {len(changed)} changed straight-line runs, each equal on every state "
                         f"within {invariants} solver-checked loop invariants")


def _same_run(a: _Side, v: _Side, ra: tuple[int, int], rv: tuple[int, int], bounds_a: dict[int, int],
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
