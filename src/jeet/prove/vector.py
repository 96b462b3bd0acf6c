"""WebAssembly's integer SIMD instructions (v128) as terms, one small rule per instruction.

A vector is one 128-bit bit-vector whose lane i of width w sits in bits [i*w, (i+1)*w), as its bytes
sit in memory (little endian), so `v128.load` and `v128.store` are plain 16-byte accesses
(`jeet.prove.memory`). `VECTOR[name](b, imm, *operands) -> Term`, operands bottom to top; none of
these instructions traps. `VECTOR_LOADS[name] = (bytes read, widen)`: the loads that read fewer bytes
and widen them (extending, splatting, zero-filling). Float lanes are not here: their arithmetic is
tested, not proved, as for scalars; nor are lane loads and stores (`v128.load8_lane`, ...).
"""

from __future__ import annotations

from functools import partial
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
    low, high = b.const(lo & ((1 << x.w) - 1), x.w), b.const(hi, x.w)
    x = b.ite(b.cmp("slt", x, low), low, x)
    x = b.ite(b.cmp("slt", high, x), high, x)
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
_HALF = {16: "i8x16", 32: "i16x8", 64: "i32x4"}  # the shape a lane width widens from


# -- one lane: (b, x[, y]) -> lane, its width x.w -------------------------------------------------------

def _op(kind: str, b: Builder, x: Term, y: Term) -> Term:
    return b.bin(kind, x, y)


def _compare(rel: str, b: Builder, x: Term, y: Term) -> Term:
    return _mask(b, _RELATIONS[rel](b, x, y), x.w)


def _neg(b: Builder, x: Term) -> Term:
    return b.bin("sub", b.const(0, x.w), x)


def _abs(b: Builder, x: Term) -> Term:
    return b.ite(b.cmp("slt", x, b.const(0, x.w)), _neg(b, x), x)


def _pick(rel: str, smaller: bool, b: Builder, x: Term, y: Term) -> Term:
    """min (`smaller`) or max of x and y by the comparison `rel`."""
    below = b.cmp(rel, x, y)
    return b.ite(below, x, y) if smaller else b.ite(below, y, x)


def _saturating(kind: str, signed: bool, b: Builder, x: Term, y: Term) -> Term:
    """x + y or x - y, computed wide enough not to wrap, clamped to the lane's range."""
    w = x.w
    if signed:
        exact = b.bin(kind, b.sext(x, w + 1), b.sext(y, w + 1))
        return _clamp(b, exact, -(1 << (w - 1)), (1 << (w - 1)) - 1, w)
    exact = b.bin(kind, b.zext(x, w + 2), b.zext(y, w + 2))  # signed in w + 2 bits: a difference may be < 0
    return _clamp(b, exact, 0, (1 << w) - 1, w)


def _avgr_u(b: Builder, x: Term, y: Term) -> Term:
    """(x + y + 1) / 2, rounding up, without overflow."""
    one = b.const(1, x.w + 1)
    total = b.bin("add", b.bin("add", b.zext(x, x.w + 1), b.zext(y, x.w + 1)), one)
    return b.extract(b.bin("lshr", total, one), x.w - 1, 0)


def _q15mulr(b: Builder, x: Term, y: Term) -> Term:
    """(x * y + 0x4000) >> 15, signed, saturated to 16 bits."""
    product = b.bin("add", b.bin("mul", b.sext(x, 34), b.sext(y, 34)), b.const(0x4000, 34))
    return _clamp(b, b.bin("ashr", product, b.const(15, 34)), -0x8000, 0x7FFF, 16)


# -- whole vectors: (shape parameters..., b, imm, *operands) -> term, bound with `partial` ---------------

