"""Optional extra seeds for the first population.

When Binaryen's `wasm-opt` is on PATH, its `-O3` output of the input joins the initial
population, and so does its `-O3` output of the input with every stack-frame slot promoted to a
local (`jeet.genetics.promote_slot.promote_all`): wasm-opt must keep clang -O0's frame traffic,
since the memory is visible to it, while jeet knows the frame is scratch; promoted, the code is in
register form and wasm-opt's local cleanups reach about what clang -O2 emits. A seed whose loops
wasm-opt wrote as a loop around an `if` comes also with them in clang's block-and-`br_if` shape
(`jeet.genetics.while_loop`), which the loop rewrites know. Each seed is treated
like any other candidate: it must pass the training cases to survive, and the held-out cases and
the proof to become champion. Without `wasm-opt` this contributes nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from ..errors import JeetError
from ..genetics import Genome
from ..genetics.promote_slot import promote_all
from ..genetics.while_loop import all_to_block_loops

# Features jeet's sandbox runs (WebAssembly 2.0); wasm-opt must not emit anything newer.
WASM_OPT_FEATURES = (
    "--enable-sign-ext", "--enable-mutable-globals", "--enable-nontrapping-float-to-int",
    "--enable-bulk-memory", "--enable-multivalue", "--enable-reference-types",
)


def wasm_opt_path() -> str | None:
    return shutil.which("wasm-opt")


def wasm_opt_variant(wasm: bytes, level: str = "-O3", timeout_s: float = 60.0) -> bytes | None:
    """`wasm-opt <level>` of `wasm`, or None when the tool is absent or fails."""
    exe = wasm_opt_path()
    if exe is None:
        return None
    with tempfile.TemporaryDirectory(prefix="jeet-wasm-opt-") as tmp:
        src, dst = Path(tmp, "in.wasm"), Path(tmp, "out.wasm")
        src.write_bytes(wasm)
        try:
            subprocess.run([exe, level, *WASM_OPT_FEATURES, str(src), "-o", str(dst)],
                           check=True, capture_output=True, timeout=timeout_s)
        except (subprocess.SubprocessError, OSError):
            return None
        out = dst.read_bytes() if dst.exists() else None
    return out if out and out != wasm else None


def wasm_opt_seeds(wasm: bytes, function: str, timeout_s: float = 60.0) -> list[bytes]:
    """The distinct `wasm-opt -O3` seeds of the input: as it is, and with its frame slots promoted; all of
    it within `timeout_s` (what is not done by then is left out)."""
    deadline = time.monotonic() + timeout_s
    seeds = [wasm_opt_variant(wasm, timeout_s=timeout_s)]
    try:
        promoted = promote_all(Genome.from_bytes(wasm, function))
    except JeetError:  # a module the IR cannot take (WasmError, GeneticsError): the plain seed only
        promoted = None
    if promoted is not None and time.monotonic() < deadline:
        seeds.append(wasm_opt_variant(promoted.wasm, timeout_s=deadline - time.monotonic()))
    seeds += [_clang_loops(s, function) for s in seeds if s is not None]
    return list(dict.fromkeys(s for s in seeds if s is not None and s != wasm))


def _clang_loops(wasm: bytes, function: str) -> bytes | None:
    try:
        g = all_to_block_loops(Genome.from_bytes(wasm, function))
    except JeetError:
        return None
    return g.wasm if g is not None else None
