"""The C/Rust shadow-stack ABI, read from the IR: which global is the stack pointer, and how far below it a call
may write its frames.

clang and rustc keep a function's address-taken locals in linear memory, in a frame carved below a mutable
i32 global (`__stack_pointer`): the prologue reads it, subtracts the frame size, writes it back, and the
epilogue restores it. Bytes in `[sp - frame, sp)` at entry belong to the call; once it returns they are dead.
jeet treats exactly those bytes as *scratch*: dropping a dead frame store is not a change of behaviour, every
other byte of memory is (see `jeet.oracle` and `jeet.prove`).

The analysis is a small abstract interpretation of each body over the values "constant k" and "stack pointer
plus k", carried through the operand stack and through locals that are assigned one such value only. It is
deliberately conservative where it matters: a frame whose size is not a constant (alloca, recursion, indirect
calls) has no static bound (`frame_bytes` returns None), and callers then treat no byte as scratch.
"""

from __future__ import annotations

from dataclasses import dataclass

from .ir import Body
from .module import Module
from .opcodes import OPCODES
from .types import I32

__all__ = ["Scratch", "stack_pointer", "constant_slots", "frame_bytes", "frame_slots", "scratch", "state_writes"]

_GLOBAL_GET, _GLOBAL_SET = 0x23, 0x24
_LOCAL_GET, _LOCAL_SET, _LOCAL_TEE = 0x20, 0x21, 0x22
_I32_CONST, _I32_ADD, _I32_SUB = 0x41, 0x6A, 0x6B
_CALL, _CALL_INDIRECT = 0x10, 0x11
_STORES = range(0x36, 0x3F)  # i32.store .. i64.store32
_STORE_BYTES = {0x36: 4, 0x37: 8, 0x38: 4, 0x39: 8, 0x3A: 1, 0x3B: 2, 0x3C: 1, 0x3D: 2, 0x3E: 4}
_BLOCK_STARTS = (0x02, 0x03, 0x04)
_END, _BR, _BR_IF, _BR_TABLE, _RETURN = 0x0B, 0x0C, 0x0D, 0x0E, 0x0F
_EXITS = (_BR, _BR_IF, _BR_TABLE, _RETURN)
_MEMORY_GROW = 0x40
_BULK_WRITES = {0xFC08: "memory.init", 0xFC0A: "memory.copy", 0xFC0B: "memory.fill"}
_TABLE_WRITES = {0x26: "table.set", 0xFC0C: "table.init", 0xFC0E: "table.copy", 0xFC0F: "table.grow",
                 0xFC11: "table.fill"}

# An abstract value: ("c", k) a constant, ("sp", k) the stack pointer at entry plus k, or None (anything).
_Val = tuple[str, int] | None


@dataclass(frozen=True, slots=True)
class Scratch:
    """The shadow-stack scratch region of one exported function.

    `sp_global` is the stack pointer's global index, `sp_entry` its value when a call starts (its declared
    initial value: every call that returns restores it), `frame` the bytes the call tree itself uses below
    it (None: no static bound), `floor` where the free stack ends below: the end of the highest data segment
    under the stack pointer (clang's default layout puts static data there), else 0 (stack first).
    """

    sp_global: int
    sp_entry: int
    frame: int | None
    floor: int = 0

    @property
    def region(self) -> tuple[int, int]:
        """`[start, end)` of the scratch bytes: all of the free stack below the pointer at entry.

        The ABI gives the caller nothing there (its frames lie above the pointer, its data below the floor),
        so any implementation's frame may overwrite it: an implementation with a larger frame than the
        original's is not a change of behaviour either.
        """
        return self.floor, self.sp_entry


def _body(module: Module, func_index: int) -> Body | None:
    if func_index < module.num_imported_funcs:
        return None
    return module.bodies[module.defined_index(func_index)]


