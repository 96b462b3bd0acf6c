"""The symbolic semantics: one function of the IR, with its callees inlined, as terms.

Execution is path-merging symbolic execution over the structured body. Every point carries
`live`, the condition under which execution reaches it; a branch records the state it
carries to its label, and the label's join merges the incoming states with if-then-else
on their (disjoint) conditions. A trapping instruction adds `live and cond` to the trap
condition and continues under `not cond`. Loops are unrolled `bound` times per entry;
a back edge still live after that adds to `exceeded`, the condition under which the
outcome says nothing. Calls are inlined up to `max_depth` nested calls; a deeper call (recursion)
adds to `exceeded` the same way.

The outcome is (trapped, results, final globals, final memory): what `jeet.prove.equivalence`
compares. Initial values (arguments, mutable and imported globals, memory) are shared
`Inputs`, so two translations talk about the same call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..wasm import Module
from ..wasm.analysis import block_ends, else_of
from ..wasm.types import EMPTY_BLOCK, V128
from ..wasm.types import WIDTH as SCALAR_WIDTH
from ..errors import Unprovable
from .memory import LOADS, STORES, Access, effective, load, store
from .numeric import NUMERIC
from .terms import Builder, Term
from .vector import VECTOR, VECTOR_LOADS

WIDTH = {**SCALAR_WIDTH, V128: 128}  # the bit-vector width of each value type the semantics holds
_FLOAT_LOADS = {"f32.load": Access(4, 32), "f64.load": Access(8, 64)}
_FLOAT_STORES = {"f32.store": Access(4, 32), "f64.store": Access(8, 64)}
_IDENTITY = {"i32.reinterpret_f32", "i64.reinterpret_f64", "f32.reinterpret_i32", "f64.reinterpret_i64"}
_WASM_PAGE = 65536
_MAX_TERMS = 2_000_000


@dataclass(frozen=True)
class Inputs:
    """The symbolic initial state of one call, shared by the two functions compared."""

    args: tuple[Term, ...]
    globals: dict[int, Term]      # mutable or imported globals, by index (variables)
    memory: Term | None           # the initial bytes of memory 0
    fixed: dict[int, Term] = field(default_factory=dict)  # globals held at a known value (constants)


def make_inputs(b: Builder, m: Module, func: int, fixed: dict[int, int] | None = None) -> Inputs:
    """Variables for the arguments, the mutable and imported globals (except those `fixed` to a
    value, such as the stack pointer at entry) and the initial memory."""
    fixed = fixed or {}
    ft = m.func_type(func)
    args = tuple(b.var(f"arg{i}", WIDTH[t]) for i, t in enumerate(ft.params))
    nimp = m.num_imported_globals
    globals_ = {i: b.var(f"global{i}", WIDTH.get(gt.type, 32))
                for i, gt in enumerate(m.global_types) if (gt.mutable or i < nimp) and i not in fixed}
    held = {i: b.const(v, WIDTH.get(m.global_types[i].type, 32)) for i, v in fixed.items()}
    memory = b.array("mem0") if m.memory_types else None
    return Inputs(args, globals_, memory, held)


@dataclass
class Outcome:
    """What one call does, as terms over the inputs."""

    trapped: Term
    exceeded: Term
    results: tuple[Term, ...]
    globals: tuple[Term, ...]
    memory: Term | None
    memory_size: int
    accesses: list[tuple[Term, int, Term]] = field(default_factory=list)  # (address, bytes, reached) of every load/store
    stores: list[tuple[Term, int]] = field(default_factory=list)


class _State:
    __slots__ = ("live", "locals", "globals", "mem", "stack")

    def __init__(self, live: Term, locals_: list, globals_: list, mem: Term | None, stack: list) -> None:
        self.live = live
        self.locals = locals_
        self.globals = globals_
        self.mem = mem
        self.stack = stack

    def snapshot(self, live: Term) -> "_State":
        return _State(live, list(self.locals), list(self.globals), self.mem, [])


class _Frame:
    __slots__ = ("arity", "incoming")

    def __init__(self, arity: int) -> None:
        self.arity = arity
        self.incoming: list[tuple[_State, list]] = []


@dataclass
class CutPoint:
    """A loop translated as a cut point (`Cuts`): the state arriving from outside, the state its body's
    back edges carry, each as (live, locals, globals, memory, loop parameters)."""

    loop: int
    func: int
    header: list      # the locals at the header: the fresh variables
    entry: tuple
    back: tuple
    at: int = -1      # the loop instruction's index in its function's body
    head: tuple = ()  # the whole header state, as (live, locals, globals, memory, loop parameters)


@dataclass
class Cuts:
    """Loops as cut points instead of unrolled: each loop's header state is fresh variables (named by
    the loop's order of translation, so two translations over one builder share them) and its body is
    translated once, from there. `shared(func, at, local)` says which locals two versions hold equal at
    the header of the loop at instruction `at` of `func` (the others get variables of this `side` alone:
    their values there are never read). `own_bytes`, addresses: the header memory is the shared one with
    these bytes this side's own variables (stack frames the versions keep apart)."""

    side: str
    shared: Callable[[int, int, int], bool]
    points: list[CutPoint] = field(default_factory=list)
    own_bytes: tuple[int, ...] = ()


