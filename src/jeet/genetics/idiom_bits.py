"""idiom_bits: a loop that walks the bits of x one at a time into its closed form with popcnt, clz or ctz.

The loop shifts one local x by one bit per trip (x >>u 1, or x << 1) and stops on a test of x;
every other local it writes is either a counter (per trip c += k, c += x & 1, c ^= x & 1, or c = !c
when x & 1) or a temporary whose value never leaves its straight-line stretch (clang -O0 makes
many). Then, with W the width of x:

    stop when x == 0, x >>u= 1   trips = W - clz(x)   sum of x & 1 = popcnt(x)   x ends 0
    stop when x & 1,  x >>u= 1   trips = ctz(x)                                  x ends x >>u ctz(x)
    stop when x <s 0, x <<= 1    trips = clz(x)                                  x ends x << clz(x)
    stop when x == 0, x <<= 1    trips = W - ctz(x)                              x ends 0

and the loop becomes the counters' closed forms followed by x's final value. The two shapes
clang emits are recognised: `block loop <test> br_if 1 <step> br 0 end end` (tested first) and
`loop <step, test> br_if 0 end` (tested last, as at -O2: one trip is kept in front of the closed
form, and the test is restated on the shifted x). A loop that never ends for x == 0 (ctz, clz)
still never ends: the closed form is guarded by `if (x == 0) loop br 0 end`.
The result flows on through the locals; nothing requires the loop to be a whole expression.

At -O0 clang keeps x and the counters in the stack frame: full-width loads and stores at fixed
offsets from a frame-pointer local the loop never writes are variables like locals. The slots may
not overlap, and the closed form touches a slot whatever x is only when it ends no later than a
slot the loop's test reads on entry (so it cannot trap where the loop did not).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from jeet.wasm.ir import Instr
from jeet.wasm.types import EMPTY_BLOCK, I32, I64, ValType

from ._ops import BLOCK, BR, BR_IF, LOCAL_GET, LOOP
from ._rewrite import CONTROL, WIDTH, I, block_local, local_writes, rewrite_one_site
from ._symbolic import State, boolean, commuted, constant, evaluate, truth
from .operator import Genome, Operator
from .sites import Facts

__all__ = ["IdiomBits", "BitLoop", "find_bit_loops", "closed_form"]

Tree = tuple


@dataclass(frozen=True, slots=True)
class BitLoop:
    """Instructions [start, stop) form a bit loop over local `x` of type `vtype`.

    `left`: x shifts left; `stop_on`: "zero", "low_set" or "high_set" (the test, before a trip);
    `counters`: (local, type, "add" | "bits" | "xorbits" | "toggle", k); `prelude`: one trip run
    before the closed form (the tested-last shape)."""

    start: int
    stop: int
    x: int
    vtype: ValType
    left: bool
    stop_on: str
    counters: tuple[tuple[int, ValType, str, int], ...]
    prelude: tuple[Instr, ...] = ()
    frame: int = -1  # the local holding the stack-frame address, when x or counters live in the frame


def _t(vtype: ValType) -> str:
    return "i32" if vtype == I32 else "i64"


def _step(tree: Tree, x: int) -> tuple[ValType, bool] | None:
    """(type, left) when `tree` is x shifted by one bit."""
    for vtype in (I32, I64):
        t = _t(vtype)
        if len(tree) == 3 and tree[1] == ("local", x) and constant(tree[2], vtype) == 1:
            if tree[0] == f"{t}.shr_u":
                return vtype, False
            if tree[0] == f"{t}.shl":
                return vtype, True
    return None


def _low_bit(tree: Tree, x: int, t: str) -> bool:
    return any(a == ("local", x) and constant(b) == 1 for a, b in commuted(tree, f"{t}.and"))


def _low_bit_as(tree: Tree, x: int, t: str, ct: str) -> bool:
    """x & 1, converted from x's type `t` to the counter's type `ct`."""
    if ct == t:
        return _low_bit(tree, x, t)
    convert = "i32.wrap_i64" if ct == "i32" else "i64.extend_i32_u"
    return len(tree) == 2 and tree[0] == convert and _low_bit(tree[1], x, t)


def _counter(tree: Tree, c: int, x: int, t: str, ct: str) -> tuple[str, int] | None:
    """How a counter c changes per trip: ("add", k), ("bits", 0), ("xorbits", 0) or ("toggle", 0)."""
    for a, b in commuted(tree, f"{ct}.add"):
        if a == ("local", c):
            if (k := constant(b)) is not None:
                return "add", k
            if _low_bit_as(b, x, t, ct):
                return "bits", 0
    if tree[0] == f"{ct}.sub" and tree[1] == ("local", c) and (k := constant(tree[2])) is not None:
        return "add", -k
    for a, b in commuted(tree, f"{ct}.xor"):
        if a == ("local", c) and _low_bit_as(b, x, t, ct):
            return "xorbits", 0
    # c = (x & 1) ? !c : c, as clang -O2 writes `if (x & 1) c = !c;`
    if ct == "i32" and tree[0] == "select" and tree[2] == ("local", c) and boolean(tree[1]) \
            and truth(tree[1]) == (True, ("local", c)):
        negated, core = truth(tree[3])
        if not negated and _low_bit_as(core, x, t, "i32"):
            return "toggle", 0
    return None


def _test(tree: Tree, x: int, vtype: ValType) -> str | None:
    """What a branch condition (nonzero = taken) tests about x: "zero", "nonzero", "low_set",
    "low_clear", "high_set", "high_clear"."""
    negated, core = truth(tree)
    found = _core_test(core, x, vtype)
    return _NEGATE[found] if negated and found is not None else found


def _core_test(tree: Tree, x: int, vtype: ValType) -> str | None:
    t = _t(vtype)
    X = ("local", x)
    w = WIDTH[vtype]
    if tree == (f"{t}.eqz", X) or any(a == X and constant(b) == 0 for a, b in commuted(tree, f"{t}.eq")):
        return "zero"
    if vtype == I32 and tree == X or any(a == X and constant(b) == 0 for a, b in commuted(tree, f"{t}.ne")):
        return "nonzero"
    if vtype == I32 and _low_bit(tree, x, t):
        return "low_set"
    if vtype == I32 and any(a == X and constant(b) == 1 << (w - 1) for a, b in commuted(tree, "i32.and")):
        return "high_set"
    if tree == (f"{t}.lt_s", X, ("const", vtype, 0)) or vtype == I32 and tree == ("i32.shr_u", X, ("const", I32, 31)):
        return "high_set"
    if tree == (f"{t}.ge_s", X, ("const", vtype, 0)) or tree == (f"{t}.gt_s", X, ("const", vtype, (1 << w) - 1)):
        return "high_clear"
    return None


_NEGATE = {"zero": "nonzero", "nonzero": "zero", "low_set": "low_clear", "low_clear": "low_set",
           "high_set": "high_clear", "high_clear": "high_set"}


def _after_step(tree: Tree, x: int, vtype: ValType, left: bool) -> str | None:
    """A test of the unshifted x restated as a test of the shifted one (tested-last loops)."""
    t = _t(vtype)
    X = ("local", x)
    stepped = (f"{t}.shl" if left else f"{t}.shr_u", X, ("const", vtype, 1))
    # the test may read x after the step: substitute
    direct = _test(_substitute(tree, stepped, ("local", -1)), -1, vtype)
    if direct is not None:
        return direct
    if not left:
        if tree in ((f"{t}.gt_u", X, ("const", vtype, 1)), (f"{t}.ge_u", X, ("const", vtype, 2))):
            return "nonzero"
        if vtype == I32 and tree[0] == "i32.eqz" and any(a == X and constant(b) == 2
                                                          for a, b in commuted(tree[1], "i32.and")):
            return "low_clear"
    return None


def _substitute(tree: Tree, old: Tree, new: Tree) -> Tree:
    if tree == old:
        return new
    if tree[0] in ("local", "const", "fconst", "outer"):
        return tree
    return (tree[0], *(_substitute(c, old, new) for c in tree[1:]))


def _classify(state: State, written: set[int], temps: frozenset[int], local_types) -> tuple | None:
    """(x, type, left, counters) when the locals a trip writes make it a bit loop."""
    shifts = [(k, s) for k in written if k not in temps and (s := _step(state.local(k), k)) is not None]
    if len(shifts) != 1:
        return None
    x, (vtype, left) = shifts[0]
    counters = []
    for k in sorted(written, key=lambda v: (isinstance(v, tuple), v if isinstance(v, int) else v[1])):
        if k == x or k in temps:
            continue
        ct = k[2] if isinstance(k, tuple) else local_types[k]
        if ct not in WIDTH:
            return None
        how = _counter(state.local(k), k, x, _t(vtype), _t(ct))
        if how is None:
            return None
        counters.append((k, ct, *how))
    return x, vtype, left, tuple(counters)


# The families that have a closed form: (left, stop_on) -> counters of x & 1 allowed?
_FAMILIES = {(False, "zero"): True, (False, "low_set"): True, (True, "high_set"): False, (True, "zero"): False}


def find_bit_loops(f: Facts) -> tuple[BitLoop, ...]:
    instrs, ends = f.instrs, f.ends
    temps = None
    out = []
    for s, ins in enumerate(instrs):
        if not f.live[s] or ins.imm != (EMPTY_BLOCK,):
            continue
        if ins.op == BLOCK and instrs[s + 1].op == LOOP and instrs[s + 1].imm == (EMPTY_BLOCK,):
            e = ends[s + 1]
            if ends[s] != e + 1 or instrs[e - 1] != Instr(BR, (0,)):
                continue
            exits = [q for q in range(s + 2, e - 1) if instrs[q].op in CONTROL]
            if len(exits) != 1 or instrs[exits[0]] != Instr(BR_IF, (1,)):
                continue
            temps = block_local(instrs, len(f.params)) if temps is None else temps
            found = next(filter(None, (_top_tested(f, s, exits[0], e, temps, frame)
                                       for frame in _frames(instrs, s + 2, e))), None)
        elif ins.op == LOOP:
            e = ends[s]
            if instrs[e - 1] != Instr(BR_IF, (0,)) or any(instrs[q].op in CONTROL for q in range(s + 1, e - 1)):
                continue
            temps = block_local(instrs, len(f.params)) if temps is None else temps
            found = next(filter(None, (_bottom_tested(f, s, e, temps, frame)
                                       for frame in _frames(instrs, s + 1, e))), None)
        else:
            continue
        if found is not None:
            out.append(found)
    return tuple(out)


def _frames(instrs: Sequence[Instr], start: int, stop: int) -> list[int]:
    """-1 (locals only), then each local the loop reads full-width slots through and never writes:
    clang -O0 keeps a loop's state in its stack frame."""
    written = local_writes(instrs, start, stop)
    bases = {instrs[k - 1].imm[0] for k in range(start + 1, stop)
             if instrs[k].op in (0x28, 0x29, 0x36, 0x37) and instrs[k - 1].op == LOCAL_GET}
    return [-1] + sorted(bases - written)


