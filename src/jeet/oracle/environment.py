"""The memory an oracle's cases start from, read from the original module: its image, its data segments
(never poisoned, never under a moved block) and the scratch frame of the function under test (see
`jeet.sandbox.effects` and `jeet.wasm.abi`)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .. import wasm as wasmcodec
from ..sandbox import CompiledModule, Sandbox, SandboxError
from ..sandbox.effects import MemoryEnv, Region
from ..wasm import abi

_I32_CONST = 0x41
_UNBOUNDED_STACK = 65536  # kept free below the stack pointer when the frame size is not known


@dataclass(frozen=True)
class Layout:
    """What case generation needs to know about the original's memory.

    `env` prepares and measures every case (None: effects cannot be measured here, as in a linked
    pair's sandbox); `size` is the memory's size in bytes at entry; `taken` lists the [start, end)
    ranges a moved block must not cover: data segments and the stack below the stack pointer.
    """

    env: MemoryEnv | None
    size: int
    taken: tuple[Region, ...]


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
    if region is not None:
        taken.append((max(0, region[0] - 16), region[1]))
    else:
        sp = abi.stack_pointer(module)
        if sp is not None and sp >= module.num_imported_globals:
            entry = module.globals[sp - module.num_imported_globals].init.instrs[0].imm[0] & 0xFFFFFFFF
            if abi.frame_bytes(module, module.export_func(function), sp) is None:
                taken.append((max(0, entry - _UNBOUNDED_STACK), entry))
    return Layout(MemoryEnv(os.urandom(16), image, keep, region), len(image), tuple(sorted(taken)))


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