def _interpret(body: Body, nparams: int, sp: int, escapes: list[int] | None = None
               ) -> tuple[list[tuple[int, int, _Val]], list[_Val], list[int]]:
    """Abstract values at every `global.set`, store address and call of one body.

    Returns (stores as (instr index, offset, address value), values written to the `sp` global, direct callees).
    A local keeps its value only when every assignment in the body gives the same abstract value; parameters
    are unknown. `escapes`, if given, receives the indices of instructions where a frame address leaves the
    analysis' sight (stored, passed, compared, offset by a computed amount, kept in a local it cannot track).
    """
    instrs = body.instrs or ()
    first_set = _assigned_before_read(instrs)
    fixed: dict[int, _Val] = {}
    for _ in range(4):  # a few rounds reach the fixed point for the prologue chains compilers emit
        lost: list[int] = []
        assigned: dict[int, set] = {}
        stack: list[_Val] = []
        stores: list[tuple[int, int, _Val]] = []
        sp_sets: list[_Val] = []
        callees: list[int] = []
        current: _Val = ("sp", 0)  # the pointer's value now, as far as straight-line order tells
        for idx, ins in enumerate(instrs):
            op = ins.op
            if op == _I32_CONST:
                stack.append(("c", ins.imm[0]))
            elif op == _GLOBAL_GET:
                stack.append(current if ins.imm[0] == sp else None)
            elif op == _LOCAL_GET:
                i = ins.imm[0]
                stack.append(fixed.get(i) if i >= nparams else None)
            elif op in (_LOCAL_SET, _LOCAL_TEE):
                v = stack.pop() if stack else None
                assigned.setdefault(ins.imm[0], set()).add(v)
                if op == _LOCAL_TEE:
                    stack.append(v)
            elif op in (_I32_ADD, _I32_SUB):
                b = stack.pop() if stack else None
                a = stack.pop() if stack else None
                stack.append(_arith(op, a, b))
                if stack[-1] is None and _frame(a, b):
                    lost.append(idx)
            elif op == _GLOBAL_SET:
                v = stack.pop() if stack else None
                if ins.imm[0] == sp:
                    sp_sets.append(v)
                    current = v
            elif op in _STORES:
                if stack and _frame(stack.pop()):
                    lost.append(idx)
                addr = stack.pop() if stack else None
                stores.append((idx, ins.imm[1], addr))
            elif op == _CALL:
                callees.append(ins.imm[0])
                stack.clear()  # the callee's arity is not tracked: forget the operand stack
            else:
                # Every other instruction: pop its operands and push unknown results where its stack type is
                # fixed; otherwise forget the operand stack. Both only lose precision, never soundness.
                info = OPCODES.get(op)
                if info is not None and info.sig is not None:
                    pops, pushes = info.sig
                    popped = stack[max(0, len(stack) - len(pops)):]
                    if _frame(*popped) and not (0x28 <= op <= 0x35 and len(popped) == 1):  # a load's address
                        lost.append(idx)
                    del stack[max(0, len(stack) - len(pops)):]
                    stack.extend([None] * len(pushes))
                else:
                    if _frame(*stack):
                        lost.append(idx)
                    stack.clear()
        new = {i: next(iter(vals)) for i, vals in assigned.items() if len(vals) == 1 and i in first_set}
        if new == fixed:
            break
        fixed = new
    if escapes is not None:
        untracked = [i for i, vals in assigned.items() if i not in fixed and any(_frame(v) for v in vals)]
        escapes.extend(lost + [-1] * len(untracked))
    return stores, sp_sets, callees


def _frame(*values: _Val) -> bool:
    """Whether any of the abstract values is an address in the frame (the stack pointer plus k)."""
    return any(v is not None and v[0] == "sp" for v in values)


def _assigned_before_read(instrs) -> set[int]:
    """Locals whose first mention is an assignment at function level, outside every block: their
    zero start value is never read, so their one assigned value is the only one they hold."""
    seen: set[int] = set()
    safe: set[int] = set()
    depth = 0
    for ins in instrs:
        op = ins.op
        if op in _BLOCK_STARTS:
            depth += 1
        elif op == _END:
            depth -= 1
        elif op in (_LOCAL_GET, _LOCAL_SET, _LOCAL_TEE) and ins.imm[0] not in seen:
            seen.add(ins.imm[0])
            if op != _LOCAL_GET and depth == 0:
                safe.add(ins.imm[0])
    return safe


def _unrestored_exit(instrs, sp: int) -> str | None:
    """Why the stack pointer may be left moved on some way out although the last set restores it: a set
    inside a block (a loop may run it any number of times), or a `return` or branch out of the function
    between the first set and the last."""
    sets = [i for i, ins in enumerate(instrs) if ins.op == _GLOBAL_SET and ins.imm[0] == sp]
    if not sets:
        return None
    depth = 0
    for idx, ins in enumerate(instrs):
        op = ins.op
        if op in _BLOCK_STARTS:
            depth += 1
        elif op == _END:
            depth -= 1
        elif op == _GLOBAL_SET and ins.imm[0] == sp and depth > 0:
            return f"the stack pointer is set inside a block (instruction {idx})"
        elif sets[0] < idx < sets[-1] and op in _EXITS:
            labels = () if op == _RETURN else (*ins.imm[0], ins.imm[1]) if op == _BR_TABLE else (ins.imm[0],)
            if op == _RETURN or any(label >= depth for label in labels):
                return f"it may return with the stack pointer moved (instruction {idx})"
    return None


