"""The static half of the runtime's contract: does a function keep state between calls?

A function may be served as evolvable only if nothing it does can be seen by a later call:
no memory write outside the shadow-stack scratch region and no global write other than a
stack pointer restored on exit. `observable_state(wasm, function)` proves that on the IR or
names the first instruction it cannot clear; testing never decides it (the runtime's
dynamic check can only refute).

The rule is deliberately conservative until the shared ABI module (shadow-stack pointer
detection) lands:

* the stack pointer is the one mutable i32 global any reachable function sets (when none
  sets one: the first defined, unexported mutable i32 global, as clang emits); every set
  of it is its entry value minus a known constant, happens at function level (not inside
  a block), and the function ends by setting it back to its entry value, with no `return`
  or branch to the function label that could skip the restore;
* a store is scratch when its address is the entry stack pointer plus a known constant
  and the bytes it writes lie below the entry value (constants and the pointer travel
  through locals that are assigned one value only, as clang -O0 does);
* `memory.grow`, bulk memory, table writes and segment drops are always state.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import wasm as codec
from ..wasm.analysis import analyze
from ..wasm.module import GLOBAL
from ..wasm.types import I32

_STORE_WIDTH = {0x36: 4, 0x37: 8, 0x38: 4, 0x39: 8, 0x3A: 1, 0x3B: 2, 0x3C: 1, 0x3D: 2, 0x3E: 4}
_STATEFUL_OPS = {
    0x40: "memory.grow", 0x26: "table.set", 0xFC08: "memory.init", 0xFC09: "data.drop",
    0xFC0A: "memory.copy", 0xFC0B: "memory.fill", 0xFC0C: "table.init", 0xFC0D: "elem.drop",
    0xFC0E: "table.copy", 0xFC0F: "table.grow", 0xFC11: "table.fill",
}
_BLOCKS = (0x02, 0x03, 0x04)
_END, _ELSE, _BR, _BR_IF, _BR_TABLE, _RETURN = 0x0B, 0x05, 0x0C, 0x0D, 0x0E, 0x0F
_LOCAL_GET, _LOCAL_SET, _LOCAL_TEE, _GLOBAL_GET, _GLOBAL_SET = 0x20, 0x21, 0x22, 0x23, 0x24
_I32_CONST, _I32_ADD, _I32_SUB = 0x41, 0x6A, 0x6B


@dataclass(frozen=True, slots=True)
class _V:
    """An abstract i32: a known constant, or the entry stack pointer plus a known offset."""

    kind: str  # "const" | "sp"
    n: int


_TOP = None  # anything else
_UNSET = _V("unset", 0)  # a local no assignment has reached yet


def _join(a: _V | None, b: _V | None) -> _V | None:
    return a if a == b else _TOP


def _add(a, b, sign: int):
    if a is _TOP or b is _TOP or (a.kind == "sp" and b.kind == "sp"):
        return _TOP
    if b.kind == "sp":
        return _V("sp", b.n + a.n) if sign > 0 else _TOP
    n = a.n + sign * b.n
    return _V(a.kind, n if a.kind == "sp" else ((n + (1 << 31)) % (1 << 32)) - (1 << 31))


class _Stateful(Exception):
    pass


def observable_state(wasm: bytes, function: str) -> str | None:
    """None when `function` provably keeps no state between calls; otherwise why not (one line)."""
    module = codec.decode(wasm)
    index = module.export_func(function)
    if index is None:
        return f"no exported function {function!r}"
    reach = sorted(module.reachable_functions(index))
    sets = {(f, i.imm[0]) for f in reach if f >= module.num_imported_funcs
            for i in (module.bodies[module.defined_index(f)].instrs or ())
            if i.op == _GLOBAL_SET}
    targets = {g for _, g in sets}
    if len(targets) > 1:
        return f"writes {len(targets)} globals (only a stack pointer restored on exit is allowed)"
    sp = next(iter(targets), None)
    if sp is None:
        sp = _unwritten_stack_pointer(module)
    else:
        gt = module.global_types[sp]
        if gt.type != I32 or not gt.mutable:
            return f"writes global {sp}, which is not a stack pointer"
    for f in reach:
        if f < module.num_imported_funcs:
            return f"calls imported function {f}"
        body = module.bodies[module.defined_index(f)]
        if body.opaque:
            return f"function {f} has a body jeet cannot read"
        try:
            _check_function(module, f, sp)
        except _Stateful as exc:
            return f"function {f}: {exc}"
    return None


def _unwritten_stack_pointer(module) -> int | None:
    """clang's `__stack_pointer` in a leaf function that never moves it: the first defined global
    that is a mutable i32 and not exported (what the toolchain emits as global 0)."""
    exported = {e.index for e in module.exports if e.kind == GLOBAL}
    first = module.num_imported_globals
    for g, gt in enumerate(module.global_types[first:], start=first):
        if gt.type == I32 and gt.mutable and g not in exported:
            return g
    return None


def _check_function(module, f: int, sp: int | None) -> None:
    d = module.defined_index(f)
    body = module.bodies[d]
    instrs = body.instrs
    infos = analyze(module, d)
    nparams = len(module.func_type(f).params)
    for i, ins in enumerate(instrs):
        name = _STATEFUL_OPS.get(ins.op)
        if name is not None:
            raise _Stateful(f"{name} at instruction {i} changes memory or tables for later calls")
    locals_ = _local_values(instrs, infos, nparams, nparams + len(body.local_types()), sp)
    _walk(instrs, infos, locals_, sp, final=True)


def _first_is_top_level_set(instrs, infos, n_locals: int) -> set[int]:
    """Locals whose first mention is an assignment at function level: their zero start is never read."""
    seen: set[int] = set()
    safe: set[int] = set()
    for ins, info in zip(instrs, infos):
        if ins.op in (_LOCAL_GET, _LOCAL_SET, _LOCAL_TEE):
            x = ins.imm[0]
            if x not in seen:
                seen.add(x)
                if ins.op != _LOCAL_GET and info.depth == 0 and info.reachable:
                    safe.add(x)
    return safe


def _local_values(instrs, infos, nparams: int, n_locals: int, sp: int | None) -> dict[int, _V | None]:
    """Each local's one value, flow-insensitively (the join of every assignment), to a fixed point."""
    safe = _first_is_top_level_set(instrs, infos, n_locals)
    start = {x: _TOP if x < nparams else (_UNSET if x in safe else _V("const", 0)) for x in range(n_locals)}
    values = dict(start)
    for _ in range(8):
        assigned = _walk(instrs, infos, values, sp, final=False)
        new = {}
        for x, v in start.items():
            for a in assigned.get(x, ()):
                v = a if v is _UNSET else _join(v, a)
            new[x] = v
        if new == values:
            break
        values = new
    return {x: (_TOP if v is _UNSET else v) for x, v in values.items()}



