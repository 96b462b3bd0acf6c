"""The memory an oracle's cases start from, read from the original module: its image, its data segments
(never poisoned, never under a moved block) and the scratch frame of the function under test (see
`jeet.sandbox.effects` and `jeet.wasm.abi`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from .. import wasm as wasmcodec
from ..sandbox import CompiledModule, Sandbox, SandboxError
from ..sandbox.effects import MemoryEnv, Region
from ..wasm import abi

_I32_CONST = 0x41


@dataclass(frozen=True)
class Layout:
    """What case generation needs to know about the original's memory.

    `env` prepares and measures every case (None: effects cannot be measured here, as in a linked
    pair's sandbox); `size` is the memory's size in bytes at entry; `taken` lists the [start, end)
    ranges a moved block must not cover: data segments and everything below the stack pointer.
    """

    env: MemoryEnv | None
    size: int
    taken: tuple[Region, ...]
    moved_stack: bytes | None = None  # the original with its shadow stack elsewhere (see `moved_stack`)
    stack_top: int | None = None  # the stack pointer at entry


def layout(sandbox: object, wasm: object, compiled: CompiledModule, function: str) -> Layout:
    if not isinstance(sandbox, Sandbox):
        return Layout(None, 0, ())
    try:
        image = sandbox.initial_memory(compiled, function)
    except SandboxError:
        return Layout(None, 0, ())
    module = None
    if isinstance(wasm, (bytes, bytearray)):
        try:
            module = wasmcodec.decode(bytes(wasm))
        except wasmcodec.WasmError:
            module = None
    if module is None:  # nothing known about its data: poison nothing, move nothing onto it
        return Layout(MemoryEnv(os.urandom(16), image, ((0, len(image)),), None), len(image), ())
    keep = data_segments(module)
    found = abi.scratch(module, function)
    region = found.region if found is not None else None
    taken = list(keep)
    sp = abi.stack_pointer(module)
    top = None
    if sp is not None and sp >= module.num_imported_globals:
        # Below the stack pointer lie the shadow stack (and, in clang's default layout, static data): no
        # caller passes a buffer there, and any implementation's frame may overwrite it.
        top = module.globals[sp - module.num_imported_globals].init.instrs[0].imm[0] & 0xFFFFFFFF
        taken.append((0, top))
    return Layout(MemoryEnv(os.urandom(16), image, keep, region), len(image), tuple(sorted(taken)),
                  moved_stack(module, function), top)


def moved_stack(module: wasmcodec.Module, function: str) -> bytes | None:
    """The module with one more page of memory and its shadow stack at the top of it; None when it keeps no
    shadow stack (or imports its memory).

    A call whose results change when the stack moves out of every case's reach (and the bytes it left
    are scrambled) reads the stack itself (a buffer argument that overlaps the callee's own frame, or
    memory just below it): an input no caller can pass, on which two correct implementations disagree.
    Case generation runs both and drops such inputs.
    """
    sp = abi.stack_pointer(module)
    if sp is None or sp < module.num_imported_globals or len(module.memories) != 1:
        return None
    limits = module.memories[0].limits
    if limits.min + 1 > 65536:
        return None
    grown = replace(limits, min=limits.min + 1, max=None if limits.max is None else max(limits.max, limits.min + 1))
    d = sp - module.num_imported_globals
    g = module.globals[d]
    top = (limits.min + 1) * 65536 - 16
    init = replace(g.init, instrs=(replace(g.init.instrs[0], imm=(top - (1 << 32) if top >= 1 << 31 else top,),
                                           raw=None),) + g.init.instrs[1:], raw=None)
    return module.replace(memories=(replace(module.memories[0], limits=grown),),
                          globals=module.globals[:d] + (replace(g, init=init),) + module.globals[d + 1:]).encode()


def data_segments(module: wasmcodec.Module) -> tuple[Region, ...]:
    """[start, end) of every active data segment of memory 0 (all of memory when an offset is not a constant)."""
    out = []
    for seg in module.data:
        if seg.mode != "active" or seg.memory != 0:
            continue
        instrs = seg.offset.instrs if seg.offset is not None else None
        if not instrs or len(instrs) != 2 or instrs[0].op != _I32_CONST:
            return ((0, 1 << 32),)
        start = instrs[0].imm[0] & 0xFFFFFFFF
        out.append((start, start + len(seg.init)))
    return tuple(sorted(out))
