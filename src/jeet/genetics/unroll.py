"""unroll: repeat a loop's body 2 or 4 times per trip, the remainder handled.

A counted loop, tested last, whose counter i moves by a constant step s once per trip and whose
test compares the new i with a bound n the loop does not change (or is i itself, `local.tee i
br_if 0`), runs K trips with one test when the next K - 1 tests are sure to pass:

    loop B(i += s; ...) <i REL n> br_if 0 end
 -> loop
      <the next K-1 tests pass>            ;; computed from i and n at the top of the trip
      if (result i32)  B drop  B drop ... B   ;; K copies; only the last test is kept
      else             B                      ;; the remainder: one trip at a time
      end
      br_if 0
    end

The guard is exact (wrap-around included), so every trip count computes what it did. A counted
loop tested first, as clang -O0 writes `for` (the test may pass through temporaries, which it alone
writes), gets the same treatment with K tests looked ahead and the test left out of the fast path:

    block loop P br_if 1 S br 0 end end
 -> block loop
      <the next K tests pass>  if  S S ... S  br 1  end    ;; K trips, continue
      P br_if 1 S br 0                                      ;; the remainder: one trip at a time
    end end

Any other loop tested last is unrolled with every test kept (`block loop (B i32.eqz br_if 1)* B
br_if 0 end end`), and any other loop tested first (`loop X br 0 end`) becomes `loop X X ... br 0
end`; both only save back-edges. The copied body may branch only within itself (or return), except
in that last form, where every copy sits at the same depth.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from jeet.wasm.ir import Instr
from jeet.wasm.types import EMPTY_BLOCK, I32

from ._ops import BLOCK, BR, BR_IF, LOCAL_GET, LOCAL_SET, LOCAL_TEE, LOOP
from ._rewrite import CONTROL, PURE, I, block_local, const_of, local_writes, rewrite_one_site, signed
from ._symbolic import commuted, constant, evaluate, truth
from .flow import simulate
from .operator import Genome, Operator
from .runs import labels_internal
from .sites import Facts, add_locals

__all__ = ["Unroll", "Loop", "Counter", "find_loops", "unrolled"]

MAX_BODY = 80  # instructions in one copy: past this (crc8 at -O2, 100) unrolling measured slower
FACTORS = (2, 4)

_REL = {"i32.ne": "ne", "i32.lt_s": "lt_s", "i32.lt_u": "lt_u", "i32.gt_s": "gt_s", "i32.gt_u": "gt_u",
        "i32.le_s": "le_s", "i32.le_u": "le_u", "i32.ge_s": "ge_s", "i32.ge_u": "ge_u"}
_SWAP = {"eq": "eq", "ne": "ne", "lt_s": "gt_s", "lt_u": "gt_u", "gt_s": "lt_s", "gt_u": "lt_u", "le_s": "ge_s",
         "le_u": "ge_u", "ge_s": "le_s", "ge_u": "le_u"}


@dataclass(frozen=True, slots=True)
class Counter:
    """The trip test is `i REL bound` on the counter after its step; `bound` is ("const", c) or
    ("local", n)."""

    i: int
    step: int
    rel: str
    bound: tuple[str, int]


@dataclass(frozen=True, slots=True)
class Loop:
    """The `loop` at `at`, closed at `end`; `last`: tested last (`br_if 0` before `end`), else
    tested first (`br 0`). `counter` when the counted form applies."""

    at: int
    end: int
    last: bool
    counter: Counter | None = None
    test: int = -1  # counted and tested first: the `br_if 1` that leaves (the loop sits in a block)


def find_loops(f: Facts) -> tuple[Loop, ...]:
    instrs, infos, ends = f.instrs, f.infos, f.ends
    out = []
    flow = None
    for s, ins in enumerate(instrs):
        if ins.op != LOOP or ins.imm != (EMPTY_BLOCK,) or not f.live[s]:
            continue
        e = ends[s]
        if not 1 < e - s - 1 <= MAX_BODY or not infos[e - 1].reachable:
            continue
        back = instrs[e - 1]
        if back == Instr(BR, (0,)) and infos[e - 1].height == 0:
            counted = _top_counter(f, s, e) if s and instrs[s - 1] == Instr(BLOCK, (EMPTY_BLOCK,)) \
                and ends[s - 1] == e + 1 else None
            out.append(counted or Loop(s, e, False))
        elif (back == Instr(BR_IF, (0,)) and infos[e - 1].height == 1
              and labels_internal(instrs, s + 1, e - 1, returns=True)):
            flow = simulate(instrs, infos) if flow is None else flow
            out.append(Loop(s, e, True, _counter(f, flow, s, e)))
    return tuple(out)


def _counter(f: Facts, flow, s: int, e: int) -> Counter | None:
    instrs, infos = f.instrs, f.infos
    depth = infos[s + 1].depth
    written = local_writes(instrs, s + 1, e)
    nparams = len(f.params)
    cond = flow.operands[e - 1][0] if flow.operands[e - 1] else -1
    if cond < 0:
        return None
    for k in range(s + 1, e - 1):
        ins = instrs[k]
        if ins.op not in (LOCAL_SET, LOCAL_TEE) or infos[k].depth != depth or f.local_types[ins.imm[0]] != I32:
            continue
        i = ins.imm[0]
        if sum(1 for q in range(s + 1, e - 1) if instrs[q].op in (LOCAL_SET, LOCAL_TEE) and instrs[q].imm[0] == i) != 1:
            continue
        step = _step(instrs, flow, k, i, nparams)
        if step is None:
            continue

        def is_new_i(p: int) -> bool:
            return p == k or (p > k and instrs[p] == Instr(LOCAL_GET, (i,)))

        if cond == k and instrs[k].op == LOCAL_TEE:
            return Counter(i, step, "ne", ("const", 0))
        rel = _REL.get(instrs[cond].name)
        operands = flow.operands[cond]
        if rel is None or len(operands) != 2 or min(operands) < 0:
            return None
        p0, p1 = operands
        if is_new_i(p1) and not is_new_i(p0):
            p0, p1, rel = p1, p0, _SWAP[rel]
        if not is_new_i(p0):
            return None
        known = const_of(instrs, p1, nparams)
        if known is not None and known[0] == I32:
            bound = ("const", known[1])
        elif instrs[p1].op == LOCAL_GET and instrs[p1].imm[0] not in written:
            bound = ("local", instrs[p1].imm[0])
        else:
            return None
        return Counter(i, step, rel, bound)
    return None


_NEGATED = {"lt_s": "ge_s", "ge_s": "lt_s", "le_s": "gt_s", "gt_s": "le_s", "lt_u": "ge_u", "ge_u": "lt_u",
            "le_u": "gt_u", "gt_u": "le_u", "eq": "ne", "ne": "eq"}


def _top_counter(f: Facts, s: int, e: int) -> Loop | None:
    """The counted form of `block loop P br_if 1 S br 0 end end`, when P computes `i REL n` (through
    temporaries at most), S steps i by a constant once and branches only within itself."""
    instrs = f.instrs
    q = next((k for k in range(s + 1, e - 1) if instrs[k].op in CONTROL), -1)
    if q < 0 or instrs[q] != Instr(BR_IF, (1,)) or not labels_internal(instrs, q + 1, e - 1, returns=True):
        return None
    temps = block_local(instrs, len(f.params))
    for k in range(s + 1, q):  # P is skipped on the fast path: it may only compute and set temporaries
        ins = instrs[k]
        if not (ins.op in PURE or ins.op in (LOCAL_SET, LOCAL_TEE) and ins.imm[0] in temps):
            return None
    test = evaluate(instrs, s + 1, q)
    if test is None or test.outer or len(test.stack) != 1:
        return None
    negated, core = truth(test.stack[0])
    rel = core[0][4:] if core[0].startswith("i32.") else None
    if rel not in _NEGATED or len(core) != 3:
        return None
    a, b = core[1], core[2]
    written = local_writes(instrs, s + 1, e - 1)

    def counts(tree: tuple) -> bool:
        return tree[0] == "local" and tree[1] in written

    if counts(b) and not counts(a):
        a, b, rel = b, a, _SWAP[rel]  # the counter on the left
    if not counts(a):
        return None
    i = a[1]
    if b[0] == "local" and b[1] not in written:
        bound = ("local", b[1])
    elif (k := constant(b, I32)) is not None:
        bound = ("const", signed(k, I32))
    else:
        return None
    go_on = rel if negated else _NEGATED[rel]  # the branch leaves when the test says so
    if go_on == "eq":
        return None
    step = _top_step(f, q + 1, e - 1, i)
    return Loop(s, e, False, Counter(i, step, go_on, bound), q) if step is not None else None


def _top_step(f: Facts, start: int, stop: int, i: int) -> int | None:
    """The constant s when instrs[start:stop] write i once, at their own level, with i + s."""
    instrs, infos = f.instrs, f.infos
    writes = [k for k in range(start, stop) if instrs[k].op in (LOCAL_SET, LOCAL_TEE) and instrs[k].imm[0] == i]
    if len(writes) != 1 or infos[writes[0]].depth != infos[start].depth:
        return None
    w = writes[0]
    a = max([k + 1 for k in range(start, w) if instrs[k].op in CONTROL], default=start)
    state = evaluate(instrs, a, w + 1, infos=infos)
    if state is None:
        return None
    tree = state.local(i)
    for x, c in commuted(tree, "i32.add") or ([(tree[1], tree[2])] if tree[0] == "i32.sub" else []):
        if x == ("local", i) and (k := constant(c, I32)) is not None:
            step = signed(k, I32) if tree[0] == "i32.add" else -signed(k, I32)
            return step if 0 < abs(step) < 1 << 24 else None
    return None


def _step(instrs, flow, k: int, i: int, nparams: int) -> int | None:
    """The constant s when the write at k stores `i + s` (or `i - s`)."""
    p = flow.operands[k][0] if flow.operands[k] else -1
    if p < 0 or instrs[p].name not in ("i32.add", "i32.sub") or len(flow.operands[p]) != 2:
        return None
    a, b = flow.operands[p]
    pairs = [(a, b), (b, a)] if instrs[p].name == "i32.add" else [(a, b)]
    for x, c in pairs:
        if x >= 0 and c >= 0 and instrs[x] == Instr(LOCAL_GET, (i,)):
            known = const_of(instrs, c, nparams)
            if known is not None and known[0] == I32:
                s = signed(known[1], I32)
                s = s if instrs[p].name == "i32.add" else -s
                return s if 0 < abs(s) < 1 << 24 else None
    return None


def guard(c: Counter, k: int) -> list[Instr] | None:
    """Code that pushes 1 only when the K - 1 tests after the next trip's steps would all pass."""
    i = I("local.get", c.i)
    n = I("i32.const", c.bound[1]) if c.bound[0] == "const" else I("local.get", c.bound[1])
    a = abs(c.step)
    span = (k - 1) * a
    if c.rel == "ne":
        d = [n, i, I("i32.sub")] if c.step > 0 else [i, n, I("i32.sub")]
        return d + [I("i32.const", a), I("i32.sub"), I("i32.const", (k - 2) * a), I("i32.gt_u")]
    up = c.rel in ("lt_s", "lt_u", "le_s", "le_u")
    if up != (c.step > 0):
        return None
    sign = c.rel[-1]
    if up:
        limit = (0x7FFFFFFF if sign == "s" else 0xFFFFFFFF) - span
        safe = [i, I("i32.const", signed(limit, I32)), I(f"i32.le_{sign}")]
        last = [i, I("i32.const", span), I("i32.add")]
    else:
        limit = (-0x80000000 if sign == "s" else 0) + span
        safe = [i, I("i32.const", signed(limit, I32)), I(f"i32.ge_{sign}")]
        last = [i, I("i32.const", span), I("i32.sub")]
    return safe + last + [n, I(f"i32.{c.rel}"), I("i32.and")]


