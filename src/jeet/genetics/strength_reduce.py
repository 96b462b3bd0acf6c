"""strength_reduce: multiplication and division by a constant into shifts, masks, adds and multiplies.

    x * 2^k        ->  x << k                 x * (2^k ± 1)  ->  (x << k) ± x
    x /u 2^k       ->  x >>u k                x %u 2^k       ->  x & (2^k - 1)
    x /u d (i32)   ->  wrap((extend_u(x) * m) >>u s)        (the magic-number method, i64 multiply)
    x %u d (i32)   ->  x - (x /u d) * d
    x /s ±2^k      ->  ±((x + ((x >>s W-1) >>u (W-k))) >>s k)     (rounds toward zero)
    x %s ±2^k      ->  x - ((x + ((x >>s W-1) >>u (W-k))) & -2^k)
    x /s d (i32)   ->  wrap((extend_s(x) * m) >>s s) + (x >>u 31)    (negated for d < 0)
    x %s d (i32)   ->  x - (x /s d) * d

Every form is exact for every input. Divisors 0 are left alone (the trap must stay) and so is
`div_s` by -1 (INT_MIN / -1 traps). The constant operand is a `T.const`, or at -O0 a local that
holds one (`i32.const 10 local.set 7 ... local.get 7`); `x` is whatever computes the other operand.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from jeet.wasm.ir import Instr
from jeet.wasm.opcodes import BY_NAME
from jeet.wasm.types import I32, I64, ValType

from ._rewrite import WIDTH, I, const_of, rewrite_one_site, signed, unsigned
from .flow import simulate
from .operator import Genome, Operator
from .sites import Facts, add_locals

__all__ = ["StrengthReduce", "Site", "find_sites", "reductions", "magic_s32", "magic_u32"]

_KINDS = {BY_NAME[f"{t}.{k}"]: (vt, k) for t, vt in (("i32", I32), ("i64", I64))
          for k in ("mul", "div_u", "rem_u", "div_s", "rem_s")}


@dataclass(frozen=True, slots=True)
class Site:
    """Instruction `at` (kind on type `vtype`) by constant `value`, pushed by instruction `operand`."""

    at: int
    operand: int
    vtype: ValType
    kind: str
    value: int


def find_sites(f: Facts) -> tuple[Site, ...]:
    """Every multiplication or division of one body with a constant operand that has a reduction."""
    instrs, infos, live = f.instrs, f.infos, f.live
    candidates = [k for k, ins in enumerate(instrs) if ins.op in _KINDS and live[k]]
    if not candidates:
        return ()
    flow = simulate(instrs, infos)
    nparams = len(f.params)
    out = []
    for k in candidates:
        vtype, kind = _KINDS[instrs[k].op]
        operands = flow.operands[k]
        if len(operands) != 2:
            continue
        # The divisor is the top operand; a multiplication may have its constant on either side.
        for pos in ((1, 0) if kind == "mul" else (1,)):
            p = operands[pos]
            if p < 0 or (pos == 1 and p != k - 1):
                continue
            if pos == 0 and not all(infos[q].reachable for q in range(p, k + 1)):
                continue
            known = const_of(instrs, p, nparams)
            if known is None or known[0] != vtype:
                continue
            if reductions(kind, vtype, known[1]):
                out.append(Site(k, p, vtype, kind, known[1]))
                break
    return tuple(out)


def magic_u32(d: int) -> tuple[int, int, bool]:
    """(m, s, add) with floor(x / d) == (x * m) >> s for every 32-bit x when `add` is False, or
    == ((((x * m) >> 32) + x) >> s) when it is True (m is then the multiplier less 2^32); m < 2^32.

    Granlund and Montgomery: with m = ceil(2^s / d) and e = m*d - 2^s, x*m/2^s = x/d + x*e/(d 2^s),
    which has the floor of x/d whenever x*e < 2^s; for s = 32 + ceil(log2 d) that holds for all x."""
    assert 2 < d < 1 << 32 and d & (d - 1)
    for s in range(32, 64):
        m = -(-(1 << s) // d)
        if m < 1 << 32 and ((1 << 32) - 1) * (m * d - (1 << s)) < 1 << s:
            return m, s, False
    lg = (d - 1).bit_length()
    m = -(-(1 << (32 + lg)) // d)
    return m - (1 << 32), lg, True


def magic_s32(d: int) -> tuple[int, int]:
    """(m, s) with trunc(x / d) == ((x * m) >> s) + (x < 0) for every signed 32-bit x, d > 2 not a
    power of two; m < 2^32, so the product fits an i64.

    With s = 32 + floor(log2 d), m = ceil(2^s / d) < 2^32 and e = m*d - 2^s lies in (0, d): x*m/2^s
    = x/d + x*e/(d 2^s), and |x| e < 2^31 d <= 2^s keeps the error below 1/d, so the floor is
    floor(x/d) for x >= 0 and one less than trunc(x/d) for x < 0 (the + (x < 0) puts it back)."""
    assert d > 2 and d & (d - 1)
    s = 32 + d.bit_length() - 1
    return -(-(1 << s) // d), s


def _div_s32(d: int, temp: int) -> list[Instr]:
    m, s = magic_s32(abs(d))
    out = [I("local.tee", temp), I("i64.extend_i32_s"), I("i64.const", m), I("i64.mul"), I("i64.const", s),
           I("i64.shr_s"), I("i32.wrap_i64"), I("local.get", temp), I("i32.const", 31), I("i32.shr_u"), I("i32.add")]
    if d < 0:
        out += [I("local.set", temp), I("i32.const", 0), I("local.get", temp), I("i32.sub")]
    return out


def _div_u32(d: int, wide: int) -> list[Instr]:
    m, s, add = magic_u32(d)
    if not add:
        return [I("i64.extend_i32_u"), I("i64.const", m), I("i64.mul"), I("i64.const", s), I("i64.shr_u"),
                I("i32.wrap_i64")]
    return [I("i64.extend_i32_u"), I("local.tee", wide), I("i64.const", m), I("i64.mul"), I("i64.const", 32),
            I("i64.shr_u"), I("local.get", wide), I("i64.add"), I("i64.const", s), I("i64.shr_u"),
            I("i32.wrap_i64")]


def reductions(kind: str, vtype: ValType, value: int, temp: int = -1, wide: int = -1) -> list[list[Instr]]:
    """The replacements for `T.<kind>` by constant `value`: each consumes x and pushes the result.

    `temp` (a local of type T), `wide` (an i64 local) and `temp + 2` (another T local, for a signed
    remainder) are the scratch locals a form may use."""
    bits = WIDTH[vtype]
    t = "i32" if vtype == I32 else "i64"
    u = unsigned(value, vtype)
    c = signed(value, vtype)

    def k_(n: int) -> Instr:
        return I(f"{t}.const", n)

    def op(name: str) -> Instr:
        return I(f"{t}.{name}")

    def power(n: int) -> int | None:
        return n.bit_length() - 1 if n > 0 and n & (n - 1) == 0 else None

    forms: list[list[Instr]] = []
    if kind == "mul":
        if u == 0:
            forms.append([I("drop"), k_(0)])
        elif u == 1:
            forms.append([])
        if (k := power(u)) is not None and 0 < k < bits:
            forms.append([k_(k), op("shl")])
        if (k := power(u - 1)) is not None and 0 < k < bits:
            forms.append([I("local.tee", temp), k_(k), op("shl"), I("local.get", temp), op("add")])
        if (k := power(u + 1)) is not None and 1 < k < bits:
            forms.append([I("local.tee", temp), k_(k), op("shl"), I("local.get", temp), op("sub")])
        if c < 0 and (k := power(-c)) is not None and 0 < k < bits - 1:
            forms.append([k_(k), op("shl"), I("local.set", temp), k_(0), I("local.get", temp), op("sub")])
    elif kind == "div_u" and u != 0:
        if u == 1:
            forms.append([])
        elif (k := power(u)) is not None:
            forms.append([k_(k), op("shr_u")])
        elif u > 1 << (bits - 1):
            forms.append([k_(c), op("ge_u")] + ([] if vtype == I32 else [I("i64.extend_i32_u")]))
        elif vtype == I32:
            forms.append(_div_u32(u, wide))
    elif kind == "rem_u" and u != 0:
        if u == 1:
            forms.append([I("drop"), k_(0)])
        elif (k := power(u)) is not None:
            forms.append([k_(signed(u - 1, vtype)), op("and")])
        elif u > 1 << (bits - 1):
            forms.append([I("local.tee", temp), I("local.get", temp), k_(c), op("ge_u")]
                         + ([] if vtype == I32 else [I("i64.extend_i32_u")])
                         + [k_(c), op("mul"), op("sub")])
        elif vtype == I32:
            forms.append([I("local.tee", temp), I("local.get", temp)] + _div_u32(u, wide)
                         + [k_(c), op("mul"), op("sub")])
    elif kind in ("div_s", "rem_s") and c not in (0, -1 if kind == "div_s" else 0):
        k = power(abs(c))
        if abs(c) == 1:
            forms.append([] if kind == "div_s" else [I("drop"), k_(0)])  # x /s 1 = x; x %s ±1 = 0
        elif k is not None:
            bias = [I("local.get", temp), k_(bits - 1), op("shr_s"), k_(bits - k), op("shr_u"), op("add")]
            if kind == "div_s":
                form = [I("local.tee", temp)] + bias + [k_(k), op("shr_s")]
                if c < 0:
                    form += [I("local.set", temp), k_(0), I("local.get", temp), op("sub")]
            else:
                form = [I("local.tee", temp), I("local.get", temp)] + bias + [k_(signed(-(1 << k), vtype)),
                                                                              op("and"), op("sub")]
            forms.append(form)
        elif vtype == I32:
            if kind == "div_s":
                forms.append(_div_s32(c, temp))
            else:  # x - (x /s c) * c, with a second scratch local for x
                spare = temp + 2
                forms.append([I("local.tee", spare), I("local.get", spare)] + _div_s32(c, temp)
                             + [k_(c), op("mul"), op("sub")])
    return forms


def reduce_site(f: Facts, site: Site, form_index: int) -> tuple | None:
    """The body with `site` rewritten by its form number `form_index`, or None."""
    temp, wide = len(f.local_types), len(f.local_types) + 1
    forms = reductions(site.kind, site.vtype, site.value, temp, wide)
    if not forms:
        return None
    form = forms[form_index % len(forms)]
    instrs = list(f.instrs)
    instrs[site.at:site.at + 1] = form
    del instrs[site.operand]
    uses = {ins.imm[0] for ins in form if ins.op in (0x20, 0x21, 0x22)} - set(range(temp))
    added = [site.vtype, I64, site.vtype][:max(uses) - temp + 1] if uses else []
    return add_locals(f.body.with_instrs(instrs), added)


class StrengthReduce(Operator):
    name = "strength_reduce"

    def propose(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        return rewrite_one_site(parents[0], rng, "strength_sites", find_sites,
                                lambda f, site: reduce_site(f, site, rng.randrange(4)))
