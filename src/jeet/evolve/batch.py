"""Several offspring, one compile: their function bodies side by side in one module.

wasmtime spends a fixed few hundred microseconds on every module it compiles (code memory, the
call trampoline, registration) before the code itself, and a worker compiles one module per
candidate: for the small kernels jeet evolves that fixed part is most of an evaluation. Offspring of
one run mostly differ only in their bodies, so a worker puts up to `BATCH` candidates that share
every other section into one module, each candidate's functions under indices of its own and its
evolved function exported under a name of its own, compiles that once, and runs each candidate's
cases in an instance of it as usual. A candidate so runs exactly its own code, with its own memory
and globals (one instance each) and the same frames, so results, fuel, memory effects and traps are
those of the candidate compiled alone (the tests compare them); only the compile is shared.

Judged alone instead: candidates without decoded IR, with a start function or element segments
(function references would name the first candidate's functions), with a body the IR does not
model, that export the evolved function from an import, or that call a function index they do not
have themselves (it would name another candidate's function in the batch).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from ..wasm.ir import Body, Instr
from ..wasm.module import FUNC, Export, Module

BATCH = 16  # candidates per merged module: 16 cut the compile per candidate ~3x on the kernel suite
BATCH_BYTES = 64 * 1024  # larger candidates are judged alone, and a merged module holds about this much at most
EXPORT = "__jeet_batch_{}"
_CALL = 0x10
# what may write linear memory (as jeet.sandbox._scan.may_write_memory reads it): stores, memory.grow,
# memory.init/copy/fill, SIMD stores. A batch of candidates that cannot write keeps the sandbox's shortcut.
_WRITES = frozenset((*range(0x36, 0x3F), 0x40, 0xFC08, 0xFC0A, 0xFC0B, 0xFD0B, 0xFD58, 0xFD59, 0xFD5A, 0xFD5B))


@dataclass(frozen=True, slots=True)
class Merged:
    """A merged module and, per candidate in order, the export that calls its evolved function."""

    wasm: bytes
    exports: tuple[str, ...]


def shape_key(module: Module, function: str) -> Hashable | None:
    """Candidates with equal keys can share a module (everything but their bodies agrees); None: judge
    this one alone."""
    if module.start is not None or module.elements or any(b.opaque for b in module.bodies):
        return None
    target = module.export_func(function)
    if target is None or target < module.num_imported_funcs:
        return None
    writes = any(ins.op in _WRITES for b in module.bodies for ins in b.instrs)  # type: ignore[union-attr]
    return (module.types, module.imports, module.funcs, module.tables, module.memories, module.globals,
            module.exports, module.data_count, module.data, target, writes)


def merge(modules: Sequence[Module], function: str) -> Merged | None:
    """One module holding every candidate's functions (all of one `shape_key`); None when a candidate
    calls a function it does not have."""
    first = modules[0]
    imported, defined = first.num_imported_funcs, len(first.funcs)
    target = first.export_func(function)
    assert target is not None
    bodies: list[Body] = []
    for i, m in enumerate(modules):
        shift = i * defined
        for body in m.bodies:
            moved = _moved(body, imported, defined, shift)
            if moved is None:
                return None
            bodies.append(moved)
    names = tuple(EXPORT.format(i) for i in range(len(modules)))
    exports = tuple(e for e in first.exports if e.kind != FUNC) + tuple(
        Export(name, FUNC, target + i * defined) for i, name in enumerate(names))
    merged = first.replace(funcs=first.funcs * len(modules), bodies=tuple(bodies), exports=exports, customs=())
    return Merged(merged.encode(), names)


def _moved(body: Body, imported: int, defined: int, shift: int) -> Body | None:
    """`body` with its calls to defined functions moved by `shift`; None if it calls past its own."""
    instrs = body.instrs
    assert instrs is not None
    if not any(ins.op == _CALL for ins in instrs):
        return body
    out: list[Instr] = []
    for ins in instrs:
        if ins.op == _CALL and ins.imm[0] >= imported:
            callee = ins.imm[0]
            if callee >= imported + defined:
                return None
            ins = ins.with_imm(callee + shift) if shift else ins
        out.append(ins)
    return body if not shift else body.with_instrs(out)