class Translator:
    """Builds the `Outcome` of one function of one module."""

    def __init__(self, b: Builder, m: Module, inputs: Inputs, *, bound: int = 16, max_depth: int = 8,
                 cuts: Cuts | None = None) -> None:
        self.b = b
        self.m = m
        self.inputs = inputs
        self.bound = bound
        self.max_depth = max_depth
        self.cuts = cuts
        self.trap = b.false
        self.exceeded = b.false
        self.accesses: list[tuple[Term, int, Term]] = []
        self.stores: list[tuple[Term, int]] = []
        self.mem_size = m.memory_types[0].limits.min * _WASM_PAGE if m.memory_types else 0
        self._structure: dict[int, tuple[dict, dict]] = {}

    # -- entry -------------------------------------------------------------------------------

    def run(self, func: int) -> Outcome:
        b = self.b
        globals_ = [self._initial_global(i) for i in range(len(self.m.global_types))]
        st = _State(b.true, [], globals_, self.inputs.memory, [])
        end = self._call(func, list(self.inputs.args), st, 0)
        if end.live is b.false:  # every path traps or exceeds the bound: the rest is never observed
            zeros = tuple(b.const(0, WIDTH[t]) for t in self.m.func_type(func).results)
            end = _State(b.false, [], globals_, self.inputs.memory, list(zeros))
        st = end
        return Outcome(self.trap, self.exceeded, tuple(st.stack), tuple(st.globals), st.mem, self.mem_size,
                       self.accesses, self.stores)

    def _initial_global(self, i: int) -> Term:
        if i in self.inputs.fixed:
            return self.inputs.fixed[i]
        if i in self.inputs.globals:
            return self.inputs.globals[i]
        g = self.m.globals[i - self.m.num_imported_globals]
        ins = g.init.instrs
        if ins is None or len(ins) != 2:
            raise Unprovable(f"global {i} has an initializer the semantics does not read")
        first = ins[0]
        if first.name == "global.get":
            return self._initial_global(first.imm[0])
        if first.name in ("i32.const", "i64.const", "f32.const", "f64.const"):
            return self.b.const(first.imm[0], WIDTH[g.type.type])
        raise Unprovable(f"global {i} is not a number")

    # -- functions ---------------------------------------------------------------------------

    def _call(self, func: int, args: list, st: _State, depth: int) -> _State:
        m = self.m
        if func < m.num_imported_funcs:
            raise Unprovable(f"calls imported function {func}")
        if depth > self.max_depth:  # like a loop past its bound: the outcome says nothing on these paths
            self.exceeded = self.b.or_(self.exceeded, st.live)
            return _State(self.b.false, st.locals, st.globals, st.mem, st.stack)
        if len(self.b) > _MAX_TERMS:
            raise Unprovable(f"the formula is too large (over {_MAX_TERMS} terms): lower the bound")
        d = func - m.num_imported_funcs
        body = m.bodies[d]
        if body.instrs is None:
            raise Unprovable(f"function {func} is opaque to the IR")
        ft = m.func_type(func)
        locals_ = list(args) + [self.b.const(0, WIDTH[t]) for t in body.local_types()]
        inner = _State(st.live, locals_, list(st.globals), st.mem, [])
        frame = _Frame(len(ft.results))
        instrs = body.instrs
        self._seq(func, instrs, 0, len(instrs) - 1, inner, [frame], depth)
        merged, values = self._join(frame, inner)
        out = _State(merged.live, st.locals, merged.globals, merged.mem, st.stack + values)
        return out

    def _blocks(self, func: int, instrs: tuple) -> tuple[dict, dict]:
        s = self._structure.get(func)
        if s is None:
            s = self._structure[func] = (block_ends(instrs), else_of(instrs))
        return s

    def _blocktype(self, bt: int) -> tuple[int, int]:
        if bt == EMPTY_BLOCK:
            return 0, 0
        if bt >= 0:
            ft = self.m.types[bt]
            return len(ft.params), len(ft.results)
        return 0, 1

    # -- control -----------------------------------------------------------------------------

    def _join(self, frame: _Frame, fallthrough: _State | None) -> tuple[_State, list]:
        """Merge the states arriving at a label (and the fall-through one) into one."""
        b = self.b
        edges = list(frame.incoming)
        if fallthrough is not None and fallthrough.live is not b.false:
            n = frame.arity
            edges.append((fallthrough, fallthrough.stack[len(fallthrough.stack) - n:] if n else []))
        edges = [e for e in edges if e[0].live is not b.false]
        if not edges:
            dead = _State(b.false, [], [], None, [])
            return dead, []
        st, values = edges[-1]
        locals_, globals_, mem, values = list(st.locals), list(st.globals), st.mem, list(values)
        for other, vals in reversed(edges[:-1]):
            c = other.live
            locals_ = [b.ite(c, x, y) for x, y in zip(other.locals, locals_)]
            globals_ = [b.ite(c, x, y) for x, y in zip(other.globals, globals_)]
            if mem is not None:
                mem = b.ite(c, other.mem, mem)
            values = [b.ite(c, x, y) for x, y in zip(vals, values)]
        live = b.or_(*(e[0].live for e in edges))
        return _State(live, locals_, globals_, mem, []), values

    def _branch(self, st: _State, frames: list, label: int, cond: Term | None) -> None:
        b = self.b
        frame = frames[-1 - label]
        live = st.live if cond is None else b.and_(st.live, cond)
        if live is not b.false:
            n = frame.arity
            frame.incoming.append((st.snapshot(live), st.stack[len(st.stack) - n:] if n else []))
        st.live = b.false if cond is None else b.and_(st.live, b.not_(cond))

    def _trap(self, st: _State, cond: Term) -> None:
        b = self.b
        if cond is b.false:
            return
        self.trap = b.or_(self.trap, b.and_(st.live, cond))
        st.live = b.and_(st.live, b.not_(cond))

    def _adopt(self, st: _State, merged: _State, base: list, values: list) -> None:
        st.live, st.globals, st.mem = merged.live, merged.globals, merged.mem
        if merged.live is not self.b.false:
            st.locals = merged.locals
        st.stack = base + values

    def _seq(self, func: int, instrs: tuple, i: int, end: int, st: _State, frames: list, depth: int) -> None:
        b = self.b
        ends, elses = self._blocks(func, instrs)
        while i < end:
            if st.live is b.false:
                return
            ins = instrs[i]
            op = ins.op
            if op in (0x02, 0x03, 0x04):
                e = ends[i]
                n_in, n_out = self._blocktype(ins.imm[0])
                if op == 0x04:
                    c = b.truth(st.stack.pop())
                split = len(st.stack) - n_in
                base, params = st.stack[:split], st.stack[split:]
                if op == 0x02:
                    frame = _Frame(n_out)
                    st.stack = params
                    self._seq(func, instrs, i + 1, e, st, frames + [frame], depth)
                    merged, values = self._join(frame, st)
                elif op == 0x04:
                    frame = _Frame(n_out)
                    other = _State(b.and_(st.live, b.not_(c)), list(st.locals), list(st.globals), st.mem,
                                   list(params))
                    st.live = b.and_(st.live, c)
                    st.stack = list(params)
                    el = elses.get(i)
                    self._seq(func, instrs, i + 1, el if el is not None else e, st, frames + [frame], depth)
                    if el is not None:
                        self._seq(func, instrs, el + 1, e, other, frames + [frame], depth)
                    then_state, then_values = self._join(frame, st)
                    frame2 = _Frame(n_out)
                    frame2.incoming.append((then_state, then_values))
                    merged, values = self._join(frame2, other)
                else:
                    merged, values = self._loop(func, instrs, i, e, st, params, n_out, frames, depth)
                self._adopt(st, merged, base, values)
                i = e + 1
                continue
            self._step(func, ins, st, frames, depth)
            i += 1

    def _loop(self, func: int, instrs: tuple, i: int, e: int, st: _State, params: list, n_out: int,
              frames: list, depth: int) -> tuple[_State, list]:
        if self.cuts is not None:
            return self._cut(func, instrs, i, e, st, params, n_out, frames, depth)
        b = self.b
        exits = _Frame(n_out)
        cur = _State(st.live, list(st.locals), list(st.globals), st.mem, list(params))
        for iteration in range(1, self.bound + 1):
            back = _Frame(len(params))
            self._seq(func, instrs, i + 1, e, cur, frames + [back], depth)
            if cur.live is not b.false:
                exits.incoming.append((cur, cur.stack[len(cur.stack) - n_out:] if n_out else []))
            again, values = self._join(back, None)
            if again.live is b.false:
                break
            if iteration == self.bound:
                self.exceeded = b.or_(self.exceeded, again.live)
                break
            cur = _State(again.live, again.locals, again.globals, again.mem, values)
        return self._join(exits, None)

    def _cut(self, func: int, instrs: tuple, i: int, e: int, st: _State, params: list, n_out: int,
             frames: list, depth: int) -> tuple[_State, list]:
        """The loop as a cut point: its body once, from a header state of fresh variables (for the locals
        it writes; the others keep the values they came in with)."""
        b, cuts = self.b, self.cuts
        lid = len(cuts.points)
        def name(what: str, shared: bool) -> str:
            return f"cut{lid}.{what}" if shared else f"cut{lid}.{cuts.side}.{what}"
        # a local the loop never writes holds its entry value at the header, whatever the iteration
        written = {ins.imm[0] for ins in instrs[i + 1:e] if ins.op in (0x21, 0x22)}
        locals_ = [b.var(name(f"local{j}", cuts.shared(func, i, j)), x.w) if j in written else x
                   for j, x in enumerate(st.locals)]
        # a constant global stays one at the header only when no iteration can change it: immutable, or
        # neither set in the body nor reachable by a call from it
        calls = any(ins.op in (0x10, 0x11) for ins in instrs[i + 1:e])
        set_ = {ins.imm[0] for ins in instrs[i + 1:e] if ins.op == 0x24}
        globals_ = [g if g.is_const and (not self.m.global_types[k].mutable or not (calls or k in set_))
                    else b.var(name(f"global{k}", True), g.w) for k, g in enumerate(st.globals)]
        mem = b.array(name("memory", True)) if st.mem is not None else None
        if mem is not None:
            for a in cuts.own_bytes:
                mem = b.store(mem, b.const(a, 32), b.var(name(f"byte{a}", False), 8))
        head = [b.var(name(f"param{j}", True), x.w) for j, x in enumerate(params)]
        point = CutPoint(lid, func, list(locals_), (st.live, list(st.locals), list(st.globals), st.mem, list(params)), (),
                         i, (st.live, list(locals_), list(globals_), mem, list(head)))
        cuts.points.append(point)
        exits = _Frame(n_out)
        cur = _State(st.live, locals_, globals_, mem, list(head))
        back = _Frame(len(params))
        self._seq(func, instrs, i + 1, e, cur, frames + [back], depth)
        if cur.live is not b.false:
            exits.incoming.append((cur, cur.stack[len(cur.stack) - n_out:] if n_out else []))
        again, values = self._join(back, None)
        point.back = (again.live, again.locals, again.globals, again.mem, values)
        return self._join(exits, None)

    # -- straight-line instructions -------------------------------------------------------------

    def _step(self, func: int, ins, st: _State, frames: list, depth: int) -> None:
        b = self.b
        op = ins.op
        stack = st.stack
        name = ins.name
        rule = NUMERIC.get(name)
        if rule is not None:
            value, trap = rule(b, *_pop(stack, name))
            if trap is not None:
                self._trap(st, trap)
            stack.append(value)
        elif op == 0x20:
            stack.append(st.locals[ins.imm[0]])
        elif op == 0x21:
            st.locals[ins.imm[0]] = stack.pop()
        elif op == 0x22:
            st.locals[ins.imm[0]] = stack[-1]
        elif op == 0x23:
            stack.append(st.globals[ins.imm[0]])
        elif op == 0x24:
            st.globals[ins.imm[0]] = stack.pop()
        elif op in (0x41, 0x42, 0x43, 0x44):
            stack.append(b.const(ins.imm[0], 32 if op in (0x41, 0x43) else 64))
        elif name in LOADS or name in _FLOAT_LOADS:
            acc = LOADS.get(name) or _FLOAT_LOADS[name]
            addr, oob = effective(b, stack.pop(), ins.imm[1], acc.nbytes, self.mem_size)
            self._trap(st, oob)
            self.accesses.append((addr, acc.nbytes, st.live))
            stack.append(load(b, st.mem, addr, acc))
        elif name in VECTOR:
            stack.append(VECTOR[name](b, ins.imm, *_pop(stack, name)))
        elif name in VECTOR_LOADS:
            nbytes, widen = VECTOR_LOADS[name]
            addr, oob = effective(b, stack.pop(), ins.imm[1], nbytes, self.mem_size)
            self._trap(st, oob)
            self.accesses.append((addr, nbytes, st.live))
            stack.append(widen(b, load(b, st.mem, addr, Access(nbytes, 8 * nbytes))))
        elif name in STORES or name in _FLOAT_STORES:
            acc = STORES.get(name) or _FLOAT_STORES[name]
            value = stack.pop()
            addr, oob = effective(b, stack.pop(), ins.imm[1], acc.nbytes, self.mem_size)
            self._trap(st, oob)
            self.accesses.append((addr, acc.nbytes, st.live))
            self.stores.append((addr, acc.nbytes))
            st.mem = store(b, st.mem, addr, value, acc)
        elif op in (0x1B, 0x1C):
            c = stack.pop()
            y = stack.pop()
            x = stack.pop()
            stack.append(b.ite(b.truth(c), x, y))
        elif op == 0x1A:
            stack.pop()
        elif op == 0x01:
            pass
        elif op == 0x3F:  # memory.size: the initial size (a module that can grow memory is not proved)
            stack.append(b.const(self.mem_size // _WASM_PAGE, 32))
        elif name in _IDENTITY:
            pass
        elif op == 0x0C:
            self._branch(st, frames, ins.imm[0], None)
        elif op == 0x0D:
            c = b.truth(stack.pop())
            self._branch(st, frames, ins.imm[0], c)
        elif op == 0x0E:
            self._br_table(st, frames, ins.imm[0], ins.imm[1])
        elif op == 0x0F:
            self._branch(st, frames, len(frames) - 1, None)
        elif op == 0x00:
            self._trap(st, b.true)
        elif op == 0x10:
            callee = ins.imm[0]
            n = len(self.m.func_type(callee).params)
            args = stack[len(stack) - n:]
            del stack[len(stack) - n:]
            out = self._call(callee, args, st, depth + 1)
            st.live, st.globals, st.mem, st.stack = out.live, out.globals, out.mem, out.stack
        else:
            raise Unprovable(f"{name} is not covered by the semantics")

    def _br_table(self, st: _State, frames: list, labels: tuple, default: int) -> None:
        b = self.b
        idx = st.stack.pop()
        targets: dict[int, list[Term]] = {}
        for j, lab in enumerate(labels):
            targets.setdefault(lab, []).append(b.eq(idx, b.const(j, 32)))
        targets.setdefault(default, []).append(b.not_(b.cmp("ult", idx, b.const(len(labels), 32))))
        for lab, conds in targets.items():
            self._branch(st, frames, lab, b.or_(*conds))
        st.live = b.false


def _pops() -> dict[str, tuple]:
    from ..wasm.opcodes import OPCODES

    return {info.name: info.sig[0] for info in OPCODES.values() if info.sig is not None}


_POPS = _pops()


def _pop(stack: list, name: str) -> list:
    """The operands instruction `name` takes off the stack, bottom first."""
    n = len(_POPS[name])
    operands = stack[len(stack) - n:]
    del stack[len(stack) - n:]
    return operands


def translate(b: Builder, m: Module, func: int, inputs: Inputs, *, bound: int = 16, max_depth: int = 8) -> Outcome:
    """The outcome of calling `func` of `m` on `inputs`; raises Unprovable for what is not covered."""
    return Translator(b, m, inputs, bound=bound, max_depth=max_depth).run(func)