def _walk(instrs, infos, locals_, sp: int | None, *, final: bool) -> dict[int, list]:
    """Abstractly run one body; with `final`, raise _Stateful at the first write that may be seen later."""
    stack: list = []
    frames = [0]
    assigned: dict[int, list] = {}
    gval = _V("sp", 0)
    restored = True
    for i, (ins, info) in enumerate(zip(instrs, infos)):
        op = ins.op
        base = frames[-1] + info.height
        del stack[base:]
        stack.extend([_TOP] * (base - len(stack)))
        if not info.reachable and op not in (_END, _ELSE) and op not in _BLOCKS:
            stack.extend([_TOP] * len(info.pushes))  # dead code: its values do not matter
            continue
        npop = len(info.pops)
        args = stack[len(stack) - npop:] if npop else []
        del stack[len(stack) - npop:]
        if op in _BLOCKS:
            stack.extend([_TOP] * len(info.pushes))
            frames.append(len(stack) - len(info.pushes))
            continue
        if op == _END:
            if len(frames) > 1:
                base = frames.pop()
                del stack[base:]
            stack.extend([_TOP] * len(info.pushes))
            continue
        if op == _ELSE:
            stack.extend([_TOP] * len(info.pushes))
            continue
        out = _TOP
        if op == _I32_CONST:
            out = _V("const", ins.imm[0])
        elif op == _LOCAL_GET:
            v = locals_.get(ins.imm[0], _TOP)
            out = _TOP if v is _UNSET else v
        elif op in (_LOCAL_SET, _LOCAL_TEE):
            assigned.setdefault(ins.imm[0], []).append(args[0])
            out = args[0]
        elif op == _GLOBAL_GET:
            out = gval if ins.imm[0] == sp else _TOP
        elif op in (_I32_ADD, _I32_SUB):
            out = _add(args[0], args[1], 1 if op == _I32_ADD else -1)
        elif op == _GLOBAL_SET:
            v = args[0]
            if final and info.depth != 0:
                raise _Stateful(f"sets the stack pointer inside a block (instruction {i})")
            if v is _TOP or v.kind != "sp" or v.n > 0:
                if final:
                    raise _Stateful(f"sets global {ins.imm[0]} to a value that is not its entry value minus "
                                    f"a constant (instruction {i})")
                v = _TOP
            gval, restored = v, v is not _TOP and v.n == 0
        elif final and op in (_RETURN, _BR, _BR_IF, _BR_TABLE) and not restored:
            labels = () if op == _RETURN else (*ins.imm[0], ins.imm[1]) if op == _BR_TABLE else (ins.imm[0],)
            if op == _RETURN or any(lab >= info.depth for lab in labels):
                raise _Stateful(f"may leave with the stack pointer lowered (instruction {i})")
        elif final and op in _STORE_WIDTH:
            addr = args[0]
            offset = ins.imm[1]
            width = _STORE_WIDTH[op]
            if addr is _TOP or addr.kind != "sp" or addr.n + offset + width > 0:
                raise _Stateful(f"{ins.name} at instruction {i} writes memory outside the stack scratch region")
        if info.pushes:
            stack.append(out)
            stack.extend([_TOP] * (len(info.pushes) - 1))
    if final and not restored:
        raise _Stateful("ends with the stack pointer lowered")
    return assigned
