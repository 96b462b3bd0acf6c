"""The typing pass: operand-stack types before every instruction, and validation.

`analyze(module, i)` runs the spec's validation algorithm over defined function `i` and
returns one `InstrInfo` per instruction; an ill-typed body raises `WasmError`.
`validate(module)` adds the module-level rules of WebAssembly 2.0 and checks every body.

Conventions of `InstrInfo` (stack tuples are bottom to top):

* `stack`/`height`: the operand stack before the instruction, counted from the start of
  the innermost enclosing block frame only. `depth`: number of enclosing blocks, 0 at
  function level. `reachable`: False where the stack is polymorphic (after `br`,
  `br_table`, `return`, `unreachable`, up to the frame's `else`/`end`); there `stack`
  holds only what was pushed since, and `pops` of polymorphic instructions may contain
  `BOT` (a value of unknown type).
* Ordinary instructions: `pops` are removed from the top of `stack` and `pushes` are put
  on it, giving the next instruction's stack (same frame).
* `block`/`loop` with type [p*] -> [r*]: pops p* from the enclosing frame, pushes p*,
  which is the whole initial stack of the new frame. `if`: pops p* + (i32,), pushes p*.
  The block instruction itself is at the enclosing depth.
* `else`/`end` belong to the frame they close (depth = the inner depth, stack = the inner
  frame's stack). `else`: pops r* (end of the then-branch), pushes p* (start of the
  else-branch). `end`: pops r*, pushes r* onto the enclosing frame's stack as it was after
  the block instruction popped its operands. The function's final `end` has depth 0,
  pops and pushes the function results.
* `br l`: pops the label's types, `br_if l`: pops them + (i32,) and pushes them back,
  `br_table`: pops the default label's types + (i32,), `return`: pops the results,
  `call f`: pops f's params, pushes its results; `call_indirect` also pops the i32 index
  last; `local.get` pushes the local's type; `drop` pops the top type; `select` pops
  (t, t, i32) and pushes (t,).

A nested block inside dead code starts a fresh, non-polymorphic frame (as the spec types
it), so its instructions are `reachable` in this sense.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import WasmError
from .ir import Body, Instr
from .module import FUNC, ConstExpr, Module
from .opcodes import OPCODES
from .decode import MAX_LOCALS, decode
from .reader import read_u32
from .types import (
    BOT, EMPTY_BLOCK, EXTERNREF, F32, F64, FUNCREF, I32, I64, V128, VALTYPES, FuncType, ValType,
)

__all__ = ["InstrInfo", "analyze", "validate", "block_ends", "else_of", "loop_count", "MAX_PAGES"]

MAX_PAGES = 65536


@dataclass(frozen=True, slots=True)
class InstrInfo:
    """Typing facts of one instruction; see the module docstring for the conventions."""

    pops: tuple[ValType, ...]
    pushes: tuple[ValType, ...]
    height: int
    stack: tuple[ValType, ...]
    depth: int
    reachable: bool


# -- structure -------------------------------------------------------------------------------


def block_ends(instrs: tuple[Instr, ...] | list[Instr]) -> dict[int, int]:
    """Index of each block/loop/if -> index of its matching end (the final end excluded)."""
    out: dict[int, int] = {}
    open_: list[int] = []
    for i, ins in enumerate(instrs):
        op = ins.op
        if op == 0x02 or op == 0x03 or op == 0x04:
            open_.append(i)
        elif op == 0x0B and open_:
            out[open_.pop()] = i
    return out


def loop_count(wasm: bytes, function: str) -> int | None:
    """How many `loop` instructions the exported function's body holds (None: not decodable, no such
    export, an imported or opaque body): whether two versions' loops can pair up."""
    try:
        m = decode(bytes(wasm))
    except WasmError:
        return None
    f = m.export_func(function)
    if f is None or f < m.num_imported_funcs:
        return None
    instrs = m.bodies[f - m.num_imported_funcs].instrs
    return None if instrs is None else sum(1 for ins in instrs if ins.op == 0x03)


def else_of(instrs: tuple[Instr, ...] | list[Instr]) -> dict[int, int]:
    """Index of each `if` that has an `else` -> index of that else."""
    out: dict[int, int] = {}
    open_: list[int] = []
    for i, ins in enumerate(instrs):
        op = ins.op
        if op == 0x02 or op == 0x03 or op == 0x04:
            open_.append(i)
        elif op == 0x05 and open_:
            out[open_[-1]] = i
        elif op == 0x0B and open_:
            open_.pop()
    return out


