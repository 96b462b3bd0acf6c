"""WebAssembly's integer instructions as terms, one small rule per instruction.

`NUMERIC[name](b, *operands) -> (result, trap)`: `trap` is the condition under which the
instruction traps (None when it never does). Operands come bottom to top, as popped.
Shift and rotate counts are taken modulo the width, as the spec says; comparisons push
an i32 0/1; `div`/`rem` trap on a zero divisor and `div_s` on INT_MIN / -1 (rem_s of
those is 0).
"""

from __future__ import annotations

from typing import Callable

from .terms import Builder, Term

Rule = Callable[..., tuple[Term, Term | None]]
NUMERIC: dict[str, Rule] = {}


def _count_mod(b: Builder, n: Term) -> Term:
    return b.bin("and", n, b.const(n.w - 1, n.w))


def popcnt(b: Builder, x: Term) -> Term:
    """Population count by the parallel bit-sum (a handful of terms, exact for 32 and 64 bits)."""
    w = x.w
    c = b.const
    m1, m2, m4 = (int(pat * (w // len(pat) // 4), 16) for pat in ("5", "3", "0f"))
    x = b.bin("sub", x, b.bin("and", b.bin("lshr", x, c(1, w)), c(m1, w)))
    x = b.bin("add", b.bin("and", x, c(m2, w)), b.bin("and", b.bin("lshr", x, c(2, w)), c(m2, w)))
    x = b.bin("and", b.bin("add", x, b.bin("lshr", x, c(4, w))), c(m4, w))
    h01 = int("01" * (w // 8), 16)
    return b.bin("lshr", b.bin("mul", x, c(h01, w)), c(w - 8, w))


def clz(b: Builder, x: Term) -> Term:
    """Leading zeros by binary search: at each step shift the top half in if it is all zero."""
    w = x.w
    n = b.const(0, w)
    step = w // 2
    while step:
        top_zero = b.eq(b.bin("lshr", x, b.const(w - step, w)), b.const(0, w))
        n = b.ite(top_zero, b.bin("add", n, b.const(step, w)), n)
        x = b.ite(top_zero, b.bin("shl", x, b.const(step, w)), x)
        step //= 2
    # after the search the top bit is set unless x was 0
    return b.ite(b.eq(x, b.const(0, w)), b.const(w, w), n)


def ctz(b: Builder, x: Term) -> Term:
    """Trailing zeros: the mirror of `clz`."""
    w = x.w
    n = b.const(0, w)
    step = w // 2
    while step:
        low_zero = b.eq(b.bin("and", x, b.const((1 << step) - 1, w)), b.const(0, w))
        n = b.ite(low_zero, b.bin("add", n, b.const(step, w)), n)
        x = b.ite(low_zero, b.bin("lshr", x, b.const(step, w)), x)
        step //= 2
    return b.ite(b.eq(x, b.const(0, w)), b.const(w, w), n)


def _rot(b: Builder, x: Term, n: Term, left: bool) -> Term:
    w = x.w
    k = _count_mod(b, n)
    back = _count_mod(b, b.bin("sub", b.const(w, w), k))
    first, second = ("shl", "lshr") if left else ("lshr", "shl")
    return b.bin("or", b.bin(first, x, k), b.bin(second, x, back))


def _div(kind: str) -> Rule:
    def rule(b: Builder, x: Term, y: Term) -> tuple[Term, Term | None]:
        w = x.w
        zero = b.eq(y, b.const(0, w))
        if kind == "div_s":
            overflow = b.and_(b.eq(x, b.const(1 << (w - 1), w)), b.eq(y, b.const(-1, w)))
            return b.bin("sdiv", x, y), b.or_(zero, overflow)
        if kind == "rem_s":
            # INT_MIN rem_s -1 is 0 in wasm; SMT-LIB's bvsrem agrees, so no special case is needed
            return b.bin("srem", x, y), zero
        return b.bin("udiv" if kind == "div_u" else "urem", x, y), zero
    return rule


def _define() -> None:
    for t, w in (("i32", 32), ("i64", 64)):
        plain = {"add": "add", "sub": "sub", "mul": "mul", "and": "and", "or": "or", "xor": "xor"}
        for name, op in plain.items():
            NUMERIC[f"{t}.{name}"] = lambda b, x, y, op=op: (b.bin(op, x, y), None)
        for name, op in (("shl", "shl"), ("shr_s", "ashr"), ("shr_u", "lshr")):
            NUMERIC[f"{t}.{name}"] = lambda b, x, y, op=op: (b.bin(op, x, _count_mod(b, y)), None)
        NUMERIC[f"{t}.rotl"] = lambda b, x, y: (_rot(b, x, y, True), None)
        NUMERIC[f"{t}.rotr"] = lambda b, x, y: (_rot(b, x, y, False), None)
        for kind in ("div_s", "div_u", "rem_s", "rem_u"):
            NUMERIC[f"{t}.{kind}"] = _div(kind)
        NUMERIC[f"{t}.clz"] = lambda b, x: (clz(b, x), None)
        NUMERIC[f"{t}.ctz"] = lambda b, x: (ctz(b, x), None)
        NUMERIC[f"{t}.popcnt"] = lambda b, x: (popcnt(b, x), None)
        NUMERIC[f"{t}.eqz"] = lambda b, x: (b.bv(b.eq(x, b.const(0, x.w)), 32), None)
        for rel, (op, swap, neg) in {
            "eq": ("eq", False, False), "ne": ("eq", False, True),
            "lt_s": ("slt", False, False), "lt_u": ("ult", False, False),
            "gt_s": ("slt", True, False), "gt_u": ("ult", True, False),
            "le_s": ("sle", False, False), "le_u": ("ule", False, False),
            "ge_s": ("sle", True, False), "ge_u": ("ule", True, False),
        }.items():
            def cmp(b: Builder, x: Term, y: Term, op=op, swap=swap, neg=neg) -> tuple[Term, None]:
                c = b.cmp(op, y, x) if swap else b.cmp(op, x, y)
                return b.bv(b.not_(c) if neg else c, 32), None
            NUMERIC[f"{t}.{rel}"] = cmp
        for bits in (8, 16, 32):
            if bits < w:
                NUMERIC[f"{t}.extend{bits}_s"] = (
                    lambda b, x, bits=bits: (b.sext(b.extract(x, bits - 1, 0), x.w), None))
    NUMERIC["i32.wrap_i64"] = lambda b, x: (b.extract(x, 31, 0), None)
    NUMERIC["i64.extend_i32_s"] = lambda b, x: (b.sext(x, 64), None)
    NUMERIC["i64.extend_i32_u"] = lambda b, x: (b.zext(x, 64), None)


_define()
