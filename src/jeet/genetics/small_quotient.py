"""small_quotient: an unsigned division by a variable skips the divide when the quotient is 0 or 1.

A hardware divide takes tens of cycles; a compare and a subtract take one each. Where the quotient is
usually small (Euclid's remainders: 0 or 1 in more than half the steps), testing for it first pays:

    x %u y  ->  x <u y ? x : (x - y <u y ? x - y : x %u y)
    x /u y  ->  x <u y ? 0 : (x - y <u y ? 1 : x /u y)

Exact for every x and y: the subtraction runs only when x >= y, so it cannot wrap, and y = 0 still
reaches the divide and traps there as before. Branches, not selects: a select would compute the divide
anyway. Whether the test pays depends on how the quotients fall, which only the machine can tell, so
the native-time race decides. Divisions by a constant are strength_reduce's and range_reduce's.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from jeet.wasm.ir import Body
from jeet.wasm.opcodes import BY_NAME
from jeet.wasm.types import I32, I64, blocktype_of_valtype

from ._ops import ELSE, END, LOCAL_GET
from ._rewrite import I, const_of, everywhere, rewrite_one_site
from .operator import Genome, Operator
from .sites import Facts, add_locals

__all__ = ["SmallQuotient", "find_variable_divisions", "fast_path", "with_fast_paths"]

_KINDS = {BY_NAME[f"{t}.{k}"]: (vt, t, k) for t, vt in (("i32", I32), ("i64", I64)) for k in ("div_u", "rem_u")}


def find_variable_divisions(f: Facts) -> tuple[int, ...]:
    """Positions of the unsigned divisions and remainders whose divisor is not a known constant, and that
    are not already the last resort of a fast path."""
    instrs, nparams = f.instrs, len(f.params)
    return tuple(k for k, ins in enumerate(instrs)
                 if ins.op in _KINDS and f.live[k] and not (k > 0 and const_of(instrs, k - 1, nparams))
                 and not _guarded(instrs, k))


def _guarded(instrs, k: int) -> bool:
    """`else local.get x local.get y DIV end end`: the division `fast_path` leaves at the end of its tests."""
    return (3 <= k < len(instrs) - 2 and instrs[k - 3].op == ELSE and instrs[k - 2].op == LOCAL_GET
            and instrs[k - 1].op == LOCAL_GET and instrs[k + 1].op == END and instrs[k + 2].op == END)


def fast_path(f: Facts, at: int) -> Body:
    """The body with the division at `at` behind the two small-quotient tests (three scratch locals)."""
    vtype, t, kind = _KINDS[f.instrs[at].op]
    x, y, d = (len(f.local_types) + i for i in range(3))
    bt = blocktype_of_valtype(vtype)
    small = [I(f"{t}.const", 0)] if kind == "div_u" else [I("local.get", x)]
    one = [I(f"{t}.const", 1)] if kind == "div_u" else [I("local.get", d)]
    form = ([I("local.set", y), I("local.set", x),
             I("local.get", x), I("local.get", y), I(f"{t}.lt_u"), I("if", bt)] + small + [I("else"),
             I("local.get", x), I("local.get", y), I(f"{t}.sub"), I("local.tee", d), I("local.get", y),
             I(f"{t}.lt_u"), I("if", bt)] + one + [I("else"),
             I("local.get", x), I("local.get", y), f.instrs[at], I("end"), I("end")])
    instrs = list(f.instrs[:at]) + form + list(f.instrs[at + 1:])
    return add_locals(f.body.with_instrs(instrs), [vtype] * 3)


def with_fast_paths(genome: Genome) -> Genome | None:
    """`genome` with every division by a variable behind the tests, or None when there is none."""
    return everywhere(genome, find_variable_divisions, fast_path, max)


class SmallQuotient(Operator):
    name = "small_quotient"

    def propose(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        return rewrite_one_site(parents[0], rng, "variable_divisions", find_variable_divisions, fast_path)
