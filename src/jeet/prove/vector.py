"""WebAssembly's integer SIMD instructions (v128) as terms, one small rule per instruction.

A vector is one 128-bit bit-vector whose lane i of width w sits in bits [i*w, (i+1)*w), as its bytes
sit in memory (little endian), so `v128.load` and `v128.store` are plain 16-byte accesses
(`jeet.prove.memory`). `VECTOR[name](b, imm, *operands) -> Term`, operands bottom to top; none of
these instructions traps. `VECTOR_LOADS[name] = (bytes read, widen)`: the loads that read fewer bytes
and widen them (extending, splatting, zero-filling). Float lanes are not here: their arithmetic is
tested, not proved, as for scalars; nor are lane loads and stores (`v128.load8_lane`, ...).
"""

from __future__ import annotations

from typing import Callable

from .numeric import popcnt
from .terms import Builder, Term

VectorRule = Callable[..., Term]
VECTOR: dict[str, VectorRule] = {}
VECTOR_LOADS: dict[str, tuple[int, Callable[[Builder, Term], Term]]] = {}
SHAPES = {"i8x16": 8, "i16x8": 16, "i32x4": 32, "i64x2": 64}


def lanes(b: Builder, v: Term, w: int) -> list[Term]:
    """The lanes of width w, lane 0 first."""
    return [b.extract(v, i * w + w - 1, i * w) for i in range(v.w // w)]


def pack(b: Builder, xs: list[Term]) -> Term:
    """Lanes (lane 0 first) as one vector."""
    out = xs[-1]
    for x in reversed(xs[:-1]):
        out = b.concat(out, x)
    return out


def _lanewise(w: int, f: Callable[..., Term]) -> VectorRule:
    def rule(b: Builder, imm: tuple, *vs: Term) -> Term:
        return pack(b, [f(b, *xs) for xs in zip(*(lanes(b, v, w) for v in vs))])
    return rule


def _mask(b: Builder, c: Term, w: int) -> Term:
    """A lane of all ones where c holds, else zero (how comparisons answer)."""
    return b.ite(c, b.const((1 << w) - 1, w), b.const(0, w))


def _clamp(b: Builder, x: Term, lo: int, hi: int, w: int) -> Term:
    """Signed x clamped to [lo, hi], truncated to w bits."""
    c = b.const
    x = b.ite(b.cmp("slt", x, c(lo & ((1 << x.w) - 1), x.w)), c(lo & ((1 << x.w) - 1), x.w), x)
    x = b.ite(b.cmp("slt", c(hi, x.w), x), c(hi, x.w), x)
    return b.extract(x, w - 1, 0)


def _ext(b: Builder, x: Term, w: int, signed: bool) -> Term:
    return b.sext(x, w) if signed else b.zext(x, w)


_RELATIONS: dict[str, Callable[[Builder, Term, Term], Term]] = {
    "eq": lambda b, x, y: b.eq(x, y), "ne": lambda b, x, y: b.ne(x, y),
    "lt_s": lambda b, x, y: b.cmp("slt", x, y), "lt_u": lambda b, x, y: b.cmp("ult", x, y),
    "gt_s": lambda b, x, y: b.cmp("slt", y, x), "gt_u": lambda b, x, y: b.cmp("ult", y, x),
    "le_s": lambda b, x, y: b.cmp("sle", x, y), "le_u": lambda b, x, y: b.cmp("ule", x, y),
    "ge_s": lambda b, x, y: b.cmp("sle", y, x), "ge_u": lambda b, x, y: b.cmp("ule", y, x),
}


def _define() -> None:
    V = VECTOR
    V["v128.const"] = lambda b, imm: b.const(imm[0], 128)
    V["v128.not"] = lambda b, imm, x: b.bvnot(x)
    V["v128.and"] = lambda b, imm, x, y: b.bin("and", x, y)
    V["v128.andnot"] = lambda b, imm, x, y: b.bin("and", x, b.bvnot(y))
    V["v128.or"] = lambda b, imm, x, y: b.bin("or", x, y)
    V["v128.xor"] = lambda b, imm, x, y: b.bin("xor", x, y)
    V["v128.bitselect"] = lambda b, imm, x, y, c: b.bin("or", b.bin("and", x, c), b.bin("and", y, b.bvnot(c)))
    V["v128.any_true"] = lambda b, imm, x: b.bv(b.truth(x), 32)
    V["i8x16.shuffle"] = lambda b, imm, x, y: pack(b, [(lanes(b, x, 8) + lanes(b, y, 8))[k] for k in imm[0]])
    V["i8x16.swizzle"] = _swizzle
    V["i8x16.popcnt"] = _lanewise(8, popcnt)
    for shape, w in SHAPES.items():
        V[f"{shape}.splat"] = (lambda w: lambda b, imm, x: pack(b, [b.extract(x, w - 1, 0)] * (128 // w)))(w)
        if w < 32:
            for suffix, signed in (("_s", True), ("_u", False)):
                V[f"{shape}.extract_lane{suffix}"] = (
                    lambda w, signed: lambda b, imm, v: _ext(b, lanes(b, v, w)[imm[0]], 32, signed))(w, signed)
        else:
            V[f"{shape}.extract_lane"] = (lambda w: lambda b, imm, v: lanes(b, v, w)[imm[0]])(w)
        V[f"{shape}.replace_lane"] = (lambda w: lambda b, imm, v, x: pack(
            b, [b.extract(x, w - 1, 0) if i == imm[0] else y for i, y in enumerate(lanes(b, v, w))]))(w)
        relations = ("eq", "ne", "lt_s", "gt_s", "le_s", "ge_s") if w == 64 else tuple(_RELATIONS)
        for rel in relations:
            V[f"{shape}.{rel}"] = _lanewise(w, _compare(_RELATIONS[rel]))
        V[f"{shape}.abs"] = _lanewise(w, _abs)
        V[f"{shape}.neg"] = _lanewise(w, lambda b, x: b.bin("sub", b.const(0, x.w), x))
        V[f"{shape}.all_true"] = (lambda w: lambda b, imm, v: b.bv(
            b.and_(*(b.truth(x) for x in lanes(b, v, w))), 32))(w)
        V[f"{shape}.bitmask"] = (lambda w: lambda b, imm, v: b.zext(
            pack(b, [b.extract(x, w - 1, w - 1) for x in lanes(b, v, w)]), 32))(w)
        for kind, op in (("shl", "shl"), ("shr_s", "ashr"), ("shr_u", "lshr")):
            V[f"{shape}.{kind}"] = (lambda w, op: lambda b, imm, v, n: _shift(b, v, n, w, op))(w, op)
        for kind in ("add", "sub"):
            V[f"{shape}.{kind}"] = _lanewise(w, (lambda kind: lambda b, x, y: b.bin(kind, x, y))(kind))
        if w >= 16:
            V[f"{shape}.mul"] = _lanewise(w, lambda b, x, y: b.bin("mul", x, y))
        if w <= 32:
            for kind, rel in (("min_s", "slt"), ("min_u", "ult"), ("max_s", "slt"), ("max_u", "ult")):
                first = kind.startswith("min")
                V[f"{shape}.{kind}"] = _lanewise(w, (lambda rel, first: lambda b, x, y: b.ite(
                    b.cmp(rel, x, y), x if first else y, y if first else x))(rel, first))
        if w <= 16:
            V[f"{shape}.avgr_u"] = _lanewise(w, _avgr_u)
            for kind in ("add", "sub"):
                V[f"{shape}.{kind}_sat_s"] = _lanewise(w, (lambda kind, w: lambda b, x, y: _clamp(
                    b, b.bin(kind, b.sext(x, w + 1), b.sext(y, w + 1)), -(1 << (w - 1)), (1 << (w - 1)) - 1, w)
                )(kind, w))
                V[f"{shape}.{kind}_sat_u"] = _lanewise(w, (lambda kind, w: lambda b, x, y: _clamp(
                    b, b.bin(kind, b.zext(x, w + 2), b.zext(y, w + 2)), 0, (1 << w) - 1, w))(kind, w))
        if w >= 16:  # ops that widen from (or narrow to) the half-width shape
            half = {16: "i8x16", 32: "i16x8", 64: "i32x4"}[w]
            h = w // 2
            for suffix, signed in (("s", True), ("u", False)):
                V[f"{shape}.extend_low_{half}_{suffix}"] = (lambda h, w, signed: lambda b, imm, v: pack(
                    b, [_ext(b, x, w, signed) for x in lanes(b, v, h)[:128 // w]]))(h, w, signed)
                V[f"{shape}.extend_high_{half}_{suffix}"] = (lambda h, w, signed: lambda b, imm, v: pack(
                    b, [_ext(b, x, w, signed) for x in lanes(b, v, h)[128 // w:]]))(h, w, signed)
                for part, sl in (("low", slice(0, 128 // w)), ("high", slice(128 // w, None))):
                    V[f"{shape}.extmul_{part}_{half}_{suffix}"] = (lambda h, w, signed, sl: lambda b, imm, x, y: pack(
                        b, [b.bin("mul", _ext(b, p, w, signed), _ext(b, q, w, signed))
                            for p, q in zip(lanes(b, x, h)[sl], lanes(b, y, h)[sl])]))(h, w, signed, sl)
                if w <= 32:
                    V[f"{shape}.extadd_pairwise_{half}_{suffix}"] = (lambda h, w, signed: lambda b, imm, v: pack(
                        b, [b.bin("add", _ext(b, p, w, signed), _ext(b, q, w, signed))
                            for p, q in zip(lanes(b, v, h)[0::2], lanes(b, v, h)[1::2])]))(h, w, signed)
                    lo, hi = (-(1 << (h - 1)), (1 << (h - 1)) - 1) if signed else (0, (1 << h) - 1)
                    V[f"{half}.narrow_{shape}_{suffix}"] = (lambda w, h, lo, hi: lambda b, imm, x, y: pack(
                        b, [_clamp(b, z, lo, hi, h) for z in lanes(b, x, w) + lanes(b, y, w)]))(w, h, lo, hi)
    V["i32x4.dot_i16x8_s"] = lambda b, imm, x, y: pack(b, [
        b.bin("add", b.bin("mul", b.sext(p0, 32), b.sext(q0, 32)), b.bin("mul", b.sext(p1, 32), b.sext(q1, 32)))
        for p0, p1, q0, q1 in zip(lanes(b, x, 16)[0::2], lanes(b, x, 16)[1::2], lanes(b, y, 16)[0::2],
                                  lanes(b, y, 16)[1::2])])
    V["i16x8.q15mulr_sat_s"] = _lanewise(16, lambda b, x, y: _clamp(b, b.bin("ashr", b.bin(
        "add", b.bin("mul", b.sext(x, 34), b.sext(y, 34)), b.const(0x4000, 34)), b.const(15, 34)), -0x8000, 0x7FFF, 16))


def _compare(relation: Callable[[Builder, Term, Term], Term]) -> Callable[[Builder, Term, Term], Term]:
    return lambda b, x, y: _mask(b, relation(b, x, y), x.w)


def _abs(b: Builder, x: Term) -> Term:
    zero = b.const(0, x.w)
    return b.ite(b.cmp("slt", x, zero), b.bin("sub", zero, x), x)


def _avgr_u(b: Builder, x: Term, y: Term) -> Term:
    """(x + y + 1) / 2, rounding up, without overflow."""
    one = b.const(1, x.w + 1)
    total = b.bin("add", b.bin("add", b.zext(x, x.w + 1), b.zext(y, x.w + 1)), one)
    return b.extract(b.bin("lshr", total, one), x.w - 1, 0)


def _swizzle(b: Builder, imm: tuple, x: Term, s: Term) -> Term:
    """Lane i is x's byte s[i] when s[i] < 16, else 0."""
    src = lanes(b, x, 8)
    out = []
    for k in lanes(b, s, 8):
        byte = b.const(0, 8)
        for j in range(15, -1, -1):
            byte = b.ite(b.eq(k, b.const(j, 8)), src[j], byte)
        out.append(byte)
    return pack(b, out)


def _shift(b: Builder, v: Term, n: Term, w: int, op: str) -> Term:
    """Every lane shifted by the i32 count n modulo the lane width."""
    count = b.bin("and", n, b.const(w - 1, 32))
    count = b.extract(count, w - 1, 0) if w < 32 else b.zext(count, w)
    return pack(b, [b.bin(op, x, count) for x in lanes(b, v, w)])


def _loads() -> None:
    L = VECTOR_LOADS
    L["v128.load32_zero"] = (4, lambda b, raw: b.zext(raw, 128))
    L["v128.load64_zero"] = (8, lambda b, raw: b.zext(raw, 128))
    for w in (8, 16, 32, 64):
        L[f"v128.load{w}_splat"] = (w // 8, lambda b, raw: pack(b, [raw] * (128 // raw.w)))
    for h in (8, 16, 32):
        for suffix, signed in (("s", True), ("u", False)):
            L[f"v128.load{h}x{64 // h}_{suffix}"] = (8, (lambda h, signed: lambda b, raw: pack(
                b, [_ext(b, x, 2 * h, signed) for x in lanes(b, raw, h)]))(h, signed))


_define()
_loads()