def _width(key) -> int:
    return 4 if key[2] == I32 else 8


def _slots_apart(touched: list) -> bool:
    """Distinct frame slots never overlap (a slot is always read and written at one type)."""
    spans = sorted({(k[1], k[1] + _width(k)) for k in touched})
    return all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))


def _top_tested(f: Facts, s: int, q: int, e: int, temps: frozenset[int], frame: int = -1) -> BitLoop | None:
    instrs = f.instrs
    test = evaluate(instrs, s + 2, q, frame=frame)
    if test is None or test.outer or len(test.stack) != 1:
        return None
    if any(k not in temps for k in test.env):
        return None  # the test writes state: its last run would matter
    state = evaluate(instrs, q + 1, e - 1, test.env, frame=frame)
    if state is None or state.outer or state.stack or not _slots_apart(test.touched + state.touched):
        return None
    shape = _classify(state, set(state.env), temps, f.local_types)
    if shape is None:
        return None
    x, vtype, left, counters = shape
    if frame >= 0:
        # The closed form touches x's and the counters' slots whatever x is; the loop surely
        # touched the slots its test reads. A slot ending no later than one of those cannot trap
        # where they did not (same frame address, smaller offset + width).
        reach = max((k[1] + _width(k) for k in test.touched), default=-1)
        if any(isinstance(v, tuple) and v[1] + _width(v) > reach for v in [x] + [c[0] for c in counters]):
            return None
    stop_on = _test(test.stack[0], x, vtype)
    if (left, stop_on) not in _FAMILIES or (not _FAMILIES[(left, stop_on)] and any(c[2] != "add" for c in counters)):
        return None
    if stop_on == "low_set" and any(c[2] == "xorbits" for c in counters):
        return None
    return BitLoop(s, e + 2, x, vtype, left, stop_on, counters, frame=frame)