def _arith(op: int, a: _Val, b: _Val) -> _Val:
    if a is None or b is None:
        return None
    if op == _I32_ADD:
        if a[0] == "c" and b[0] == "c":
            return ("c", a[1] + b[1])
        if a[0] == "sp" and b[0] == "c":
            return ("sp", a[1] + b[1])
        if a[0] == "c" and b[0] == "sp":
            return ("sp", a[1] + b[1])
        return None
    if b[0] != "c":
        return None
    return (a[0], a[1] - b[1])


def stack_pointer(module: Module) -> int | None:
    """The global index of the shadow-stack pointer, or None when no function keeps a frame below one.

    It is the first defined mutable i32 global, initialised by a constant, that some function lowers by a
    constant (`global.get g; i32.const N; i32.sub; ... global.set g`) or stores below (a leaf function at -O0
    keeps its frame below the pointer without moving it).
    """
    cached = module._cache.get("abi_sp", ())
    if cached != ():
        return cached
    found = None
    nimp = module.num_imported_globals
    for d, g in enumerate(module.globals):
        if g.type.type != I32 or not g.type.mutable or not _const_init(g):
            continue
        index = nimp + d
        for f, body in enumerate(module.bodies):
            if body.instrs is None:
                continue
            nparams = len(module.func_type(module.func_index(f)).params)
            stores, sets, _ = _interpret(body, nparams, index)
            if any(v is not None and v[0] == "sp" and v[1] < 0 for v in sets) or any(
                    a is not None and a[0] == "sp" and a[1] + off < 0 for _, off, a in stores):
                found = index
                break
        if found is not None:
            break
    module._cache["abi_sp"] = found
    return found


def _own_frame(stores: list[tuple[int, int, _Val]], sets: list[_Val]) -> int | None:
    """Bytes below the entry stack pointer one body lowers the pointer by or stores into; None: unbounded."""
    deepest = 0
    for v in sets:
        if v is None or v[0] != "sp":
            return None
        deepest = max(deepest, -v[1])
    for _, offset, addr in stores:
        if addr is not None and addr[0] == "sp" and addr[1] + offset < 0:
            deepest = max(deepest, -(addr[1] + offset))
    return deepest


def frame_slots(module: Module, func_index: int) -> tuple[tuple[int, int], ...] | None:
    """The slots a body stores into in its own frame, as (displacement from the entry stack pointer, bytes):
    where clang -O0 keeps each C variable. None when a frame address escapes the analysis (an array in the
    frame, a local's address passed on): then some access to the frame is not one of these slots. () without
    a stack pointer."""
    sp = stack_pointer(module)
    body = _body(module, func_index)
    if sp is None or body is None or body.instrs is None:
        return None if body is None or body.instrs is None else ()
    escapes: list[int] = []
    stores, _, _ = _interpret(body, len(module.func_type(func_index).params), sp, escapes)
    if escapes:
        return None
    slots = {(addr[1] + offset, _STORE_BYTES[body.instrs[k].op]) for k, offset, addr in stores
             if addr is not None and addr[0] == "sp" and addr[1] + offset < 0}
    return tuple(sorted(slots))


def constant_slots(module: Module, func_index: int) -> tuple[tuple[int, int], ...]:
    """The fixed addresses a body stores to, as (address, bytes): a frame placed at a constant address (the
    stack pointer folded away) keeps its variables there."""
    body = _body(module, func_index)
    if body is None or body.instrs is None:
        return ()
    sp = stack_pointer(module)
    stores, _, _ = _interpret(body, len(module.func_type(func_index).params), sp if sp is not None else -1)
    return tuple(sorted({((addr[1] + offset) & 0xFFFFFFFF, _STORE_BYTES[body.instrs[k].op])
                         for k, offset, addr in stores if addr is not None and addr[0] == "c"}))


def _const_init(g) -> bool:
    instrs = g.init.instrs
    return bool(instrs) and len(instrs) == 2 and instrs[0].op == _I32_CONST


