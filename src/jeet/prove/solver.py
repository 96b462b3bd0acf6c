"""The SMT solver behind one small interface: assert, check (with assumptions), read values.

Bitwuzla (the SMT-COMP winner for bit-vectors and arrays) is the default, Z3 the
alternative. Both get jeet's terms (`jeet.prove.terms`) lowered one node at a time, with a
per-query time limit. `check` never raises: a solver error or timeout is "unknown" with
the reason in `last_reason`.
"""

from __future__ import annotations

import time
from typing import Any, Iterable

from ..errors import ProveError
from .terms import ARRAY, BOOL, Term, postorder

SOLVERS = ("bitwuzla", "z3")


class Solver:
    """One incremental query context. Subclasses lower terms and talk to their library."""

    name = ""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.seconds = 0.0            # solver time spent in `check`, summed
        self.last_reason = ""
        self._memo: dict[int, Any] = {}
        self._keep: list[Term] = []

    def lower(self, term: Term) -> Any:
        """The solver's term for `term` (iterative: the DAGs of unrolled loops are deep)."""
        memo = self._memo
        return postorder(term, memo, self._keep, lambda t: self._node(t, [memo[id(a)] for a in t.args]))

    def add(self, formula: Term) -> None:
        assert formula.w == BOOL
        self._assert(self.lower(formula))

    def check(self, assumptions: Iterable[Term] = ()) -> str:
        """"sat", "unsat" or "unknown" (timeout, resource limit, solver error)."""
        t0 = time.perf_counter()
        try:
            lowered = [self.lower(a) for a in assumptions]
            return self._check(lowered)
        except Exception as exc:  # a solver failure costs one check, never the caller
            self.last_reason = f"{self.name} failed: {type(exc).__name__}: {exc}"
            return "unknown"
        finally:
            self.seconds += time.perf_counter() - t0

    def value(self, term: Term) -> int:
        """The model's value of a bit-vector or Boolean term after a "sat" check."""
        return self._value(self.lower(term), term.w)

    # the backend's part
    def _node(self, t: Term, args: list) -> Any: raise NotImplementedError
    def _assert(self, f: Any) -> None: raise NotImplementedError
    def _check(self, assumptions: list) -> str: raise NotImplementedError
    def _value(self, t: Any, w: int) -> int: raise NotImplementedError


class BitwuzlaSolver(Solver):
    name = "bitwuzla"

    def __init__(self, timeout_s: float, local_search: bool = False) -> None:
        super().__init__(timeout_s)
        import bitwuzla as bw

        self.bw = bw
        self.tm = bw.TermManager()
        opts = bw.Options()
        opts.set(bw.Option.PRODUCE_MODELS, True)
        opts.set(bw.Option.TIME_LIMIT_PER, max(1, int(timeout_s * 1000)))
        if local_search:  # propagation-based local search: finds models fast, never proves unsat
            opts.set(bw.Option.BV_SOLVER, "preprop")
        self.s = bw.Bitwuzla(self.tm, opts)
        K = bw.Kind
        self._kinds = {
            "add": K.BV_ADD, "sub": K.BV_SUB, "mul": K.BV_MUL, "udiv": K.BV_UDIV, "urem": K.BV_UREM,
            "sdiv": K.BV_SDIV, "srem": K.BV_SREM, "and": K.BV_AND, "or": K.BV_OR, "xor": K.BV_XOR,
            "not": K.BV_NOT, "neg": K.BV_NEG, "shl": K.BV_SHL, "lshr": K.BV_SHR, "ashr": K.BV_ASHR,
            "concat": K.BV_CONCAT, "extract": K.BV_EXTRACT, "zext": K.BV_ZERO_EXTEND,
            "sext": K.BV_SIGN_EXTEND, "eq": K.EQUAL, "ult": K.BV_ULT, "ule": K.BV_ULE, "slt": K.BV_SLT,
            "sle": K.BV_SLE, "band": K.AND, "bor": K.OR, "bnot": K.NOT, "ite": K.ITE,
            "select": K.ARRAY_SELECT, "store": K.ARRAY_STORE,
        }
        self._sorts: dict[int, Any] = {}

    def _sort(self, w: int) -> Any:
        s = self._sorts.get(w)
        if s is None:
            tm = self.tm
            if w == BOOL:
                s = tm.mk_bool_sort()
            elif w == ARRAY:
                s = tm.mk_array_sort(tm.mk_bv_sort(32), tm.mk_bv_sort(8))
            else:
                s = tm.mk_bv_sort(w)
            self._sorts[w] = s
        return s

    def _node(self, t: Term, args: list) -> Any:
        tm = self.tm
        if t.op == "const":
            if t.w == BOOL:
                return tm.mk_true() if t.p[0] else tm.mk_false()
            return tm.mk_bv_value(self._sort(t.w), t.p[0])
        if t.op in ("var", "avar"):
            return tm.mk_const(self._sort(t.w), t.p[0])
        return tm.mk_term(self._kinds[t.op], args, list(t.p))

    def _assert(self, f: Any) -> None:
        self.s.assert_formula(f)

    def _check(self, assumptions: list) -> str:
        r = self.s.check_sat(*assumptions)
        if r == self.bw.Result.SAT:
            return "sat"
        if r == self.bw.Result.UNSAT:
            return "unsat"
        self.last_reason = f"bitwuzla: no answer within {self.timeout_s:g} s"
        return "unknown"

    def _value(self, t: Any, w: int) -> int:
        v = self.s.get_value(t).value(10) if w != BOOL else self.s.get_value(t).value()
        return int(v) if not isinstance(v, bool) else int(v)


