"""Straight-line symbolic evaluation: what a stretch of code computes, as expression trees.

A tree is a tuple: `("local", k)` is local k's value where the stretch starts, `("const", T, v)`
a constant (v unsigned), `("outer", n)` the n-th value the stretch found on the stack below it,
and `(name, *children)` an instruction by its text name (`("i32.add", a, b)`). Values that pass
through locals stay one tree, so `local.get 0 local.set 5 local.get 5 i32.popcnt` and
`local.get 0 i32.popcnt` evaluate alike. Only instructions without effects besides locals are
modelled; anything else ends the evaluation (None).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from jeet.wasm.ir import Instr
from jeet.wasm.opcodes import OPCODES

from ._ops import CONST_TYPE, DROP, LOCAL_GET, LOCAL_SET, LOCAL_TEE, NOP
from ._rewrite import PURE, WIDTH, unsigned

__all__ = ["State", "const", "evaluate", "leaves", "step"]

Tree = tuple

_SELECT = 0x1B


def const(vtype: int, value: int) -> Tree:
    return ("const", vtype, unsigned(value, vtype))


@dataclass
class State:
    """Operand stack and local environment during an evaluation."""

    stack: list
    env: dict[int, Tree]
    outer: int = 0

    def local(self, k: int) -> Tree:
        return self.env.get(k, ("local", k))


def step(state: State, ins: Instr) -> bool:
    """Advance `state` over one instruction; False when it is not modelled."""
    op = ins.op
    stack = state.stack
    if op == LOCAL_GET:
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
    elif op in PURE and op != 0x23:  # global.get: its value may change between stretches
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


def evaluate(instrs: Sequence[Instr], start: int, stop: int, env: dict[int, Tree] | None = None) -> State | None:
    """The state after instrs[start:stop] from an empty stack, or None if some instruction is not modelled."""
    state = State([], dict(env or {}))
    for k in range(start, stop):
        if not step(state, instrs[k]):
            return None
    return state


def leaves(tree: Tree) -> set[Tree]:
    """The `local`, `outer` and constant leaves of a tree."""
    if tree[0] in ("local", "outer", "const", "fconst"):
        return {tree}
    out: set[Tree] = set()
    for child in tree[1:]:
        out |= leaves(child)
    return out
