"""range_reduce: a remainder or quotient by a constant whose dividend is known to be small, without dividing.

Checksums and modular counters keep a running value below a modulus d and add something small to
it each step: `a = (a + byte) %u 65521`. The dividend is then below 2d, and one compare replaces the
division (a hardware divide, or the multiply-high sequence a compiler makes of it):

    x %u d  ->  x                                   when x < d
    x %u d  ->  select(x - d, x, x >=u d)           when x < 2d
    x /u d  ->  0   (x is computed, then dropped)   when x < d
    x /u d  ->  x >=u d                             when x < 2d     (extended to i64 for i64)

The bound on x comes from `_bounds.Bounds`, a range analysis of the whole body, so every form is exact
for every input: the operator fires only where it is proved. d is a constant, or at -O0 a local that
holds one, as for strength_reduce, which owns the general forms (any dividend).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from jeet.wasm.ir import Body
from jeet.wasm.opcodes import BY_NAME
from jeet.wasm.types import I32, I64

from ._bounds import Bounds
from ._rewrite import I, const_of, everywhere, rewrite_one_site, signed, unsigned
from .operator import Genome, Operator
from .sites import Facts, add_locals
from .strength_reduce import Site

__all__ = ["RangeReduce", "find_small_dividends", "reduce_small_dividends", "range_reduced"]

_KINDS = {BY_NAME[f"{t}.{k}"]: (vt, k) for t, vt in (("i32", I32), ("i64", I64)) for k in ("div_u", "rem_u")}


def find_small_dividends(f: Facts) -> tuple[tuple[tuple[Site, int], ...], ...]:
    """One plan, or none: every unsigned remainder or quotient by a constant d whose dividend is below 2d,
    with that bound. The plan is carried out whole, because a rewritten site's select hides from the
    analysis the bound its remainder gave the values downstream."""
    instrs, nparams = f.instrs, len(f.params)
    sites = [k for k, ins in enumerate(instrs) if ins.op in _KINDS and f.live[k] and k > 0]
    if not sites:
        return ()
    bounds = Bounds(f)
    plan = []
    for k in sites:
        vtype, kind = _KINDS[instrs[k].op]
        operands = bounds.flow.operands[k]
        known = const_of(instrs, k - 1, nparams) if len(operands) == 2 and operands[1] == k - 1 else None
        if known is None or known[0] != vtype or known[1] == 0:
            continue
        d = unsigned(known[1], vtype)
        bound = bounds.value(operands[0])
        if bound is not None and bound < 2 * d:
            plan.append((Site(k, k - 1, vtype, kind, d), bound))
    return (tuple(plan),) if plan else ()


def reduce_small_dividends(f: Facts, plan: tuple[tuple[Site, int], ...]) -> Body:
    """The body with each site's divisor and division replaced by the form its dividend's bound allows."""
    scratch: dict = {}  # one scratch local per type: each form's use of it ends inside the form
    instrs = list(f.instrs)
    for site, bound in sorted(plan, key=lambda sb: -sb[0].at):  # the divisor is pushed just before the division
            instrs[site.operand:site.at + 1] = _form(site, bound, lambda vt: scratch.setdefault(
            vt, len(f.local_types) + len(scratch)))
    return add_locals(f.body.with_instrs(instrs), list(scratch))


def _form(site: Site, bound: int, temp_of) -> list:
    t = "i32" if site.vtype == I32 else "i64"
    d = unsigned(site.value, site.vtype)
    c = I(f"{t}.const", signed(d, site.vtype))
    if site.kind == "rem_u" and bound < d:
        return []
    if site.kind == "rem_u":
        temp = temp_of(site.vtype)
        return [I("local.tee", temp), c, I(f"{t}.sub"), I("local.get", temp), I("local.get", temp), c,
                I(f"{t}.ge_u"), I("select")]
    if bound < d:
        return [I("drop"), I(f"{t}.const", 0)]
    return [c, I(f"{t}.ge_u")] + ([I("i64.extend_i32_u")] if t == "i64" else [])


def range_reduced(genome: Genome) -> Genome | None:
    """`genome` with every small dividend's division replaced, or None when there is none."""
    return everywhere(genome, find_small_dividends, reduce_small_dividends, lambda plans: plans[0])


class RangeReduce(Operator):
    name = "range_reduce"

    def propose(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        return rewrite_one_site(parents[0], rng, "small_dividends", find_small_dividends, reduce_small_dividends)