# -- per-module context ------------------------------------------------------------------------


class _Ctx:
    __slots__ = ("types", "func_types", "globals", "tables", "nmem", "data_count", "elem_types", "refs")

    def __init__(self, m: Module) -> None:
        self.types = m.types
        for t in m.func_type_indices:
            if not 0 <= t < len(m.types):
                raise WasmError(_offset(m, 3), f"unknown type {t}")
        self.func_types = tuple(m.types[t] for t in m.func_type_indices)
        self.globals = m.global_types
        self.tables = m.table_types
        self.nmem = len(m.memory_types)
        self.data_count = m.data_count
        self.elem_types = tuple(e.type for e in m.elements)
        refs: set[int] = set()
        for e in m.elements:
            refs.update(e.func_indices())
        for g in m.globals:
            refs.update(g.init.func_refs())
        refs.update(e.index for e in m.exports if e.kind == FUNC)
        self.refs = frozenset(refs)


def _offset(m: Module, sid: int) -> int:
    """Where section `sid` starts in the decoded bytes (-1 when unknown): for error messages."""
    o = m._origin
    return o.ranges[sid][0] if o is not None and sid in o.ranges else -1


def _ctx(m: Module) -> _Ctx:
    c = m._cache.get("analysis_ctx")
    if c is None:
        c = m._cache["analysis_ctx"] = _Ctx(m)
    return c


# -- the body checker ----------------------------------------------------------------------------


class _Fail(Exception):
    def __init__(self, index: int, reason: str) -> None:
        self.index = index
        self.reason = reason


(C_FIXED, C_MEMARG, C_LGET, C_LSET, C_LTEE, C_GGET, C_GSET, C_BLOCK, C_LOOP, C_IF, C_ELSE, C_END,
 C_BR, C_BRIF, C_BRTABLE, C_RETURN, C_UNREACHABLE, C_CALL, C_CALLIND, C_DROP, C_SELECT,
 C_SELECTT, C_REFNULL, C_ISNULL, C_REFFUNC, C_TGET, C_TSET, C_TSIZE, C_TGROW, C_TFILL, C_TCOPY,
 C_TINIT, C_EDROP, C_MEM, C_MCOPY, C_MINIT, C_DDROP, C_LANE) = range(38)


def _lane_bits(name: str) -> int:
    """Lane width of a lane-indexed SIMD instruction: "i16x8.extract_lane_s" -> 16, "v128.load32_lane" -> 32."""
    ty, access = name.split(".")
    if ty == "v128":
        return int(access.replace("load", "").replace("store", "").split("_")[0])
    return int(ty[1:].split("x")[0])


def _natural_align(name: str) -> int:
    """log2 of the access width in bytes: "i64.load16_u" -> 1, "f64.store" -> 3,
    "v128.load" -> 4, "v128.load8x8_s" -> 3, "v128.load32_splat" / "v128.load32_lane" -> 2."""
    ty, access = name.split(".")
    if ty == "v128":
        if access in ("load", "store"):
            return 4
        if "x" in access:  # load8x8_s, load16x4_u, load32x2_s: 64 bits
            return 3
        bits = access.replace("load", "").replace("store", "").split("_")[0]
        return {"8": 0, "16": 1, "32": 2, "64": 3}[bits]
    bits = access.replace("load", "").replace("store", "").split("_")[0]
    return {"8": 0, "16": 1, "32": 2, "64": 3}[bits or ty[1:]]


_NATURAL_ALIGN = {op: _natural_align(info.name) for op, info in OPCODES.items()
                  if info.imm in ("memarg", "memarg_lane")}
