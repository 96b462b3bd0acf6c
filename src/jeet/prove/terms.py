"""jeet's own small term language: bit-vectors, Booleans and byte arrays, folded as they are built.

The semantics (`jeet.prove.semantics`) builds terms with a `Builder`; a solver backend
(`jeet.prove.solver`) lowers them, and `jeet.prove.evaluate` computes them on concrete
values. Keeping one term language between the two means one meaning per operation: `apply`
below is both the constant folder and the concrete evaluator, and the solver lowering is
tested against it. Division follows SMT-LIB (x/0 = all ones, x%0 = x): WebAssembly's traps
are conditions the semantics states separately.

Sorts: `w > 0` a bit-vector of width w, `w == 0` a Boolean, `w == ARRAY` an array from
32-bit addresses to bytes (linear memory).
"""

from __future__ import annotations

from typing import Callable

ARRAY = -1
BOOL = 0


class Term:
    """One node of a hash-consed DAG; compare terms by identity (`is`)."""

    __slots__ = ("op", "args", "w", "p", "__weakref__")

    def __init__(self, op: str, args: tuple, w: int, p: tuple) -> None:
        self.op = op
        self.args = args
        self.w = w
        self.p = p

    @property
    def is_const(self) -> bool:
        return self.op == "const"

    @property
    def value(self) -> int:
        """The value of a constant term (Booleans are 0 or 1)."""
        assert self.op == "const", self
        return self.p[0]

    def __repr__(self) -> str:
        if self.op == "const":
            return f"{self.p[0]:#x}:{self.w}" if self.w else ("true" if self.p[0] else "false")
        if self.op in ("var", "avar"):
            return str(self.p[0])
        inner = " ".join(repr(a) for a in self.args)
        extra = "".join(f" {x}" for x in self.p)
        return f"({self.op}{extra} {inner})"


def postorder(term: "Term", memo: dict, keep: list, value) -> object:
    """`value(t)` for `term` and every term below it not yet in `memo` (keyed by id), children first.

    Iterative, since the DAGs of unrolled loops are deeper than Python's recursion limit; `keep` holds the
    terms so that their ids stay theirs while `memo` lives.
    """
    if id(term) in memo:
        return memo[id(term)]
    stack = [term]
    while stack:
        t = stack[-1]
        if id(t) in memo:
            stack.pop()
            continue
        pending = [a for a in t.args if id(a) not in memo]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        memo[id(t)] = value(t)
        keep.append(t)
    return memo[id(term)]


def _mask(w: int) -> int:
    return (1 << w) - 1


def _signed(v: int, w: int) -> int:
    return v - (1 << w) if v >> (w - 1) else v


def _sdiv(a: int, b: int, w: int) -> int:
    if b == 0:
        return _mask(w) if _signed(a, w) >= 0 else 1
    x, y = _signed(a, w), _signed(b, w)
    q = abs(x) // abs(y)
    return (q if (x < 0) == (y < 0) else -q) & _mask(w)


def _srem(a: int, b: int, w: int) -> int:
    if b == 0:
        return a
    x, y = _signed(a, w), _signed(b, w)
    r = abs(x) % abs(y)
    return (-r if x < 0 else r) & _mask(w)