def _splat(w: int, b: Builder, imm: tuple, x: Term) -> Term:
    return pack(b, [b.extract(x, w - 1, 0)] * (128 // w))


def _extract(w: int, signed: bool, b: Builder, imm: tuple, v: Term) -> Term:
    lane = lanes(b, v, w)[imm[0]]
    return lane if w >= 32 else _ext(b, lane, 32, signed)


def _replace(w: int, b: Builder, imm: tuple, v: Term, x: Term) -> Term:
    return pack(b, [b.extract(x, w - 1, 0) if i == imm[0] else y for i, y in enumerate(lanes(b, v, w))])


def _all_true(w: int, b: Builder, imm: tuple, v: Term) -> Term:
    return b.bv(b.and_(*(b.truth(x) for x in lanes(b, v, w))), 32)


def _bitmask(w: int, b: Builder, imm: tuple, v: Term) -> Term:
    """Bit i of the i32 is lane i's sign bit."""
    return b.zext(pack(b, [b.extract(x, w - 1, w - 1) for x in lanes(b, v, w)]), 32)


def _shift(op: str, w: int, b: Builder, imm: tuple, v: Term, n: Term) -> Term:
    """Every lane shifted by the i32 count n modulo the lane width."""
    count = b.bin("and", n, b.const(w - 1, 32))
    count = b.extract(count, w - 1, 0) if w < 32 else b.zext(count, w)
    return pack(b, [b.bin(op, x, count) for x in lanes(b, v, w)])


def _extend(w: int, signed: bool, high: bool, b: Builder, imm: tuple, v: Term) -> Term:
    """The low or high half's lanes of width w / 2, extended to w."""
    n = 128 // w
    half = lanes(b, v, w // 2)
    return pack(b, [_ext(b, x, w, signed) for x in (half[n:] if high else half[:n])])


def _extmul(w: int, signed: bool, high: bool, b: Builder, imm: tuple, x: Term, y: Term) -> Term:
    return _lanewise(w, partial(_op, "mul"))(b, imm, _extend(w, signed, high, b, imm, x),
                                            _extend(w, signed, high, b, imm, y))


def _extadd_pairwise(w: int, signed: bool, b: Builder, imm: tuple, v: Term) -> Term:
    half = [_ext(b, x, w, signed) for x in lanes(b, v, w // 2)]
    return pack(b, [b.bin("add", p, q) for p, q in zip(half[0::2], half[1::2])])


def _narrow(w: int, signed: bool, b: Builder, imm: tuple, x: Term, y: Term) -> Term:
    """Signed lanes of width w from x then y, saturated to w / 2 bits (signed or unsigned)."""
    h = w // 2
    lo, hi = (-(1 << (h - 1)), (1 << (h - 1)) - 1) if signed else (0, (1 << h) - 1)
    return pack(b, [_clamp(b, z, lo, hi, h) for z in lanes(b, x, w) + lanes(b, y, w)])


def _dot(b: Builder, imm: tuple, x: Term, y: Term) -> Term:
    """i32x4.dot_i16x8_s: lane i is x[2i] * y[2i] + x[2i+1] * y[2i+1], signed, wrapping."""
    products = [b.bin("mul", b.sext(p, 32), b.sext(q, 32)) for p, q in zip(lanes(b, x, 16), lanes(b, y, 16))]
    return pack(b, [b.bin("add", p, q) for p, q in zip(products[0::2], products[1::2])])


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


def _shuffle(b: Builder, imm: tuple, x: Term, y: Term) -> Term:
    both = lanes(b, x, 8) + lanes(b, y, 8)
    return pack(b, [both[k] for k in imm[0]])


def _define() -> None:
    V = VECTOR
    V["v128.const"] = lambda b, imm: b.const(imm[0], 128)
    V["v128.not"] = lambda b, imm, x: b.bvnot(x)
    for kind in ("and", "or", "xor"):
        V[f"v128.{kind}"] = partial(lambda kind, b, imm, x, y: b.bin(kind, x, y), kind)
    V["v128.andnot"] = lambda b, imm, x, y: b.bin("and", x, b.bvnot(y))
    V["v128.bitselect"] = lambda b, imm, x, y, c: b.bin("or", b.bin("and", x, c), b.bin("and", y, b.bvnot(c)))
    V["v128.any_true"] = lambda b, imm, x: b.bv(b.truth(x), 32)
    V["i8x16.shuffle"] = _shuffle
    V["i8x16.swizzle"] = _swizzle
    V["i8x16.popcnt"] = _lanewise(8, popcnt)
    V["i32x4.dot_i16x8_s"] = _dot
    V["i16x8.q15mulr_sat_s"] = _lanewise(16, _q15mulr)
    for shape, w in SHAPES.items():
        V[f"{shape}.splat"] = partial(_splat, w)
        for suffix, signed in ((("_s", True), ("_u", False)) if w < 32 else (("", False),)):
            V[f"{shape}.extract_lane{suffix}"] = partial(_extract, w, signed)
        V[f"{shape}.replace_lane"] = partial(_replace, w)
        for rel in ("eq", "ne", "lt_s", "gt_s", "le_s", "ge_s") if w == 64 else _RELATIONS:
            V[f"{shape}.{rel}"] = _lanewise(w, partial(_compare, rel))
        V[f"{shape}.abs"] = _lanewise(w, _abs)
        V[f"{shape}.neg"] = _lanewise(w, _neg)
        V[f"{shape}.all_true"] = partial(_all_true, w)
        V[f"{shape}.bitmask"] = partial(_bitmask, w)
        for kind, op in (("shl", "shl"), ("shr_s", "ashr"), ("shr_u", "lshr")):
            V[f"{shape}.{kind}"] = partial(_shift, op, w)
        for kind in ("add", "sub") + (("mul",) if w >= 16 else ()):
            V[f"{shape}.{kind}"] = _lanewise(w, partial(_op, kind))
        if w <= 32:
            for kind, rel in (("min_s", "slt"), ("min_u", "ult"), ("max_s", "slt"), ("max_u", "ult")):
                V[f"{shape}.{kind}"] = _lanewise(w, partial(_pick, rel, kind.startswith("min")))
        if w <= 16:
            V[f"{shape}.avgr_u"] = _lanewise(w, _avgr_u)
            for kind in ("add", "sub"):
                V[f"{shape}.{kind}_sat_s"] = _lanewise(w, partial(_saturating, kind, True))
                V[f"{shape}.{kind}_sat_u"] = _lanewise(w, partial(_saturating, kind, False))
        if w >= 16:  # from (or, narrowing, to) the half-width shape
            half = _HALF[w]
            for suffix, signed in (("s", True), ("u", False)):
                for part, high in (("low", False), ("high", True)):
                    V[f"{shape}.extend_{part}_{half}_{suffix}"] = partial(_extend, w, signed, high)
                    V[f"{shape}.extmul_{part}_{half}_{suffix}"] = partial(_extmul, w, signed, high)
                if w <= 32:
                    V[f"{shape}.extadd_pairwise_{half}_{suffix}"] = partial(_extadd_pairwise, w, signed)
                    V[f"{half}.narrow_{shape}_{suffix}"] = partial(_narrow, w, signed)


def _widen(h: int, signed: bool, b: Builder, raw: Term) -> Term:
    """The 64 bits read, as lanes of width h extended to 2h."""
    return pack(b, [_ext(b, x, 2 * h, signed) for x in lanes(b, raw, h)])


def _loads() -> None:
    L = VECTOR_LOADS
    L["v128.load32_zero"] = (4, lambda b, raw: b.zext(raw, 128))
    L["v128.load64_zero"] = (8, lambda b, raw: b.zext(raw, 128))
    for w in (8, 16, 32, 64):
        L[f"v128.load{w}_splat"] = (w // 8, lambda b, raw: pack(b, [raw] * (128 // raw.w)))
    for h in (8, 16, 32):
        for suffix, signed in (("s", True), ("u", False)):
            L[f"v128.load{h}x{64 // h}_{suffix}"] = (8, partial(_widen, h, signed))


_define()
_loads()
