"""closed_form: a straight-line expression of one or two locals into a cheaper closed form that agrees.

Bit tricks spell out in a dozen shifts and masks what one wasm instruction does: the parallel bit count
is `i32.popcnt`, a parity is `popcnt & 1`, leading-zero comparisons compare `i32.clz`s, an average
without overflow is one 64-bit add, a branch-free maximum is a `select`. Compilers know some of these
(clang turns `(x & (x - 1)) == 0 && x` into `popcnt(x) == 1`), not the rest.

The operator takes an i32 expression inside a straight-line window (`superopt.find_windows`: a run that
leaves one i32 and may pass values through locals, reads at most two i32 locals before writing them,
and writes none that is read later), runs it with the same interpreter as stoke (`superopt.interpret`),
and looks up what it computed on a fixed set of inputs in a table of the grammar's forms; a form that is
cheaper and agrees there, and then on fresh random and special inputs, replaces it. The grammar, over
the expression's inputs a and b:

    u(a)   u(a) & 1   u(a) == 1                  u in popcnt, clz, ctz
    clp2(a)  flp2(a)  32 - clz(a)  31 - clz(a)   power-of-two boundaries, bit length, floor log2
    u(a) R u(b)                                  R in eq, ne, lt_u, gt_u, le_u, ge_u
    select(p, q, p R q)                          (p, q) in (a, b), (b, a); R in lt_s, gt_s, lt_u, gt_u
    wrap((ext(a) + ext(b)) >>u k)                ext in extend_i32_u, extend_i32_s; k in 1, 32

A whole function of one or two i32s that only computes (no memory, globals or calls: `_probe`) and has
branches or a loop is looked up the same way, run in the sandbox instead of the interpreter: a bit loop
of whatever shape evolution left it in (idiom_bits knows the shapes compilers emit) becomes its form.

Agreement on samples is a filter, not a proof: as for stoke, the gate's held-out cases and the
equivalence proof judge the child. No multiply: one 64-bit product in place of a product from 16-bit
halves (the high word of a 32 x 32 multiply) is right, but the solver cannot settle it in the gate's
time (Bitwuzla gives no answer within 30 s), and such a candidate, best by fuel and never adopted,
keeps the gate from adopting anything else. Cheap after the first call on a body: the sites are memoised, each
expression costs a few interpreter runs, and the forms' table is built once per process.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from jeet.wasm.ir import Instr
from jeet.wasm.types import I32, ValType

from ._ops import LOCAL_GET, LOCAL_SET, LOCAL_TEE, LOOP
from ._probe import pure_function
from ._rewrite import CONTROL, I
from .operator import Genome, Operator
from .sites import Facts, facts, live_after, pick_target
from .superopt import find_windows, interpret, predicted_cost

__all__ = ["ClosedForm", "FORMS", "Form", "Site", "find_sites", "match", "match_values", "whole_function"]

M32 = (1 << 32) - 1
SPECIALS = (0, 1, 2, 3, 0xFF, 0x10000, 0x55555555, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)
PROBES = 16          # inputs of the table lookup
CHECKS = 256         # fresh random inputs a match must also agree on (besides every pair of SPECIALS)
TRIES = 12           # expressions looked up per call
MAX_RUN = 256        # longest expression considered, in top-level instructions
_AB: tuple[ValType, ...] = (I32, I32)


@dataclass(frozen=True, slots=True)
class Form:
    """A closed form over inputs 0 and 1 (as local indices), using `arity` of them."""

    name: str
    arity: int
    code: tuple[Instr, ...]

    def cost(self) -> float:
        return predicted_cost(self.code)

    def instantiate(self, inputs: Sequence[int]) -> tuple[Instr, ...]:
        return tuple(I("local.get", inputs[i.imm[0]]) if i.op == LOCAL_GET else i for i in self.code)


def _grammar() -> tuple[Form, ...]:
    get = [I("local.get", 0), I("local.get", 1)]
    forms: list[Form] = []
    for u in ("popcnt", "clz", "ctz"):
        f = (get[0], I(f"i32.{u}"))
        forms += [Form(f"{u}(a)", 1, f), Form(f"{u}(a) & 1", 1, f + (I("i32.const", 1), I("i32.and"))),
                  Form(f"{u}(a) == 1", 1, f + (I("i32.const", 1), I("i32.eq")))]
        for r in ("eq", "ne", "lt_u", "gt_u", "le_u", "ge_u"):
            forms.append(Form(f"{u}(a) {r} {u}(b)", 2, (get[0], I(f"i32.{u}"), get[1], I(f"i32.{u}"), I(f"i32.{r}"))))
    for p, q in ((0, 1), (1, 0)):
        for r in ("lt_s", "gt_s", "lt_u", "gt_u"):
            names = "ab"[p], "ab"[q]
            forms.append(Form(f"select({names[0]}, {names[1]}, {names[0]} {r} {names[1]})", 2,
                              (get[p], get[q], get[p], get[q], I(f"i32.{r}"), I("select"))))
    # power-of-two boundaries and logarithms (Hacker's Delight 3-2, 5-3), as a C loop computes them:
    # the smallest power of two >= a (1 for 0, 0 when it does not fit), the largest <= a (0 for 0), and
    # the bit length 32 - clz(a), whose shift amount 64 - clz64(a - 1) wraps to 0 for a = 0 as it should
    forms += [
        Form("clp2(a)", 1, (I("i64.const", 1), I("i64.const", 64), get[0], I("i64.extend_i32_u"), I("i64.const", 1),
                            I("i64.sub"), I("i64.clz"), I("i64.sub"), I("i64.shl"), I("i32.wrap_i64"))),
        Form("flp2(a)", 1, (I("i64.const", 0x80000000), get[0], I("i32.clz"), I("i64.extend_i32_u"), I("i64.shr_u"),
                            I("i32.wrap_i64"))),
        Form("32 - clz(a)", 1, (I("i32.const", 32), get[0], I("i32.clz"), I("i32.sub"))),
        Form("31 - clz(a)", 1, (I("i32.const", 31), get[0], I("i32.clz"), I("i32.sub"))),
    ]
    for ext in ("u", "s"):
        for k in (1, 32):
            forms.append(Form(f"wrap((ext_{ext}(a) + ext_{ext}(b)) >>u {k})", 2,
                              (get[0], I(f"i64.extend_i32_{ext}"), get[1], I(f"i64.extend_i32_{ext}"),
                               I("i64.add"), I("i64.const", k), I("i64.shr_u"), I("i32.wrap_i64"))))
    return tuple(sorted(forms, key=Form.cost))


FORMS: tuple[Form, ...] = _grammar()


def _probes() -> tuple[tuple[int, int], ...]:
    rng = random.Random("jeet.genetics.closed_form")
    pairs = [(0, 0), (1, 0xFFFFFFFF), (0x80000000, 3), (0xFFFF, 0x10000)]
    while len(pairs) < PROBES:
        pairs.append((rng.getrandbits(32) >> rng.randrange(32), rng.getrandbits(32) >> rng.randrange(32)))
    return tuple(pairs)


PROBE_INPUTS = _probes()


def _run(code: Sequence[Instr], regs: list[int], local_types: Sequence[ValType]) -> int | None:
    """The one value `code` leaves, or None when it traps or leaves something else."""
    r = interpret(code, regs, local_types)
    return r[0][0] if r is not None and len(r[0]) == 1 else None


@lru_cache(maxsize=1)
def _table() -> dict[tuple[int, tuple], tuple[Form, ...]]:
    """(arity, values on PROBE_INPUTS) -> the forms that compute them, cheapest first."""
    table: dict[tuple[int, tuple], list[Form]] = {}
    for form in FORMS:
        values = tuple(_run(form.code, list(pair), _AB) for pair in PROBE_INPUTS)
        table.setdefault((form.arity, values), []).append(form)
    return {k: tuple(v) for k, v in table.items()}


@dataclass(frozen=True, slots=True)
class Site:
    """instrs[start:stop] leaves one i32 computed from the i32 locals `inputs` alone."""

    start: int
    stop: int
    inputs: tuple[int, ...]


def find_sites(f: Facts) -> tuple[Site, ...]:
    """Every expression of a window that reads one or two i32 locals and writes none that is read later."""
    sites: list[Site] = []
    for w in find_windows(f.instrs, f.infos, f.local_types, f.live, min_len=3, max_len=MAX_RUN):
        live = {b: live_after(f.instrs, b) for b in range(w.start + 1, w.stop + 1)}
        for a in range(w.start, w.stop):
            sites += _sites_from(f, a, w.stop, live)
    return tuple(sites)


def _sites_from(f: Facts, a: int, stop: int, live: dict[int, set[int]]) -> list[Site]:
    """The sites instrs[a:b] for b up to `stop`, walking once and keeping what the run reads and writes."""
    base = f.infos[a].height
    read: list[int] = []
    written: set[int] = set()
    out = []
    for k in range(a, stop):
        ins, info = f.instrs[k], f.infos[k]
        if info.height - len(info.pops) < base:
            break
        x = ins.imm[0] if ins.op in (LOCAL_GET, LOCAL_SET, LOCAL_TEE) else -1
        if ins.op == LOCAL_GET and x not in written and x not in read:
            if len(read) == 2 or f.local_types[x] != I32:
                break
            read.append(x)
        elif x >= 0 and ins.op != LOCAL_GET:
            written.add(x)
        b = k + 1
        after = f.infos[b]
        if b - a >= 3 and read and after.height == base + 1 and after.stack[-1] == I32 and not written & live[b]:
            out.append(Site(a, b, tuple(read)))
    return out


def _value(code: Sequence[Instr], inputs: Sequence[int], values: Sequence[int],
           local_types: Sequence[ValType]) -> int | None:
    regs = [0] * len(local_types)
    for x, v in zip(inputs, values):
        regs[x] = v
    return _run(code, regs, local_types)


def match(code: Sequence[Instr], inputs: Sequence[int], local_types: Sequence[ValType],
          rng: random.Random) -> Form | None:
    """The cheapest form cheaper than `code` that computes what it does from `inputs` on the probes,
    every pair of special values and CHECKS random inputs; None when there is none."""
    n = len(inputs)
    return match_values(lambda pair: _value(code, inputs, pair[:n], local_types), n, predicted_cost(code), rng)


def match_values(value: Callable[[tuple[int, int]], int | None], n: int, cost: float,
                 rng: random.Random) -> Form | None:
    """The cheapest form of `n` inputs, cheaper than `cost`, that agrees with `value` (of a pair of inputs,
    the first `n` used) on the probes, every pair of special values and CHECKS random pairs."""
    key = (n, tuple(value(pair) for pair in PROBE_INPUTS))
    if None in key[1]:
        return None
    candidates = [form for form in _table().get(key, ()) if form.cost() < cost]
    if not candidates:
        return None
    checks = [(a, b) for a in SPECIALS for b in (SPECIALS if n == 2 else (0,))]
    checks += [(rng.getrandbits(32) >> rng.randrange(32), rng.getrandbits(32) >> rng.randrange(32))
               for _ in range(CHECKS)]
    want = [value(pair) for pair in checks]
    for form in candidates:
        if all(_run(form.code, list(pair), _AB) == w for pair, w in zip(checks, want)):
            return form
    return None


def whole_function(genome: Genome, index: int) -> Form | None:
    """A form for all of defined function `index`, when it is a pure function of one or two i32s with
    branches or a loop (straight-line code is matched window by window), probed in the sandbox."""
    f = facts(genome, index)
    if not 1 <= len(f.params) <= 2 or set(f.params) != {I32} or f.results != (I32,):
        return None
    if not any(ins.op in CONTROL for ins in f.instrs[:-1]):
        return None  # straight-line: the windows cover it
    n = len(f.params)
    cost = math.inf if any(ins.op == LOOP for ins in f.instrs) else predicted_cost(f.instrs)
    with pure_function(genome, index) as call:
        if call is None:
            return None
        return match_values(lambda pair: call(*pair[:n]), n, cost, random.Random("jeet.genetics.closed_form/whole"))


class ClosedForm(Operator):
    """Replaces an expression of one or two locals by a cheaper closed form that agrees on every probe."""

    name = "closed_form"

    def propose(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        parent = parents[0]
        t = pick_target(parent, rng)
        if t is None:
            return None
        f = facts(parent, t)
        whole = parent.memo_body("closed_form_whole", t, lambda: whole_function(parent, t))
        if whole is not None:
            return parent.with_bodies({t: f.body.with_instrs(whole.instantiate(range(len(f.params))) + (I("end"),))})
        sites = parent.memo_body("closed_form_sites", t, lambda: find_sites(f))
        if not sites:
            return None
        # longer expressions first, more or less: they are where a closed form saves most
        picked = rng.choices(sites, weights=[s.stop - s.start for s in sites], k=min(TRIES, len(sites)))
        for s in dict.fromkeys(picked):
            form = match(f.instrs[s.start:s.stop], s.inputs, f.local_types, rng)
            if form is not None:
                instrs = f.instrs[:s.start] + form.instantiate(s.inputs) + f.instrs[s.stop:]
                return parent.with_bodies({t: f.body.with_instrs(instrs)})
        return None