def _bottom_tested(f: Facts, s: int, e: int, temps: frozenset[int], frame: int = -1) -> BitLoop | None:
    instrs = f.instrs
    state = evaluate(instrs, s + 1, e - 1, frame=frame)
    if state is None or state.outer or len(state.stack) != 1 or not _slots_apart(state.touched):
        return None
    shape = _classify(state, set(state.env), temps, f.local_types)
    if shape is None:
        return None
    x, vtype, left, counters = shape
    go_on = _after_step(state.stack[0], x, vtype, left)
    stop_on = _NEGATE.get(go_on) if go_on is not None else None
    if (left, stop_on) not in _FAMILIES or (not _FAMILIES[(left, stop_on)] and any(c[2] != "add" for c in counters)):
        return None
    if stop_on == "low_set" and any(c[2] == "xorbits" for c in counters):
        return None
    # the trip kept in front touches every slot the closed form does before the closed form runs
    prelude = tuple(instrs[s + 1:e - 1]) + (I("drop"),)
    return BitLoop(s, e + 1, x, vtype, left, stop_on, counters, prelude, frame)


def _convert(src: ValType, dst: ValType) -> list[Instr]:
    if src == dst:
        return []
    return [I("i32.wrap_i64")] if dst == I32 else [I("i64.extend_i32_u")]