def unrolled(f: Facts, loop: Loop, k: int):
    """The body with `loop` unrolled `k` times."""
    instrs = list(f.instrs)
    body = instrs[loop.at + 1:loop.end - 1]
    head, tail = instrs[:loop.at], instrs[loop.end + 1:]
    c = loop.counter
    if not loop.last and c is not None and loop.test >= 0:
        g = len(f.local_types)  # the counter one step back: K tests from it are the next K trips' tests
        ahead = guard(Counter(g, c.step, c.rel, c.bound), k + 1)
        if ahead is not None:
            test, step = instrs[loop.at + 1:loop.test], instrs[loop.test + 1:loop.end - 1]
            new = (instrs[:loop.at - 1] + [I("block", EMPTY_BLOCK), I("loop", EMPTY_BLOCK), I("local.get", c.i),
                                           I("i32.const", c.step), I("i32.sub"), I("local.set", g)]
                   + ahead + [I("if", EMPTY_BLOCK)] + step * k + [I("br", 1), I("end")]
                   + test + [I("br_if", 1)] + step + [I("br", 0), I("end"), I("end")] + instrs[loop.end + 2:])
            return add_locals(f.body.with_instrs(new), [I32])
    if not loop.last:
        new = head + [instrs[loop.at]] + body * k + [I("br", 0), I("end")] + tail
    elif c is not None and (g := guard(c, k)) is not None:
        fast = (body + [I("drop")]) * (k - 1) + body
        new = (head + [I("loop", EMPTY_BLOCK)] + g + [I("if", -1)] + fast + [I("else")] + body
               + [I("end"), I("br_if", 0), I("end")] + tail)
    else:
        tested = (body + [I("i32.eqz"), I("br_if", 1)]) * (k - 1) + body
        new = (head + [I("block", EMPTY_BLOCK), I("loop", EMPTY_BLOCK)] + tested
               + [I("br_if", 0), I("end"), I("end")] + tail)
    return f.body.with_instrs(new)


class Unroll(Operator):
    name = "unroll"

    def propose(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        return rewrite_one_site(parents[0], rng, "loops", find_loops,
                                lambda f, loop: unrolled(f, loop, rng.choice(FACTORS)))
