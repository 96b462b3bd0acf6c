"""Straight-line symbolic evaluation: what a stretch of code computes, as expression trees.

A tree is a tuple: `("local", k)` is local k's value where the stretch starts, `("const", T, v)`
a constant (v unsigned), `("outer", n)` the n-th value the stretch found on the stack below it,
`("opaque", k)` what an instruction that is not modelled pushed at k,
and `(name, *children)` an instruction by its text name (`("i32.add", a, b)`). Values that pass
through locals stay one tree, so `local.get 0 local.set 5 local.get 5 i32.popcnt` and
`local.get 0 i32.popcnt` evaluate alike. Only instructions without effects besides locals are
modelled; anything else ends the evaluation (None).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from jeet.wasm.ir import Instr
from jeet.wasm.opcodes import OPCODES

from ._ops import CONST_TYPE, DROP, LOCAL_GET, LOCAL_SET, LOCAL_TEE, NOP
from jeet.wasm.types import I32, I64

from ._rewrite import PURE, WIDTH, unsigned

__all__ = ["State", "boolean", "commuted", "const", "constant", "evaluate", "leaves", "step", "truth"]

Tree = tuple

_SELECT = 0x1B


def const(vtype: int, value: int) -> Tree:
    return ("const", vtype, unsigned(value, vtype))


@dataclass
class State:
    """Operand stack and local environment during an evaluation.

    With a `frame` (a local holding a clang -O0 stack-frame address), full-width loads and stores
    at `frame + offset` are variables too: their key is `("mem", offset, type)` and `touched` lists
    the keys accessed, in order."""

    stack: list
    env: dict
    outer: int = 0
    frame: int = -1
    touched: list = field(default_factory=list)

    def local(self, k) -> Tree:
        return self.env.get(k, ("local", k))


_FULL_LOADS = {0x28: I32, 0x29: I64}
_FULL_STORES = {0x36: I32, 0x37: I64}


def step(state: State, ins: Instr) -> bool:
    """Advance `state` over one instruction; False when it is not modelled."""
    op = ins.op
    stack = state.stack
    if state.frame >= 0 and (op in _FULL_LOADS or op in _FULL_STORES):
        frame = ("local", state.frame)
        if op in _FULL_LOADS and stack and stack[-1] == frame:
            key = ("mem", ins.imm[1], _FULL_LOADS[op])
            stack[-1] = state.local(key)
        elif op in _FULL_STORES and len(stack) >= 2 and stack[-2] == frame:
            key = ("mem", ins.imm[1], _FULL_STORES[op])
            state.env[key] = stack.pop()
            stack.pop()
        else:
            return False
        state.touched.append(key)
    elif op == LOCAL_GET:
        stack.append(state.local(ins.imm[0]))
    elif op == LOCAL_SET or op == LOCAL_TEE:
        value = _pop(state)
        state.env[ins.imm[0]] = value
        if op == LOCAL_TEE:
            stack.append(value)
    elif op in CONST_TYPE:
        vtype = CONST_TYPE[op]
        stack.append(const(vtype, ins.imm[0]) if vtype in WIDTH else ("fconst", vtype, ins.imm[0]))
    elif op == DROP:
        _pop(state)
    elif op == NOP:
        pass
    elif op == _SELECT:
        c, b, a = _pop(state), _pop(state), _pop(state)
        stack.append(("select", a, b, c))
    elif op in PURE and op != 0x23 and not OPCODES[op].imm:
        # (global.get: its value may change between stretches; an instruction with immediates,
        # such as a lane index, is more than its name)
        pops, pushes = OPCODES[op].sig
        args = [_pop(state) for _ in pops][::-1]
        stack.append((OPCODES[op].name, *args))
    else:
        return False
    return True


def _pop(state: State) -> Tree:
    if state.stack:
        return state.stack.pop()
    state.outer += 1
    return ("outer", state.outer)


def evaluate(instrs: Sequence[Instr], start: int, stop: int, env: dict | None = None,
             infos: Sequence | None = None, frame: int = -1) -> State | None:
    """The state after instrs[start:stop] from an empty stack, or None if some instruction is not
    modelled. Given the body's typing `infos`, an instruction that is not modelled instead yields
    opaque values `("opaque", k)` (the range must hold no control instructions then). `frame`: see
    `State`."""
    state = State([], dict(env or {}), frame=frame)
    for k in range(start, stop):
        if not step(state, instrs[k]):
            if infos is None:
                return None
            for _ in infos[k].pops:
                _pop(state)
            state.stack.extend([("opaque", k)] * len(infos[k].pushes))
    return state


_LEAF_KINDS = frozenset(("local", "outer", "opaque", "const", "fconst"))


def leaves(tree: Tree) -> set[Tree]:
    """The `local`, `outer`, `opaque` and constant leaves of a tree.

    Trees share subtrees (a value kept in a local is used again), so a walk that visits every path
    is exponential in the depth of that sharing (seconds for one loop of fib -O2); each shared node is
    visited once."""
    out: set[Tree] = set()
    seen: set[int] = set()
    todo = [tree]
    while todo:
        t = todo.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if t[0] in _LEAF_KINDS:
            out.add(t)
        else:
            todo.extend(t[1:])
    return out


def constant(tree: Tree, vtype: int | None = None) -> int | None:
    """The (unsigned) value of a constant tree, of type `vtype` if given; None otherwise."""
    if tree[0] == "const" and (vtype is None or tree[1] == vtype):
        return tree[2]
    return None


def commuted(tree: Tree, name: str) -> list[tuple[Tree, Tree]]:
    """The operand pairs of a commutative node named `name`, both ways round (none for another node)."""
    if tree[0] != name or len(tree) != 3:
        return []
    return [(tree[1], tree[2]), (tree[2], tree[1])]


_COMPARISONS = frozenset(f"{t}.{r}" for t in ("i32", "i64", "f32", "f64")
                         for r in ("eqz", "eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s",
                                   "ge_u", "lt", "gt", "le", "ge"))


def boolean(tree: Tree) -> bool:
    """Whether the value is always 0 or 1."""
    return tree[0] in _COMPARISONS or (tree[0] == "i32.and" and ("const", I32, 1) in tree[1:])


def truth(tree: Tree) -> tuple[bool, Tree]:
    """(negated, core): `tree` is nonzero exactly when `core` is nonzero, or zero when `negated`.

    Sees through what clang -O0 wraps a condition in: `c != 0`, `c == 0`, `(b ^ -1) & 1`, `b & 1`,
    `b ^ 1` (b a 0-or-1 value; `b ^ -1` alone is never zero)."""
    negated = False
    while True:
        op = tree[0]
        if op == "i32.eqz":
            negated, tree = not negated, tree[1]
            continue
        pairs = commuted(tree, op) if op in ("i32.ne", "i32.eq", "i32.and", "i32.xor") else []
        for a, b in pairs:
            k = constant(b, I32)
            if op == "i32.ne" and k == 0 or op == "i32.and" and k == 1 and boolean(a):
                tree = a
                break
            if op == "i32.eq" and k == 0 or op == "i32.xor" and k == 1 and boolean(a):
                negated, tree = not negated, a
                break
            if op == "i32.and" and k == 1 and a[0] == "i32.xor" and ("const", I32, 0xFFFFFFFF) in a[1:]:
                inner = a[1] if a[2] == ("const", I32, 0xFFFFFFFF) else a[2]
                if boolean(inner):
                    negated, tree = not negated, inner
                    break
        else:
            return negated, tree