def closed_form(loop: BitLoop) -> list[Instr]:
    """The straight-line code that leaves every counter and x as the loop would."""
    t = _t(loop.vtype)
    w = WIDTH[loop.vtype]
    get = _reader(loop, loop.x)
    out: list[Instr] = list(loop.prelude)
    diverges = loop.stop_on in ("low_set", "high_set")
    if diverges:  # the loop never ends on x == 0: neither does its replacement
        out += get + [I(f"{t}.eqz"), I("if", EMPTY_BLOCK), I("loop", EMPTY_BLOCK), I("br", 0), I("end"), I("end")]
    trips = {
        (False, "zero"): [I(f"{t}.const", w), *get, I(f"{t}.clz"), I(f"{t}.sub")],
        (False, "low_set"): [*get, I(f"{t}.ctz")],
        (True, "high_set"): [*get, I(f"{t}.clz")],
        (True, "zero"): [I(f"{t}.const", w), *get, I(f"{t}.ctz"), I(f"{t}.sub")],
    }[(loop.left, loop.stop_on)]
    for c, ct, how, k in loop.counters:
        tc = _t(ct)
        old = _reader(loop, c)
        if how == "add":
            amount = trips + _convert(loop.vtype, ct)
            if k != 1:
                amount += [I(f"{tc}.const", k), I(f"{tc}.mul")]
            value = old + amount + [I(f"{tc}.add")]
        elif loop.stop_on == "low_set":
            continue  # every trip of a ctz loop sees a clear low bit: the counter keeps its value
        elif how == "toggle":
            # n = popcnt(x) toggles: c stays for n = 0, else !c for odd n and !!c for even n
            ones = [*get, I(f"{t}.popcnt")] + _convert(loop.vtype, I32)
            value = (old + [I("i32.eqz")] + old + [I("i32.const", 0), I("i32.ne")] + ones
                     + [I("i32.const", 1), I("i32.and"), I("select")] + old + ones + [I("select")])
        else:
            amount = [*get, I(f"{t}.popcnt")] + ([I(f"{t}.const", 1), I(f"{t}.and")] if how == "xorbits" else [])
            value = old + amount + _convert(loop.vtype, ct) + [I(f"{tc}.xor" if how == "xorbits" else f"{tc}.add")]
        out += _writer(loop, c, value)
    final = {
        (False, "zero"): [I(f"{t}.const", 0)],
        (False, "low_set"): [*get, *get, I(f"{t}.ctz"), I(f"{t}.shr_u")],
        (True, "high_set"): [*get, *get, I(f"{t}.clz"), I(f"{t}.shl")],
        (True, "zero"): [I(f"{t}.const", 0)],
    }[(loop.left, loop.stop_on)]
    return out + _writer(loop, loop.x, final)


def _reader(loop: BitLoop, v) -> list[Instr]:
    """Code that pushes variable v: a local, or a frame slot `("mem", offset, type)`."""
    if isinstance(v, int):
        return [I("local.get", v)]
    return [I("local.get", loop.frame), I("i32.load" if v[2] == I32 else "i64.load", 2 if v[2] == I32 else 3, v[1])]


def _writer(loop: BitLoop, v, value: list[Instr]) -> list[Instr]:
    """Code that stores what `value` computes into variable v."""
    if isinstance(v, int):
        return value + [I("local.set", v)]
    return ([I("local.get", loop.frame)] + value
            + [I("i32.store" if v[2] == I32 else "i64.store", 2 if v[2] == I32 else 3, v[1])])


def replace_loop(f: Facts, loop: BitLoop):
    """The body with `loop` replaced by its closed form."""
    return f.body.with_instrs(f.instrs[:loop.start] + tuple(closed_form(loop)) + f.instrs[loop.stop:])


class IdiomBits(Operator):
    name = "idiom_bits"

    def propose(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        return rewrite_one_site(parents[0], rng, "bit_loops", find_bit_loops, replace_loop)

