"""Equivalence of two versions of one exported function, for all inputs, by an SMT query.

Both functions are translated over the same symbolic inputs (arguments, mutable and
imported globals, initial memory), and the solver looks for inputs on which they differ:
one traps and the other does not, or neither traps and a result, a final global or a byte of
memory outside the original's shadow-stack scratch region differs. No such input: `proved`
(or `bounded(k)` when a loop may run longer than the unrolling). One found: it is replayed in
jeet's sandbox on both modules, and only a difference seen there makes `refuted`.

The stack pointer (see `jeet.wasm.abi`) is held at its declared initial value when the original
restores it: every call a host makes then starts there. The scratch region is fixed with it:
`[sp0 - frame, sp0)`, the original call tree's frame. When the original does not visibly restore
the pointer, it is an ordinary symbolic global and no byte is scratch. Everything else is symbolic.
A model whose input bytes lie in the scratch region refutes nothing (`OutsideContract`): no caller keeps
data in the free shadow stack, as the held-out cases never do (`jeet.oracle.environment`); the answer is
then `unknown`, with that reason.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

from ..oracle.values import valtype_names
from ..sandbox import Sandbox
from ..wasm import GLOBAL, Module, WasmError, decode, validate
from ..wasm import abi
from ..wasm.types import F32, F64, WIDTH
from .counterexample import Counterexample, blocks, ranges
from .coverage import loop_free, recursive, uncovered, uses_vectors
from .candidates import ConcreteModel, search
from ..errors import ProveError, Unprovable
from .evaluate import Evaluator
from .frame import frame_lockstep
from .lockstep import LockstepProof, lockstep
from .replay import differs, run_side
from .semantics import Inputs, Outcome, make_inputs, translate
from .solver import SOLVERS, Portfolio, Solver, open_solver
from .terms import Builder, Term
from .verification import Verification


# how the answer for vector loop code starts its reason: a counterexample search, no proof (tested only)
VECTOR_LOOPS = "vector loops, searched only"


def load_pair(original: bytes, variant: bytes, function: str) -> tuple[Module, Module, int, int]:
    """Decode and validate both modules and find the function; ProveError names what is wrong."""
    mods = []
    for label, data in (("original", original), ("variant", variant)):
        try:
            m = decode(bytes(data))
            validate(m)
        except WasmError as exc:
            raise ProveError(f"{label}: invalid module: {exc}") from None
        mods.append(m)
    ma, mb = mods
    fa, fb = ma.export_func(function), mb.export_func(function)
    for label, m, f in (("original", ma, fa), ("variant", mb, fb)):
        if f is None:
            names = ", ".join(sorted(m.exported_functions())) or "none"
            raise ProveError(f"{label}: no exported function {function!r} (exports: {names})")
    sa, sb = ma.func_type(fa), mb.func_type(fb)
    if sa != sb:
        raise ProveError(f"{function}: different signatures, original {sa} vs variant {sb}")
    return ma, mb, fa, fb


def _context_difference(ma: Module, mb: Module, unchanged: frozenset[int] = frozenset()) -> str | None:
    """What, besides code, makes the two modules start from different states (then a proof over
    shared initial state does not carry over). The variant may drop trailing globals of the
    original that are not exported and that the original's function leaves `unchanged` (say, a
    stack pointer it restores): nothing outside the module can see them, and the proof covered
    every value they may hold."""
    if ma.memory_types != mb.memory_types:
        return "the modules declare different memories"
    n = len(mb.global_types)
    exported = {e.index for e in ma.exports if e.kind == GLOBAL}
    dropped = set(range(n, len(ma.global_types)))
    if (ma.global_types[:n] != mb.global_types or ma.globals[:n] != mb.globals
            or dropped & exported or not dropped <= unchanged or n > len(ma.global_types)
            or ma.num_imported_globals != mb.num_imported_globals):
        return "the modules declare different globals"
    if ma.data != mb.data:
        return "the modules' data segments differ"
    for m in (ma, mb):
        if any(ins.op == 0x40 for body in m.bodies for ins in body.instrs or ()):
            return "another function can grow memory (the semantics assumes the initial size)"
    return None


def _is_nan(b: Builder, x: Term) -> Term:
    w = x.w
    exp = ((1 << (11 if w == 64 else 8)) - 1) << (52 if w == 64 else 23)
    frac = (1 << (52 if w == 64 else 23)) - 1
    return b.and_(b.eq(b.bin("and", x, b.const(exp, w)), b.const(exp, w)),
                  b.ne(b.bin("and", x, b.const(frac, w)), b.const(0, w)))


def _value_differs(b: Builder, t: int, x: Term, y: Term) -> Term:
    if t in (F32, F64):
        return b.not_(b.or_(b.eq(x, y), b.and_(_is_nan(b, x), _is_nan(b, y))))
    return b.ne(x, y)


def _differences(b: Builder, oa: Outcome, ob: Outcome, result_types: tuple, global_types: tuple,
                 region: tuple[int, int] | None, witness: Term) -> list[Term]:
    """The ways the two outcomes can differ, one condition each: trap or results, globals, memory
    (witness: the address of a differing byte). Asked one at a time, each is a smaller query."""
    ok_both = b.and_(b.not_(oa.trapped), b.not_(ob.trapped))
    results = [_value_differs(b, t, x, y) for t, x, y in zip(result_types, oa.results, ob.results)]
    parts = [b.or_(b.ne(oa.trapped, ob.trapped), b.and_(ok_both, b.or_(*results)))]
    globals_ = [_value_differs(b, gt.type, x, y) for gt, x, y in zip(global_types, oa.globals, ob.globals)]
    parts.append(b.and_(ok_both, b.or_(*globals_)))
    if oa.memory is not None and ob.memory is not None:
        size = min(oa.memory_size, ob.memory_size)
        where = [b.cmp("ult", witness, b.const(size, 32))] if size < (1 << 32) else []
        if region is not None:
            lo, hi = region
            where.append(b.or_(b.cmp("ult", witness, b.const(lo, 32)), b.cmp("ule", b.const(hi, 32), witness)))
        parts.append(b.and_(ok_both, *where, b.ne(b.select(oa.memory, witness), b.select(ob.memory, witness))))
    return [p for p in parts if p is not b.false]


def _unknown(method: str, reason: str) -> Verification:
    return Verification(method, "unknown", None, 0.0, None, reason)


def prove(original: bytes, variant: bytes, function: str, *, bound: int = 16, timeout_s: float = 10.0,
          solver: str = "bitwuzla", max_depth: int = 8, sandbox: Sandbox | None = None,
          via: Sequence[tuple[bytes, Verification]] = ()) -> Verification:
    """Check that `variant`'s `function` behaves as `original`'s on every input.

    `via`: variants already checked against `original` (a gate's adopted ones, with their answers). A
    variant of loop code not shown equal to the original in lockstep (its loops do not pair up, or a
    difference the lockstep check cannot see past) is compared with them the same way: equal to one,
    it inherits that one's answer; a difference withholds adoption as against the original (a tweak on
    top of an unrolled loop, say).

    Raises ProveError only for bad input (invalid module, no such function, different
    signatures, unknown solver), before any solver time; every other problem (timeout,
    solver failure, something the semantics does not cover) is an `unknown` answer.
    """
    if solver not in SOLVERS:
        raise ProveError(f"unknown solver {solver!r} (choose from {', '.join(SOLVERS)})")
    if bound < 1:
        raise ProveError(f"the loop bound must be at least 1, got {bound}")
    ma, mb, fa, fb = load_pair(original, variant, function)
    method = f"smt:{solver}"
    for label, m, f in (("original", ma, fa), ("variant", mb, fb)):
        reason = uncovered(m, f)
        if reason is not None:
            return _unknown(method, f"{label}: {reason}")
    if bool(ma.memory_types) != bool(mb.memory_types):
        return _unknown(method, "one module has a memory and the other has none")
    loops = not (loop_free(ma, fa) and loop_free(mb, fb))
    spent = 0.0
    doubt = None  # a lockstep check that found a difference (an answer it could not give decides nothing)
    if loops:  # unrolling is bounded; lockstep proofs are not
        steps, same_context = None, _context_difference(ma, mb) is None
        if same_context:
            steps = lockstep(ma, mb, fa, fb, original, variant, solver=solver, timeout_s=timeout_s)
            spent = steps.solver_s if steps is not None else 0.0
            if steps is not None and steps.result == "proved":
                return Verification(f"{method}+lockstep", "proved", None, spent, None, steps.reason)
        framed = _frame_lockstep(ma, mb, fa, fb, original, variant, solver, timeout_s)
        if framed is not None:
            spent += framed.solver_s
            if framed.result == "proved":
                return Verification(f"{method}+lockstep", "proved", None, spent, None, framed.reason)
        found, inherited = _via(mb, fb, variant, via, solver, timeout_s) if same_context else (None, None)
        if inherited is not None:
            return inherited
        spent += found.solver_s if found is not None else 0.0
        doubt = next((x for x in (steps, found) if x is not None and x.result == "differs"), None)
    # Counterexamples with short loops are found fastest on small unrollings: try those first, briefly.
    vectors = loops and (uses_vectors(ma, fa) or uses_vectors(mb, fb))
    searched = ([k for k in (2, 4) if k < bound] if loops else []) + ([bound] if vectors else [])
    for k in searched:
        quick = _attempt(ma, mb, fa, fb, method, k, min(1.0, timeout_s), solver, max_depth, sandbox, quick=True)
        spent += quick.solver_s
        if quick.result == "refuted":
            return dataclasses.replace(quick, solver_s=spent)
    if vectors and doubt is None:
        # Vector loops against scalar ones take the solver minutes to prove even at a small bound (adder
        # trees that differ); the search for a counterexample above is what a check can afford.
        return Verification(method, "unknown", None, spent, None,
                            f"{VECTOR_LOOPS}: a short solver search found no counterexample among inputs whose "
                            f"loops run at most {bound} iterations (no proof was attempted)")
    settle = doubt is not None
    final = _attempt(ma, mb, fa, fb, method, bound, timeout_s, solver, max_depth, sandbox, settle=settle)
    if settle and final.result == "bounded":  # equal that far: loops that end soon after end there
        spent += final.solver_s
        final = _attempt(ma, mb, fa, fb, method, 2 * bound, timeout_s, solver, max_depth, sandbox, settle=True)
    if doubt is not None and final.result not in ("proved", "refuted"):
        # a difference at a loop header outweighs short loops and tests: it may need a long run (a sum
        # meeting its modulus), beyond any unrolling and most random cases. Only an unrolling that covers
        # every input (no loop can run past twice the bound: a proof) or a counterexample settles it.
        return Verification(method, "unknown", None, spent + final.solver_s, None, doubt.reason)
    return dataclasses.replace(final, solver_s=final.solver_s + spent)


def _frame_lockstep(ma: Module, mb: Module, fa: int, fb: int, original: bytes, variant: bytes, solver: str,
                    timeout_s: float) -> LockstepProof | None:
    """The lockstep check with the stack frames related (`jeet.prove.frame`), when the variant may differ
    from the original in its frame and in dropping the stack pointer the original restores."""
    scratch = abi.scratch(ma, fa)
    if scratch is None or _context_difference(ma, mb, frozenset({scratch.sp_global})) is not None:
        return None
    return frame_lockstep(ma, mb, fa, fb, original, variant, solver=solver, timeout_s=timeout_s)


def _via(mb: Module, fb: int, variant: bytes, via: Sequence[tuple[bytes, Verification]], solver: str,
         timeout_s: float) -> tuple[LockstepProof | None, Verification | None]:
    """`via` compared with the variant in lockstep, newest first: (a lockstep answer, "differs" if any
    was; the inherited verification of the first one shown equal, if any)."""
    first = None
    for wasm, answer in via:
        try:
            mr = decode(bytes(wasm))
        except WasmError:
            continue
        steps = lockstep(mr, mb, fb, fb, bytes(wasm), variant, solver=solver, timeout_s=timeout_s)
        if steps is None:
            continue
        if steps.result == "proved":
            reason = f"equal in lockstep to an adopted variant that is {answer.result}: {answer.reason}"
            return steps, dataclasses.replace(answer, method=f"{answer.method}+lockstep", reason=reason,
                                              solver_s=steps.solver_s, counterexample=None)
        first = steps if first is None or steps.result == "differs" else first
    return first, None


def _attempt(ma: Module, mb: Module, fa: int, fb: int, method: str, bound: int, timeout_s: float, solver: str,
             max_depth: int, sandbox: Sandbox | None, quick: bool = False, settle: bool = False) -> Verification:
    """One translation at one unrolling bound and its queries; `quick` only looks for a counterexample;
    `settle` asks nothing when some input plainly runs a loop past the bound (such an unrolling cannot
    settle a lockstep difference, and on a buffer loop it would spend the whole check's time)."""
    try:
        b, inputs, oa, region = _translate_original(ma, fa, bound, max_depth)
        ob = translate(b, mb, fb, inputs, bound=bound, max_depth=max_depth)
    except Unprovable as exc:
        return _unknown(method, exc.reason)
    except (RecursionError, MemoryError) as exc:
        return _unknown(method, f"the formula is too large ({type(exc).__name__})")
    try:
        if settle and _exceeds_somewhere(b, ma, inputs, b.or_(oa.exceeded, ob.exceeded)):
            return _unknown(method, f"some input runs a loop past {bound} iterations")
        v = _decide(b, ma, mb, fa, fb, inputs, oa, ob, region, method, bound, timeout_s, solver, sandbox, quick)
    except Exception as exc:  # a solver binding failure must cost one check, not the caller's run
        return _unknown(method, f"internal error: {type(exc).__name__}: {exc}")
    if v.result == "bounded" and (recursive(ma, fa) or recursive(mb, fb)):
        v = dataclasses.replace(v, reason=f"{v.reason} and whose calls nest at most {max_depth} deep")
    return v


def _translate_original(ma: Module, fa: int, bound: int, max_depth: int
                        ) -> tuple[Builder, Inputs, Outcome, tuple[int, int] | None]:
    """The original's outcome, with the stack pointer held at its initial value when the original
    restores it (then every host call starts there) and the scratch region below it; otherwise
    with every global symbolic and no scratch region."""
    sp = abi.stack_pointer(ma)
    if sp is not None:
        init = ma.globals[sp - ma.num_imported_globals].init.instrs[0].imm[0] & 0xFFFFFFFF
        b = Builder()
        inputs = make_inputs(b, ma, fa, {sp: init})
        oa = translate(b, ma, fa, inputs, bound=bound, max_depth=max_depth)
        if oa.globals[sp] is b.const(init, 32):
            scratch = abi.scratch(ma, fa)
            return b, inputs, oa, (scratch.region if scratch is not None else None)
    b = Builder()
    inputs = make_inputs(b, ma, fa)
    return b, inputs, translate(b, ma, fa, inputs, bound=bound, max_depth=max_depth), None


def _candidate_difference(b: Builder, inputs: Inputs, oa: Outcome, ob: Outcome, parts: list[Term], within: Term,
                          at_init: list[Term], witness: Term) -> tuple[ConcreteModel, bool] | None:
    """A difference on inputs the code itself compares against (see `jeet.prove.candidates`)."""
    variables = list(inputs.args) + list(inputs.globals.values())
    defaults = {eq.args[0].p[0]: eq.args[1].p[0] for eq in at_init}
    roots = [oa.trapped, ob.trapped, *oa.results, *ob.results, *oa.globals, *ob.globals]
    array = inputs.memory.p[0] if inputs.memory is not None else None
    for part in parts:
        if _mentions(part, witness):
            continue  # memory differences need an address: the solver's job
        model = search(b.and_(within, part), roots, variables, defaults, array)
        if model is not None:
            return model, all(model.value(eq) for eq in at_init)
    return None


def _mentions(term: Term, leaf: Term) -> bool:
    seen: set[int] = set()
    stack = [term]
    while stack:
        t = stack.pop()
        if t is leaf:
            return True
        if id(t) not in seen:
            seen.add(id(t))
            stack.extend(t.args)
    return False


def _exceeds_somewhere(b: Builder, m: Module, inputs: Inputs, exceeded: Term, tries: int = 24) -> bool:
    """Whether some random input (globals at their initial values) runs a loop past the bound:
    then the answer is `bounded` without asking the solver."""
    rng = random.Random(0x5EED)
    init = {}
    for eq in _at_init(b, m, inputs):
        init[eq.args[0].p[0]] = eq.args[1].p[0]
    for i in range(tries):
        scalars = {v.p[0]: rng.choice((rng.getrandbits(v.w), rng.getrandbits(8), 1 << rng.randrange(v.w)))
                   for v in inputs.args}
        scalars.update({v.p[0]: init.get(v.p[0], 0) for v in inputs.globals.values()})
        seed = rng.getrandbits(32)
        ev = Evaluator(scalars, {"mem0": lambda a, seed=seed: hash((seed, a)) & 0xFF})
        if ev(exceeded):
            return True
    return False


def _at_init(b: Builder, m: Module, inputs: Inputs) -> list[Term]:
    """Assumptions that put every global at the value a fresh instance gives it."""
    out = []
    nimp = m.num_imported_globals
    for i, var in inputs.globals.items():
        if i < nimp:
            out.append(b.eq(var, b.const(0, var.w)))
            continue
        ins = m.globals[i - nimp].init.instrs
        if ins and len(ins) == 2 and ins[0].name in ("i32.const", "i64.const", "f32.const", "f64.const"):
            out.append(b.eq(var, b.const(ins[0].imm[0], var.w)))
    return out


def _decide(b: Builder, ma: Module, mb: Module, fa: int, fb: int, inputs: Inputs, oa: Outcome, ob: Outcome,
            region: tuple[int, int] | None, method: str, bound: int, timeout_s: float, solver: str,
            sandbox: Sandbox | None,
            quick: bool = False) -> Verification:
    ft = ma.func_type(fa)
    witness = b.var("witness", 32)
    parts = _differences(b, oa, ob, ft.results, ma.global_types, region, witness)
    within = b.and_(b.not_(oa.exceeded), b.not_(ob.exceeded))
    s = Portfolio(solver, timeout_s)
    s.add(within)
    at_init = _at_init(b, ma, inputs)
    found = _candidate_difference(b, inputs, oa, ob, parts, within, at_init, witness)
    if found is not None:
        model, globals_at_init = found
        try:
            cex = _counterexample(b, model, ma, mb, fa, fb, inputs, oa, ob, region, witness, globals_at_init,
                                  sandbox)
        except OutsideContract:
            cex = None  # the solver below looks again, and says what it finds
        if cex is not None:
            return Verification("smt:" + solver + "+candidates", "refuted", None, 0.0, cex, "")
    status, open_reason = "unsat", ""
    answered: list[str] = []
    # Globals at their initial values first (a tests file can state such a case), then any globals.
    for assumed in ([at_init, []] if at_init else [[]]):
        globals_at_init = bool(assumed)
        open_reason = ""  # only the last round (any globals) decides between proved and unknown
        for part in parts:
            status = s.check(assumed + [part])
            if status in ("sat", "unsat") and s.name not in answered:
                answered.append(s.name)
            if status == "sat":
                break
            if status == "unknown":
                open_reason = s.last_reason
        if status == "sat":
            break
    if answered:
        method = "smt:" + "+".join(answered)
    if quick and status != "sat":
        return Verification(method, "unknown", None, s.seconds, None, "no counterexample with short loops")
    if status != "sat" and open_reason:
        return Verification(method, "unknown", None, s.seconds, None, open_reason)
    if status == "sat":
        try:
            cex = _counterexample(b, s, ma, mb, fa, fb, inputs, oa, ob, region, witness, globals_at_init, sandbox)
        except OutsideContract as exc:
            return Verification(method, "unknown", None, s.seconds, None, str(exc))
        if cex is None:
            return Verification(method, "unknown", None, s.seconds, None, "counterexample did not replay")
        return Verification(method, "refuted", None, s.seconds, cex, "")
    unchanged = frozenset(i for i, g in enumerate(oa.globals)
                          if g is inputs.fixed.get(i, inputs.globals.get(i)) or not ma.global_types[i].mutable)
    context = _context_difference(ma, mb, unchanged)
    solver_s = s.seconds
    exceeded = b.or_(oa.exceeded, ob.exceeded)
    result, reason, k = "proved", "", None
    if exceeded is not b.false:
        if _exceeds_somewhere(b, ma, inputs, exceeded):
            bounded = "sat"
        else:  # only a proof that no input exceeds the bound makes this `proved`: worth a short query
            s2 = open_solver(solver, min(timeout_s, 2.0))
            s2.add(exceeded)
            bounded = s2.check()
            solver_s += s2.seconds
        if bounded != "unsat":
            result, k = "bounded", bound
            reason = f"equal on every input whose loops run at most {bound} iterations"
    if context is not None:
        return Verification(method, "unknown", None, solver_s, None,
                            f"{context}: equal only from equal initial state ({result})")
    return Verification(method, result, k, solver_s, None, reason)


class OutsideContract(Exception):
    """A difference the solver found needs input bytes in the original's scratch region: memory below the
    stack pointer is the callee's by the ABI (clang's, rustc's), so no caller keeps data there, and the
    held-out cases never put any there either. Such a model refutes nothing."""


def _counterexample(b: Builder, s: Solver | Portfolio | ConcreteModel, ma: Module, mb: Module, fa: int, fb: int,
                    inputs: Inputs,
                    oa: Outcome, ob: Outcome, region: tuple[int, int] | None, witness: Term,
                    globals_at_init: bool, sandbox: Sandbox | None) -> Counterexample | None:
    """Read the inputs out of the model and replay them on both modules; None if no difference shows.
    Raises OutsideContract when the model's input bytes reach into the scratch region."""
    scalars = {v.p[0]: s.value(v) for v in inputs.args}
    scalars.update({v.p[0]: s.value(v) for v in inputs.globals.values()})
    mem0 = inputs.memory
    size = min(oa.memory_size, ob.memory_size)
    readers = {}
    if mem0 is not None:
        readers["mem0"] = lambda a: s.value(b.select(mem0, b.const(a, 32))) if a < size else 0
    ev = Evaluator(scalars, readers)
    for o in (oa, ob):
        ev(o.trapped)
        ev.ints(o.results)
        ev.ints(o.globals)
    watch: set[int] = set()
    if mem0 is not None:
        candidates = [(t, n) for o in (oa, ob) for t, n in o.stores]
        scalars["witness"] = s.value(witness)
        before = dict(ev.initial_reads["mem0"])
        if ev(b.select(oa.memory, witness)) != ev(b.select(ob.memory, witness)):  # type: ignore[arg-type]
            candidates.append((witness, 1))
        else:  # the difference is elsewhere: the witness byte is no input of the case
            ev.initial_reads["mem0"].clear()
            ev.initial_reads["mem0"].update(before)
        for t, n in candidates:
            start = int(ev(t))  # type: ignore[arg-type]
            for a in range(start, start + n):
                if a < size and (region is None or not region[0] <= a < region[1]):
                    watch.add(a)
        reads = ev.initial_reads["mem0"]
        for a in sorted(watch - reads.keys()):
            reads[a] = readers["mem0"](a)
    initial = {a: v for a, v in ev.initial_reads.get("mem0", {}).items() if a < size}
    if region is not None and any(region[0] <= a < region[1] for a in initial):
        raise OutsideContract(f"the only difference found needs the caller's data at [{region[0]}, {region[1]}), "
                              "the free shadow stack the ABI gives the callee's frame; no input outside it was found")
    memory = blocks(initial)
    globals_ = tuple(sorted((i, scalars[v.p[0]]) for i, v in inputs.globals.items()))
    ft = ma.func_type(fa)
    params, results = valtype_names(ft.params), valtype_names(ft.results)
    args = tuple(scalars[v.p[0]] for v in inputs.args)
    watched = ranges(watch)
    own = sandbox is None
    box = sandbox if sandbox is not None else Sandbox()
    try:
        sa = run_side(box, ma, fa, args, globals_, memory, watched)
        sb = run_side(box, mb, fb, args, globals_, memory, watched)
    finally:
        if own:
            box.close()
    if sa is None or sb is None:
        return None
    gtypes = {i: valtype_names((g.type,))[0] for i, g in enumerate(ma.global_types)
              if WIDTH.get(g.type) is not None}
    if not differs(sa, sb, results, gtypes):
        return None
    return Counterexample(params, results, args, memory, globals_, globals_at_init, watched, sa, sb)