# The concrete meaning of every operation: (argument values, argument widths, params, result width) -> value.
_APPLY: dict[str, Callable[[list, list, tuple, int], int]] = {
    "add": lambda v, ws, p, w: (v[0] + v[1]) & _mask(w),
    "sub": lambda v, ws, p, w: (v[0] - v[1]) & _mask(w),
    "mul": lambda v, ws, p, w: (v[0] * v[1]) & _mask(w),
    "udiv": lambda v, ws, p, w: _mask(w) if v[1] == 0 else v[0] // v[1],
    "urem": lambda v, ws, p, w: v[0] if v[1] == 0 else v[0] % v[1],
    "sdiv": lambda v, ws, p, w: _sdiv(v[0], v[1], w),
    "srem": lambda v, ws, p, w: _srem(v[0], v[1], w),
    "and": lambda v, ws, p, w: v[0] & v[1],
    "or": lambda v, ws, p, w: v[0] | v[1],
    "xor": lambda v, ws, p, w: v[0] ^ v[1],
    "not": lambda v, ws, p, w: v[0] ^ _mask(w),
    "neg": lambda v, ws, p, w: -v[0] & _mask(w),
    "shl": lambda v, ws, p, w: (v[0] << v[1]) & _mask(w) if v[1] < w else 0,
    "lshr": lambda v, ws, p, w: v[0] >> v[1] if v[1] < w else 0,
    "ashr": lambda v, ws, p, w: (_signed(v[0], w) >> min(v[1], w - 1)) & _mask(w),
    "concat": lambda v, ws, p, w: (v[0] << ws[1]) | v[1],
    "extract": lambda v, ws, p, w: (v[0] >> p[1]) & _mask(p[0] - p[1] + 1),
    "zext": lambda v, ws, p, w: v[0],
    "sext": lambda v, ws, p, w: _signed(v[0], ws[0]) & _mask(w),
    "eq": lambda v, ws, p, w: int(v[0] == v[1]),
    "ult": lambda v, ws, p, w: int(v[0] < v[1]),
    "ule": lambda v, ws, p, w: int(v[0] <= v[1]),
    "slt": lambda v, ws, p, w: int(_signed(v[0], ws[0]) < _signed(v[1], ws[1])),
    "sle": lambda v, ws, p, w: int(_signed(v[0], ws[0]) <= _signed(v[1], ws[1])),
    "band": lambda v, ws, p, w: int(all(v)),
    "bor": lambda v, ws, p, w: int(any(v)),
    "bnot": lambda v, ws, p, w: 1 - v[0],
    "ite": lambda v, ws, p, w: v[1] if v[0] else v[2],
}

BV_BINARY = ("add", "sub", "mul", "udiv", "urem", "sdiv", "srem", "and", "or", "xor", "shl", "lshr", "ashr")
COMPARISONS = ("eq", "ult", "ule", "slt", "sle")


def apply(op: str, values: list, widths: list, p: tuple, w: int) -> int:
    """The concrete result of `op` (not for arrays: see `jeet.prove.evaluate`)."""
    return _APPLY[op](values, widths, p, w)