def frame_bytes(module: Module, func_index: int, sp: int | None = None) -> int | None:
    """Bytes below the stack pointer that a call of `func_index` (and everything it calls) may use.

    0 when the call tree never lowers the stack pointer; None when no static bound is known (a frame of
    non-constant size, recursion, `call_indirect`, an opaque body, or a callee that leaves the stack pointer
    moved).
    """
    if sp is None:
        sp = stack_pointer(module)
    if sp is None:
        return 0
    memo: dict[int, int | None] = {}

    def visit(f: int, active: frozenset[int]) -> int | None:
        if f in memo:
            return memo[f]
        if f in active:
            return None
        body = _body(module, f)
        if body is None:
            memo[f] = 0  # an import cannot see the module's globals
            return 0
        if body.instrs is None or any(i.op == _CALL_INDIRECT for i in body.instrs):
            memo[f] = None
            return None
        nparams = len(module.func_type(f).params)
        stores, sets, callees = _interpret(body, nparams, sp)
        own = _own_frame(stores, sets)
        if own is None:
            memo[f] = None
            return None
        deepest = 0
        for callee in set(callees):
            sub = visit(callee, active | {f})
            if sub is None:
                memo[f] = None
                return None
            deepest = max(deepest, sub)
        memo[f] = own + deepest
        return memo[f]

    return visit(func_index, frozenset())


def scratch(module: Module, function: str | int) -> Scratch | None:
    """The scratch region of an exported function (by name or function index), or None when it has none."""
    index = module.export_func(function) if isinstance(function, str) else function
    if index is None:
        return None
    sp = stack_pointer(module)
    if sp is None:
        return None
    entry = module.globals[sp - module.num_imported_globals].init.instrs[0].imm[0] & 0xFFFFFFFF
    return Scratch(sp, entry, frame_bytes(module, index, sp), _stack_floor(module, entry))


def _stack_floor(module: Module, sp_entry: int) -> int:
    """The end of the highest active data segment (of memory 0) that lies below `sp_entry`, else 0."""
    floor = 0
    for seg in module.data:
        instrs = seg.offset.instrs if seg.offset is not None else None
        if seg.mode != "active" or seg.memory != 0 or not instrs or instrs[0].op != _I32_CONST:
            continue
        start = instrs[0].imm[0] & 0xFFFFFFFF
        end = start + len(seg.init)
        if start < sp_entry:
            floor = max(floor, min(end, sp_entry))
    return floor


def state_writes(module: Module, function: str | int) -> tuple[str, ...]:
    """Why a call of `function` may change state a later call or the host can observe; () when it cannot.

    Statically: a memory store whose address is not inside the call's own frame, `memory.grow`, bulk memory
    writes, table writes, a `global.set` of anything but the stack pointer, a stack pointer not restored to
    its entry value, indirect calls, calls of imports, and opaque bodies all count. Conservative: () proves
    the function stateless; a non-empty answer may be a false alarm.
    """
    index = module.export_func(function) if isinstance(function, str) else function
    if index is None:
        return ("no such exported function",)
    sp = stack_pointer(module)
    reasons: list[str] = []
    for f in sorted(module.reachable_functions(index)):
        body = _body(module, f)
        name = f"function {f}"
        if body is None:
            reasons.append(f"{name} is an import")
            continue
        if body.instrs is None:
            reasons.append(f"{name} has instructions jeet does not model")
            continue
        for ins in body.instrs:
            if ins.op == _MEMORY_GROW:
                reasons.append(f"{name}: memory.grow")
            elif ins.op in _BULK_WRITES:
                reasons.append(f"{name}: {_BULK_WRITES[ins.op]}")
            elif ins.op in _TABLE_WRITES:
                reasons.append(f"{name}: {_TABLE_WRITES[ins.op]}")
            elif ins.op == _CALL_INDIRECT:
                reasons.append(f"{name}: call_indirect")
            elif ins.op == _GLOBAL_SET and ins.imm[0] != sp:
                reasons.append(f"{name}: global.set {ins.imm[0]}")
        nparams = len(module.func_type(f).params)
        stores, sets, _ = _interpret(body, nparams, sp if sp is not None else -1)
        for idx, offset, addr in stores:
            if addr is None or addr[0] != "sp" or addr[1] + offset + _STORE_BYTES[body.instrs[idx].op] > 0:
                reasons.append(f"{name}: a store (instruction {idx}) outside its stack frame")
        if sets and (sets[-1] is None or sets[-1] != ("sp", 0)):
            reasons.append(f"{name}: the stack pointer is not restored")
        elif sets and sp is not None:
            exit_reason = _unrestored_exit(body.instrs, sp)
            if exit_reason is not None:
                reasons.append(f"{name}: {exit_reason}")
        if sets and any(v is None or v[0] != "sp" for v in sets):
            reasons.append(f"{name}: the stack pointer moves by a non-constant amount")
    if sp is not None and frame_bytes(module, index, sp) is None and not reasons:
        reasons.append("the stack frame has no static bound")
    return tuple(dict.fromkeys(reasons))