# lane-indexed SIMD instructions -> the number of lanes (their immediate must be below it)
_LANES = {op: (32 if info.imm == "shuffle" else 128 // _lane_bits(info.name))
          for op, info in OPCODES.items() if info.imm in ("lane", "memarg_lane", "shuffle")}

_SPECIAL = {
    0x00: C_UNREACHABLE, 0x02: C_BLOCK, 0x03: C_LOOP, 0x04: C_IF, 0x05: C_ELSE, 0x0B: C_END,
    0x0C: C_BR, 0x0D: C_BRIF, 0x0E: C_BRTABLE, 0x0F: C_RETURN, 0x10: C_CALL, 0x11: C_CALLIND,
    0x1A: C_DROP, 0x1B: C_SELECT, 0x1C: C_SELECTT, 0x20: C_LGET, 0x21: C_LSET, 0x22: C_LTEE,
    0x23: C_GGET, 0x24: C_GSET, 0x25: C_TGET, 0x26: C_TSET, 0x3F: C_MEM, 0x40: C_MEM,
    0xD0: C_REFNULL, 0xD1: C_ISNULL, 0xD2: C_REFFUNC, 0xFC08: C_MINIT, 0xFC09: C_DDROP,
    0xFC0A: C_MCOPY, 0xFC0B: C_MEM, 0xFC0C: C_TINIT, 0xFC0D: C_EDROP, 0xFC0E: C_TCOPY,
    0xFC0F: C_TGROW, 0xFC10: C_TSIZE, 0xFC11: C_TFILL,
}
for _op in _NATURAL_ALIGN:
    _SPECIAL[_op] = C_MEMARG
for _op in _LANES:
    _SPECIAL.setdefault(_op, C_LANE)
# everything else with a fixed signature needs no context at all
_FIXED = {op: info.sig for op, info in OPCODES.items() if info.sig is not None and op not in _SPECIAL}
_SIG = {op: info.sig for op, info in OPCODES.items() if info.sig is not None}

_NAMES = {I32: "i32", I64: "i64", F32: "f32", F64: "f64", V128: "v128", FUNCREF: "funcref",
          EXTERNREF: "externref", BOT: "?"}
_VALTYPE_SET = frozenset(VALTYPES)
_REFS = frozenset((FUNCREF, EXTERNREF))
_NUMVEC = frozenset((I32, I64, F32, F64, V128, BOT))
_I32 = (I32,)


def _fmt(ts: tuple) -> str:
    return "[" + " ".join(_NAMES.get(t, hex(t)) for t in ts) + "]"


def _pop(stack: tuple, unreach: bool, expect: tuple, idx: int) -> tuple:
    """`stack` without `expect` on top, or _Fail; BOT and the polymorphic bottom match all."""
    n = len(expect)
    h = len(stack)
    if n <= h:
        if stack[h - n :] == expect:
            return stack[: h - n]
        for a, e in zip(stack[h - n :], expect):
            if a != e and a != BOT and e != BOT:
                raise _Fail(idx, f"type mismatch: expected {_fmt(expect)}, found {_fmt(stack[h - n:])}")
        return stack[: h - n]
    if not unreach:
        raise _Fail(idx, f"type mismatch: expected {_fmt(expect)}, found {_fmt(stack)}")
    for a, e in zip(stack, expect[n - h :]):
        if a != e and a != BOT and e != BOT:
            raise _Fail(idx, f"type mismatch: expected {_fmt(expect)}, found {_fmt(stack)}")
    return ()


def _check_exact(stack: tuple, unreach: bool, expect: tuple, idx: int, what: str) -> None:
    if stack == expect:
        return
    rest = _pop(stack, unreach, expect, idx)
    if rest:
        raise _Fail(idx, f"type mismatch: {what} leaves {_fmt(stack)}, expected {_fmt(expect)}")


def _blocktype(ctx: _Ctx, bt: int, idx: int) -> tuple[tuple, tuple]:
    if bt == EMPTY_BLOCK:
        return (), ()
    if bt >= 0:
        if bt >= len(ctx.types):
            raise _Fail(idx, f"unknown type {bt}")
        ft = ctx.types[bt]
        return ft.params, ft.results
    t = bt + 0x80
    if t not in _VALTYPE_SET:
        raise _Fail(idx, f"malformed block type {bt}")
    return (), (t,)


def _check_body(ctx: _Ctx, ft: FuncType, local_types: tuple, instrs: tuple) -> list[InstrInfo]:
    infos: list[InstrInfo] = []
    app = infos.append
    Info = InstrInfo
    fixed = _FIXED
    special = _SPECIAL
    nlocals = len(local_types)
    results_fn = ft.results
    # frame: [op, params, results, stack of the enclosing frame after popping, its unreach, else seen]
    ctrl: list[list] = [[-1, (), results_fn, (), False, False]]
    stack: tuple = ()
    unreach = False
    depth = 0
    last = len(instrs) - 1
    for idx, ins in enumerate(instrs):
        op = ins.op
        sig = fixed.get(op)
        if sig is not None:
            pops, pushes = sig
            h = len(stack)
            n = len(pops)
            if n <= h and stack[h - n :] == pops:
                new = stack[: h - n] + pushes
            else:
                new = _pop(stack, unreach, pops, idx) + pushes
            app(Info(pops, pushes, h, stack, depth, not unreach))
            stack = new
            continue
        cat = special.get(op)
        if cat is None:
            raise _Fail(idx, f"unknown instruction {ins!r}")
        h = len(stack)
        if cat == C_LGET:
            x = ins.imm[0]
            if x >= nlocals:
                raise _Fail(idx, f"unknown local {x}")
            pushes = (local_types[x],)
            app(Info((), pushes, h, stack, depth, not unreach))
            stack = stack + pushes
        elif cat == C_LSET or cat == C_LTEE:
            x = ins.imm[0]
            if x >= nlocals:
                raise _Fail(idx, f"unknown local {x}")
            pops = (local_types[x],)
            if h and stack[-1] == pops[0]:
                new = stack[:-1]
            else:
                new = _pop(stack, unreach, pops, idx)
            if cat == C_LTEE:
                app(Info(pops, pops, h, stack, depth, not unreach))
                stack = new + pops
            else:
                app(Info(pops, (), h, stack, depth, not unreach))
                stack = new
        elif cat == C_MEMARG:
            if ctx.nmem == 0:
                raise _Fail(idx, "unknown memory 0")
            if ins.imm[0] > _NATURAL_ALIGN[op]:
                raise _Fail(idx, "alignment must not be larger than natural")
            if op in _LANES and ins.imm[2] >= _LANES[op]:
                raise _Fail(idx, "invalid lane index")
            pops, pushes = _SIG[op]
            n = len(pops)
            if n <= h and stack[h - n :] == pops:
                new = stack[: h - n] + pushes
            else:
                new = _pop(stack, unreach, pops, idx) + pushes
            app(Info(pops, pushes, h, stack, depth, not unreach))
            stack = new
        elif cat == C_LANE:
            lanes = ins.imm[0] if isinstance(ins.imm[0], tuple) else (ins.imm[0],)
            if len(lanes) != (16 if _LANES[op] == 32 else 1) or any(x >= _LANES[op] for x in lanes):
                raise _Fail(idx, "invalid lane index")
            pops, pushes = _SIG[op]
            new = _pop(stack, unreach, pops, idx) + pushes
            app(Info(pops, pushes, h, stack, depth, not unreach))
            stack = new
        elif cat == C_END:
            fr = ctrl[-1]
            fop, params, results = fr[0], fr[1], fr[2]
            _check_exact(stack, unreach, results, idx, "block")
            if fop == 0x04 and not fr[5] and params != results:
                raise _Fail(idx, "type mismatch: if without else must have matching param and result types")
            app(Info(results, results, h, stack, depth, not unreach))
            ctrl.pop()
            if not ctrl:
                if idx != last:
                    raise _Fail(idx + 1, "instructions after the function's final end")
                return infos
            stack = fr[3] + results
            unreach = fr[4]
            depth -= 1
        elif cat == C_BLOCK or cat == C_LOOP or cat == C_IF:
            params, results = _blocktype(ctx, ins.imm[0], idx)
            pops = params + _I32 if cat == C_IF else params
            outer = _pop(stack, unreach, pops, idx)
            app(Info(pops, params, h, stack, depth, not unreach))
            ctrl.append([op, params, results, outer, unreach, False])
            stack = params
            unreach = False
            depth += 1
        elif cat == C_BRIF:
            lab = ins.imm[0]
            if lab >= len(ctrl):
                raise _Fail(idx, f"unknown label {lab}")
            fr = ctrl[-1 - lab]
            lt = fr[1] if fr[0] == 0x03 else fr[2]
            pops = lt + _I32
            new = _pop(stack, unreach, pops, idx) + lt
            app(Info(pops, lt, h, stack, depth, not unreach))
            stack = new
        elif cat == C_BR:
            lab = ins.imm[0]
            if lab >= len(ctrl):
                raise _Fail(idx, f"unknown label {lab}")
            fr = ctrl[-1 - lab]
            lt = fr[1] if fr[0] == 0x03 else fr[2]
            _pop(stack, unreach, lt, idx)
            app(Info(lt, (), h, stack, depth, not unreach))
            stack = ()
            unreach = True
        elif cat == C_CALL:
            f = ins.imm[0]
            if f >= len(ctx.func_types):
                raise _Fail(idx, f"unknown function {f}")
            cft = ctx.func_types[f]
            new = _pop(stack, unreach, cft.params, idx) + cft.results
            app(Info(cft.params, cft.results, h, stack, depth, not unreach))
            stack = new
        elif cat == C_GGET or cat == C_GSET:
            x = ins.imm[0]
            if x >= len(ctx.globals):
                raise _Fail(idx, f"unknown global {x}")
            gt = ctx.globals[x]
            t = (gt.type,)
            if cat == C_GGET:
                app(Info((), t, h, stack, depth, not unreach))
                stack = stack + t
            else:
                if not gt.mutable:
                    raise _Fail(idx, f"global is immutable: global.set {x}")
                new = _pop(stack, unreach, t, idx)
                app(Info(t, (), h, stack, depth, not unreach))
                stack = new
        elif cat == C_ELSE:
            fr = ctrl[-1]
            if fr[0] != 0x04 or fr[5]:
                raise _Fail(idx, "else without matching if")
            _check_exact(stack, unreach, fr[2], idx, "then-branch")
            app(Info(fr[2], fr[1], h, stack, depth, not unreach))
            fr[5] = True
            stack = fr[1]
            unreach = False
        elif cat == C_DROP:
            if h:
                t = stack[-1]
                new = stack[:-1]
            elif unreach:
                t, new = BOT, ()
            else:
                raise _Fail(idx, "type mismatch: drop on an empty stack")
            app(Info((t,), (), h, stack, depth, not unreach))
            stack = new
        elif cat == C_SELECT or cat == C_SELECTT:
            if cat == C_SELECTT:
                ts = ins.imm[0]
                if len(ts) != 1:
                    raise _Fail(idx, "invalid result arity of select")
                t = ts[0]
                if t not in _VALTYPE_SET:
                    raise _Fail(idx, f"malformed value type {t:#x}")
                rest = _pop(stack, unreach, (t, t, I32), idx)
            else:
                rest = _pop(stack, unreach, _I32, idx)
                t1 = rest[-1] if rest else BOT
                if not rest and not unreach:
                    raise _Fail(idx, "type mismatch: select needs three operands")
                rest = rest[:-1]
                t2 = rest[-1] if rest else BOT
                if not rest and not unreach:
                    raise _Fail(idx, "type mismatch: select needs three operands")
                rest = rest[:-1]
                if t1 not in _NUMVEC or t2 not in _NUMVEC:
                    raise _Fail(idx, "type mismatch: select without type needs numeric operands")
                if t1 != t2 and t1 != BOT and t2 != BOT:
                    raise _Fail(idx, f"type mismatch: select of {_fmt((t2, t1))}")
                t = t2 if t1 == BOT else t1
            app(Info((t, t, I32), (t,), h, stack, depth, not unreach))
            stack = rest + (t,)
        elif cat == C_BRTABLE:
            labels, default = ins.imm
            nctrl = len(ctrl)
            if default >= nctrl:
                raise _Fail(idx, f"unknown label {default}")
            rest = _pop(stack, unreach, _I32, idx)
            fr = ctrl[-1 - default]
            lt = fr[1] if fr[0] == 0x03 else fr[2]
            for lab in labels:
                if lab >= nctrl:
                    raise _Fail(idx, f"unknown label {lab}")
                f2 = ctrl[-1 - lab]
                lt2 = f2[1] if f2[0] == 0x03 else f2[2]
                if len(lt2) != len(lt):
                    raise _Fail(idx, "type mismatch: br_table targets with different arities")
                _pop(rest, unreach, lt2, idx)
            _pop(rest, unreach, lt, idx)
            app(Info(lt + _I32, (), h, stack, depth, not unreach))
            stack = ()
            unreach = True
        elif cat == C_RETURN:
            _pop(stack, unreach, results_fn, idx)
            app(Info(results_fn, (), h, stack, depth, not unreach))
            stack = ()
            unreach = True
        elif cat == C_UNREACHABLE:
            app(Info((), (), h, stack, depth, not unreach))
            stack = ()
            unreach = True
        elif cat == C_CALLIND:
            ti, tab = ins.imm
            if tab >= len(ctx.tables):
                raise _Fail(idx, f"unknown table {tab}")
            if ctx.tables[tab].elem != FUNCREF:
                raise _Fail(idx, "type mismatch: call_indirect needs a funcref table")
            if ti >= len(ctx.types):
                raise _Fail(idx, f"unknown type {ti}")
            cft = ctx.types[ti]
            pops = cft.params + _I32
            new = _pop(stack, unreach, pops, idx) + cft.results
            app(Info(pops, cft.results, h, stack, depth, not unreach))
            stack = new
        elif cat == C_MEM or cat == C_MCOPY:
            for x in ins.imm:
                if x >= ctx.nmem:
                    raise _Fail(idx, f"unknown memory {x}")
            pops, pushes = _SIG[op]
            new = _pop(stack, unreach, pops, idx) + pushes
            app(Info(pops, pushes, h, stack, depth, not unreach))
            stack = new
        elif cat == C_MINIT or cat == C_DDROP:
            d = ins.imm[0]
            if cat == C_MINIT and ins.imm[1] >= ctx.nmem:
                raise _Fail(idx, f"unknown memory {ins.imm[1]}")
            if ctx.data_count is None:
                raise _Fail(idx, "data count section required")
            if d >= ctx.data_count:
                raise _Fail(idx, f"unknown data segment {d}")
            pops, pushes = _SIG[op]
            new = _pop(stack, unreach, pops, idx)
            app(Info(pops, pushes, h, stack, depth, not unreach))
            stack = new
        elif cat == C_REFNULL:
            t = ins.imm[0]
            if t not in _REFS:
                raise _Fail(idx, "malformed reference type")
            app(Info((), (t,), h, stack, depth, not unreach))
            stack = stack + (t,)
        elif cat == C_ISNULL:
            if h:
                t = stack[-1]
                if t not in _REFS and t != BOT:
                    raise _Fail(idx, f"type mismatch: ref.is_null of {_fmt((t,))}")
                new = stack[:-1]
            elif unreach:
                t, new = BOT, ()
            else:
                raise _Fail(idx, "type mismatch: ref.is_null on an empty stack")
            app(Info((t,), _I32, h, stack, depth, not unreach))
            stack = new + _I32
        elif cat == C_REFFUNC:
            f = ins.imm[0]
            if f >= len(ctx.func_types):
                raise _Fail(idx, f"unknown function {f}")
            if f not in ctx.refs:
                raise _Fail(idx, f"undeclared function reference {f}")
            app(Info((), (FUNCREF,), h, stack, depth, not unreach))
            stack = stack + (FUNCREF,)
        elif cat == C_EDROP:
            e = ins.imm[0]
            if e >= len(ctx.elem_types):
                raise _Fail(idx, f"unknown elem segment {e}")
            app(Info((), (), h, stack, depth, not unreach))
        else:  # table access
            tab = ins.imm[1] if cat == C_TINIT else ins.imm[0]
            if tab >= len(ctx.tables):
                raise _Fail(idx, f"unknown table {tab}")
            t = ctx.tables[tab].elem
            if cat == C_TGET:
                pops, pushes = _I32, (t,)
            elif cat == C_TSET:
                pops, pushes = (I32, t), ()
            elif cat == C_TSIZE:
                pops, pushes = (), _I32
            elif cat == C_TGROW:
                pops, pushes = (t, I32), _I32
            elif cat == C_TFILL:
                pops, pushes = (I32, t, I32), ()
            elif cat == C_TCOPY:
                src = ins.imm[1]
                if src >= len(ctx.tables):
                    raise _Fail(idx, f"unknown table {src}")
                if ctx.tables[src].elem != t:
                    raise _Fail(idx, "type mismatch: table.copy between tables of different types")
                pops, pushes = (I32, I32, I32), ()
            else:  # table.init
                e = ins.imm[0]
                if e >= len(ctx.elem_types):
                    raise _Fail(idx, f"unknown elem segment {e}")
                if ctx.elem_types[e] != t:
                    raise _Fail(idx, "type mismatch: table.init of a segment of another type")
                pops, pushes = (I32, I32, I32), ()
            new = _pop(stack, unreach, pops, idx) + pushes
            app(Info(pops, pushes, h, stack, depth, not unreach))
            stack = new
    raise _Fail(len(instrs), "END opcode expected: the body does not close its function frame")


def _body_offset(module: Module, defined_index: int, body: Body, index: int) -> tuple[int, str]:
    """Byte offset of instruction `index`: absolute when the body is the decoded one."""
    from .encode import encode_body, encode_instr

    assert body.instrs is not None
    locals_len = len(encode_body(Body(body.locals, ())))
    rel = locals_len + sum(len(encode_instr(i)) for i in body.instrs[:index])
    o = module._origin
    if o is not None and 10 in o.ranges and o.values.get("bodies") is not None:
        orig = o.values["bodies"]
        if defined_index < len(orig) and orig[defined_index] is body:
            s, e = o.ranges[10]
            data = o.data
            _, pos = read_u32(data, s + 1, e)
            _, pos = read_u32(data, pos, e)
            for _ in range(defined_index + 1):
                size, start = read_u32(data, pos, e)
                pos = start + size
            return start + rel, ""
    return rel, " (offset relative to the body)"


def analyze(module: Module, defined_index: int) -> tuple[InstrInfo, ...]:
    """Per-instruction typing of defined function `defined_index`; WasmError if ill-typed.

    IndexError if there is no such function; WasmError for an opaque body.
    """
    body = module.bodies[defined_index]
    if body.instrs is None:
        raise WasmError(-1, f"function {module.num_imported_funcs + defined_index} is opaque "
                           "(uses instructions the IR does not model) and cannot be analyzed")
    ctx = _ctx(module)
    ft = ctx.func_types[module.num_imported_funcs + defined_index]
    try:
        total = sum(c for c, _ in body.locals)
        if total > MAX_LOCALS:
            raise _Fail(0, f"too many locals ({total}, limit {MAX_LOCALS})")
        for _, t in body.locals:
            if t not in _VALTYPE_SET:
                raise _Fail(0, f"malformed value type {t:#x}")
        return tuple(_check_body(ctx, ft, ft.params + body.local_types(), body.instrs))
    except _Fail as f:
        off, note = _body_offset(module, defined_index, body, min(f.index, len(body.instrs)))
        fi = module.num_imported_funcs + defined_index
        where = f"function {fi}, instruction {f.index}"
        if f.index < len(body.instrs):
            where += f" ({body.instrs[f.index]!r})"
        raise WasmError(off, f"{f.reason} [{where}]{note}") from None


# -- module-level validation ----------------------------------------------------------------------


def _const_expr(m: Module, e: ConstExpr, want: ValType, what: str, off: int) -> None:
    if e.instrs is None:
        raw = e.raw or b""
        ok = False
        if want == V128 and len(raw) >= 2 and raw[0] == 0xFD:
            try:
                sub, pos = read_u32(raw, 1, len(raw))
            except WasmError:
                sub, pos = -1, 0
            ok = sub == 12 and pos + 17 == len(raw) and raw[-1] == 0x0B
        if not ok:
            raise WasmError(off, f"constant expression required ({what})")
        return
    nimp_globals = m.num_imported_globals
    gtypes = m.global_types
    stack: list[ValType] = []
    for ins in e.instrs[:-1]:
        op = ins.op
        if op == 0x41:
            stack.append(I32)
        elif op == 0x42:
            stack.append(I64)
        elif op == 0x43:
            stack.append(F32)
        elif op == 0x44:
            stack.append(F64)
        elif op == 0xFD0C:
            stack.append(V128)
        elif op == 0xD0:
            stack.append(ins.imm[0])
        elif op == 0xD2:
            if ins.imm[0] >= m.num_funcs:
                raise WasmError(off, f"unknown function {ins.imm[0]} ({what})")
            stack.append(FUNCREF)
        elif op == 0x23:
            x = ins.imm[0]
            if x >= len(gtypes):
                raise WasmError(off, f"unknown global {x} ({what})")
            if x >= nimp_globals:
                raise WasmError(off, f"constant expression required: global.get of a defined global ({what})")
            if gtypes[x].mutable:
                raise WasmError(off, f"constant expression required: global.get of a mutable global ({what})")
            stack.append(gtypes[x].type)
        else:
            raise WasmError(off, f"constant expression required: {ins!r} ({what})")
    if not e.instrs or e.instrs[-1].op != 0x0B:
        raise WasmError(off, f"constant expression must end with end ({what})")
    if stack != [want]:
        raise WasmError(off, f"type mismatch: constant expression gives {_fmt(tuple(stack))}, "
                           f"expected {_fmt((want,))} ({what})")


def _limits(lim, bound: int, what: str, off: int) -> None:
    if lim.min > bound or (lim.max is not None and lim.max > bound):
        raise WasmError(off, f"{what} size must be at most {bound}")
    if lim.max is not None and lim.max < lim.min:
        raise WasmError(off, f"size minimum must not be greater than maximum ({what})")


def validate(module: Module) -> None:
    """WebAssembly 2.0 validation of the whole module; WasmError on the first violation.

    Opaque bodies (relaxed SIMD, threads, ...) are not type-checked: the IR cannot see into them.
    """
    m = module

    def at(sid: int) -> int:
        return _offset(m, sid)

    for imp in m.imports:
        if imp.kind == 1:
            _limits(imp.desc.limits, 0xFFFFFFFF, "table", at(2))  # type: ignore[union-attr]
        elif imp.kind == 2:
            _limits(imp.desc.limits, MAX_PAGES, "memory", at(2))  # type: ignore[union-attr]
    for t in m.tables:
        _limits(t.limits, 0xFFFFFFFF, "table", at(4))
    for mem in m.memories:
        _limits(mem.limits, MAX_PAGES, "memory", at(5))
    if len(m.memory_types) > 1:
        raise WasmError(at(5), "multiple memories")
    for i, g in enumerate(m.globals):
        _const_expr(m, g.init, g.type.type, f"global {m.num_imported_globals + i}", at(6))
    ntables = len(m.table_types)
    for i, el in enumerate(m.elements):
        what = f"elem segment {i}"
        if el.type not in _REFS:
            raise WasmError(at(9), f"malformed reference type ({what})")
        if el.mode == "active":
            if el.table >= ntables:
                raise WasmError(at(9), f"unknown table {el.table} ({what})")
            if m.table_types[el.table].elem != el.type:
                raise WasmError(at(9), f"type mismatch: segment of {_fmt((el.type,))} for a table "
                                   f"of {_fmt((m.table_types[el.table].elem,))} ({what})")
            if el.offset is None:
                raise WasmError(at(9), f"active segment without offset ({what})")
            _const_expr(m, el.offset, I32, what, at(9))
        for item in el.init:
            if isinstance(item, ConstExpr):
                _const_expr(m, item, el.type, what, at(9))
            else:
                if el.type != FUNCREF:
                    raise WasmError(at(9), f"type mismatch: function index in a non-funcref segment ({what})")
                if item >= m.num_funcs:
                    raise WasmError(at(9), f"unknown function {item} ({what})")
    nmem = len(m.memory_types)
    for i, d in enumerate(m.data):
        if d.mode == "active":
            if d.memory >= nmem:
                raise WasmError(at(11), f"unknown memory {d.memory} (data segment {i})")
            if d.offset is None:
                raise WasmError(at(11), f"active data segment without offset (data segment {i})")
            _const_expr(m, d.offset, I32, f"data segment {i}", at(11))
    if m.data_count is not None and m.data_count != len(m.data):
        raise WasmError(at(12), "data count and data section have inconsistent lengths")
    if m.start is not None:
        if m.start >= m.num_funcs:
            raise WasmError(at(8), f"unknown function {m.start} (start)")
        ft = m.func_type(m.start)
        if ft.params or ft.results:
            raise WasmError(at(8), f"start function must have type [] -> [], not {ft}")
    names: set[str] = set()
    space = {0: m.num_funcs, 1: ntables, 2: nmem, 3: len(m.global_types)}
    for e in m.exports:
        if e.name in names:
            raise WasmError(at(7), f"duplicate export name {e.name!r}")
        names.add(e.name)
        if e.index >= space.get(e.kind, 0):
            raise WasmError(at(7), f"unknown export index {e.index} ({e.name!r})")
    for t in m.funcs:
        if t >= len(m.types):
            raise WasmError(at(3), f"unknown type {t}")
    if len(m.funcs) != len(m.bodies):
        raise WasmError(at(10), "function and code section have inconsistent lengths")
    for i, body in enumerate(m.bodies):
        if body.instrs is not None:
            analyze(m, i)