class Builder:
    """Makes terms, sharing equal ones and folding constants; one builder per proof (no global state)."""

    def __init__(self) -> None:
        self._table: dict[tuple, Term] = {}
        self.true = self._mk("const", (), BOOL, (1,))
        self.false = self._mk("const", (), BOOL, (0,))

    def _mk(self, op: str, args: tuple, w: int, p: tuple = ()) -> Term:
        key = (op, tuple(id(a) for a in args), w, p)
        t = self._table.get(key)
        if t is None:
            t = self._table[key] = Term(op, args, w, p)
        return t

    def __len__(self) -> int:
        return len(self._table)

    # -- leaves -----------------------------------------------------------------------------

    def const(self, value: int, w: int) -> Term:
        if w == BOOL:
            return self.true if value else self.false
        return self._mk("const", (), w, (value & _mask(w),))

    def var(self, name: str, w: int) -> Term:
        return self._mk("var", (), w, (name,))

    def array(self, name: str) -> Term:
        return self._mk("avar", (), ARRAY, (name,))

    # -- generic construction with folding ------------------------------------------------------

    def op(self, op: str, *args: Term, p: tuple = (), w: int | None = None) -> Term:
        """Build `op` over `args`; constants fold through `apply`."""
        if w is None:
            w = args[0].w
        if all(a.op == "const" for a in args):
            return self.const(apply(op, [a.p[0] for a in args], [a.w for a in args], p, w), w)
        simpler = self._simplify(op, args, w)
        if simpler is not None:
            return simpler
        return self._mk(op, args, w, p)

    def _simplify(self, op: str, args: tuple, w: int) -> Term | None:
        if len(args) != 2:
            return None
        a, b = args
        if op in ("add", "or", "xor", "sub", "shl", "lshr", "ashr") and b.op == "const" and b.p[0] == 0:
            return a
        if op in ("add", "or", "xor") and a.op == "const" and a.p[0] == 0:
            return b
        if op == "and" and ((a.op == "const" and a.p[0] == 0) or (b.op == "const" and b.p[0] == 0)):
            return self.const(0, w)
        if op == "and" and b.op == "const" and b.p[0] == _mask(w):
            return a
        if op == "mul" and b.op == "const" and b.p[0] == 1:
            return a
        if op == "eq" and a is b:
            return self.true
        return None

    # -- bit-vectors ----------------------------------------------------------------------------

    def bin(self, op: str, a: Term, b: Term) -> Term:
        assert a.w == b.w > 0, (op, a.w, b.w)
        return self.op(op, a, b)

    def bvnot(self, a: Term) -> Term:
        return self.op("not", a)

    def extract(self, a: Term, hi: int, lo: int) -> Term:
        if lo == 0 and hi == a.w - 1:
            return a
        if a.op == "concat" and lo >= a.args[1].w:
            low = a.args[1].w
            return self.extract(a.args[0], hi - low, lo - low)
        if a.op == "concat" and hi < a.args[1].w:
            return self.extract(a.args[1], hi, lo)
        if a.op == "zext" and lo >= a.args[0].w:
            return self.const(0, hi - lo + 1)
        if a.op in ("zext", "sext") and hi < a.args[0].w:
            return self.extract(a.args[0], hi, lo)
        return self.op("extract", a, p=(hi, lo), w=hi - lo + 1)

    def concat(self, hi: Term, lo: Term) -> Term:
        return self.op("concat", hi, lo, w=hi.w + lo.w)

    def zext(self, a: Term, w: int) -> Term:
        return a if w == a.w else self.op("zext", a, p=(w - a.w,), w=w)

    def sext(self, a: Term, w: int) -> Term:
        return a if w == a.w else self.op("sext", a, p=(w - a.w,), w=w)

    # -- comparisons and Booleans -----------------------------------------------------------------

    def cmp(self, op: str, a: Term, b: Term) -> Term:
        assert a.w == b.w, (op, a.w, b.w)
        return self.op(op, a, b, w=BOOL)

    def eq(self, a: Term, b: Term) -> Term:
        return self.cmp("eq", a, b)

    def ne(self, a: Term, b: Term) -> Term:
        return self.not_(self.eq(a, b))

    def not_(self, a: Term) -> Term:
        if a.op == "bnot":
            return a.args[0]
        return self.op("bnot", a, w=BOOL)

    def and_(self, *xs: Term) -> Term:
        items = []
        for x in xs:
            if x is self.false:
                return self.false
            if x is not self.true and x not in items:
                items.append(x)
        if not items:
            return self.true
        return items[0] if len(items) == 1 else self._mk("band", tuple(items), BOOL)

    def or_(self, *xs: Term) -> Term:
        items = []
        for x in xs:
            if x is self.true:
                return self.true
            if x is not self.false and x not in items:
                items.append(x)
        if not items:
            return self.false
        return items[0] if len(items) == 1 else self._mk("bor", tuple(items), BOOL)

    def ite(self, c: Term, a: Term, b: Term) -> Term:
        assert c.w == BOOL and a.w == b.w, (c.w, a.w, b.w)
        if c is self.true or a is b:
            return a
        if c is self.false:
            return b
        if a.w == BOOL:
            if a is self.true and b is self.false:
                return c
            if a is self.false and b is self.true:
                return self.not_(c)
        return self._mk("ite", (c, a, b), a.w)

    def truth(self, a: Term) -> Term:
        """A bit-vector as a condition: a != 0."""
        return self.ne(a, self.const(0, a.w))

    def bv(self, c: Term, w: int) -> Term:
        """A condition as a 0/1 bit-vector of width w (how comparisons push their i32)."""
        return self.ite(c, self.const(1, w), self.const(0, w))

    # -- memory -------------------------------------------------------------------------------------

    def select(self, mem: Term, addr: Term) -> Term:
        assert mem.w == ARRAY and addr.w == 32
        # reads through stores to other constant addresses skip them (common: stack frames)
        while mem.op == "store" and addr.op == "const" and mem.args[1].op == "const":
            if mem.args[1].p[0] == addr.p[0]:
                return mem.args[2]
            mem = mem.args[0]
        if mem.op == "store" and mem.args[1] is addr:
            return mem.args[2]
        return self._mk("select", (mem, addr), 8)

    def store(self, mem: Term, addr: Term, byte: Term) -> Term:
        assert mem.w == ARRAY and addr.w == 32 and byte.w == 8
        return self._mk("store", (mem, addr, byte), ARRAY)