class Z3Solver(Solver):
    name = "z3"

    def __init__(self, timeout_s: float) -> None:
        super().__init__(timeout_s)
        import z3

        self.z3 = z3
        self.ctx = z3.Context()
        self.s = z3.SolverFor("QF_ABV", ctx=self.ctx)
        self.s.set("timeout", max(1, int(timeout_s * 1000)))
        self._model = None

    def _node(self, t: Term, args: list) -> Any:
        z3, ctx = self.z3, self.ctx
        op = t.op
        if op == "const":
            return z3.BoolVal(bool(t.p[0]), ctx) if t.w == BOOL else z3.BitVecVal(t.p[0], t.w, ctx)
        if op == "var":
            return z3.Bool(t.p[0], ctx) if t.w == BOOL else z3.BitVec(t.p[0], t.w, ctx)
        if op == "avar":
            return z3.Array(t.p[0], z3.BitVecSort(32, ctx), z3.BitVecSort(8, ctx))
        a = args
        table = {
            "add": lambda: a[0] + a[1], "sub": lambda: a[0] - a[1], "mul": lambda: a[0] * a[1],
            "udiv": lambda: z3.UDiv(a[0], a[1]), "urem": lambda: z3.URem(a[0], a[1]),
            "sdiv": lambda: a[0] / a[1], "srem": lambda: z3.SRem(a[0], a[1]),
            "and": lambda: a[0] & a[1], "or": lambda: a[0] | a[1], "xor": lambda: a[0] ^ a[1],
            "not": lambda: ~a[0], "neg": lambda: -a[0], "shl": lambda: a[0] << a[1],
            "lshr": lambda: z3.LShR(a[0], a[1]), "ashr": lambda: a[0] >> a[1],
            "concat": lambda: z3.Concat(a[0], a[1]), "extract": lambda: z3.Extract(t.p[0], t.p[1], a[0]),
            "zext": lambda: z3.ZeroExt(t.p[0], a[0]), "sext": lambda: z3.SignExt(t.p[0], a[0]),
            "eq": lambda: a[0] == a[1], "ult": lambda: z3.ULT(a[0], a[1]), "ule": lambda: z3.ULE(a[0], a[1]),
            "slt": lambda: a[0] < a[1], "sle": lambda: a[0] <= a[1], "band": lambda: z3.And(*a),
            "bor": lambda: z3.Or(*a), "bnot": lambda: z3.Not(a[0]), "ite": lambda: z3.If(a[0], a[1], a[2]),
            "select": lambda: z3.Select(a[0], a[1]), "store": lambda: z3.Store(a[0], a[1], a[2]),
        }
        return table[op]()

    def _assert(self, f: Any) -> None:
        self.s.add(f)

    def _check(self, assumptions: list) -> str:
        r = self.s.check(*assumptions)
        if r == self.z3.sat:
            self._model = self.s.model()
            return "sat"
        if r == self.z3.unsat:
            return "unsat"
        self.last_reason = f"z3: {self.s.reason_unknown() or 'unknown'} (limit {self.timeout_s:g} s)"
        return "unknown"

    def _value(self, t: Any, w: int) -> int:
        v = self._model.eval(t, model_completion=True)  # type: ignore[union-attr]
        return int(self.z3.is_true(v)) if w == BOOL else v.as_long()


class Portfolio:
    """The chosen solver, with a short slice first; when that is not enough, local search and the other
    solver get short slices (they often find a counterexample the first cannot), then the chosen solver
    gets the full limit. Each check asserts its extra conditions into fresh contexts (assumptions would
    hide them from the solvers' preprocessing). Same interface as `Solver`; `name` is the one that answered."""

    def __init__(self, primary: str, timeout_s: float) -> None:
        other = "z3" if primary == "bitwuzla" else "bitwuzla"
        if timeout_s <= 1.0:
            self.stages = [(primary, False, timeout_s)]
        else:
            self.stages = [(primary, False, 0.5), ("bitwuzla", True, 1.0), (other, False, 1.5),
                           (primary, False, timeout_s)]
        self.name = primary
        self.seconds = 0.0
        self.last_reason = ""
        self._formulas: list[Term] = []
        self._answered: Solver | None = None

    def add(self, formula: Term) -> None:
        self._formulas.append(formula)

    def check(self, extra: Iterable[Term] = ()) -> str:
        """Whether the added formulas and `extra` hold together."""
        extra = list(extra)
        for name, local, limit in self.stages:
            s = BitwuzlaSolver(limit, local_search=True) if local else open_solver(name, limit)
            try:
                for f in self._formulas + extra:
                    s.add(f)
            except Exception as exc:  # a binding that refuses a term costs this stage only
                self.last_reason = f"{name} failed: {type(exc).__name__}: {exc}"
                continue
            status = s.check()
            self.seconds += s.seconds
            if status == "sat" or (status == "unsat" and not local):
                self._answered, self.name = s, name
                return status
            self.last_reason = s.last_reason
        return "unknown"

    def value(self, term: Term) -> int:
        assert self._answered is not None
        return self._answered.value(term)


def open_solver(name: str, timeout_s: float) -> Solver:
    """A fresh solver context by name; ProveError for a name jeet does not know."""
    if name == "bitwuzla":
        return BitwuzlaSolver(timeout_s)
    if name == "z3":
        return Z3Solver(timeout_s)
    raise ProveError(f"unknown solver {name!r} (choose from {', '.join(SOLVERS)})")
