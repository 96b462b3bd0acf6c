"""Where the variants start: the implementations a user wrote, as their compilers and optimisers left them.

A built-in kernel NAME may ship several implementations: c/NAME.c and c/NAME.VARIANT.c, each built by
clang at -O0 and -O2 (wasm/NAME[.VARIANT].O0.wasm, .O2.wasm). Each build is a seed, and so is
Binaryen's `wasm-opt -O3` of each build when the tool is present. For a user's module the seeds are
the module and its `wasm-opt -O3` output.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..address import content_address
from ..evolve.seeding import wasm_opt_variant
from ..kernels import CLANG_LEVELS, Kernel


@dataclass(frozen=True, slots=True)
class Seed:
    """A starting variant and where it came from, e.g. "clang -O2 crc8.table.c"."""

    origin: str
    wasm: bytes

    @property
    def sha256(self) -> str:
        return content_address(self.wasm)


def kernel_implementations(kernel: Kernel) -> list[str]:
    """The kernel's implementation names: NAME first, then NAME.VARIANT for every c/NAME.VARIANT.c, sorted."""
    folder = kernel.source_path().parent
    others = sorted(p.name[:-2] for p in folder.glob(f"{kernel.name}.*.c"))
    return [kernel.name] + others


def kernel_seeds(kernel: Kernel, *, use_wasm_opt: bool = True) -> list[Seed]:
    """Every shipped build of every implementation of `kernel`, plus wasm-opt -O3 of each."""
    wasm_dir = kernel.wasm_path("O0").parent
    seeds: list[Seed] = []
    for impl in kernel_implementations(kernel):
        for opt in CLANG_LEVELS:
            path = wasm_dir / f"{impl}.{opt}.wasm"
            if path.is_file():
                seeds.append(Seed(f"clang -{opt} {impl}.c", path.read_bytes()))
    return _with_wasm_opt(seeds, use_wasm_opt)


def module_seeds(wasm: bytes, label: str, *, use_wasm_opt: bool = True) -> list[Seed]:
    return _with_wasm_opt([Seed(label, wasm)], use_wasm_opt)


def _with_wasm_opt(seeds: list[Seed], use_wasm_opt: bool) -> list[Seed]:
    out = list(seeds)
    if use_wasm_opt:
        for s in seeds:
            optimised = wasm_opt_variant(s.wasm)
            if optimised is not None:
                out.append(Seed(f"wasm-opt -O3 of {s.origin}", optimised))
    unique: dict[str, Seed] = {}
    for s in out:
        unique.setdefault(s.sha256, s)
    return list(unique.values())
