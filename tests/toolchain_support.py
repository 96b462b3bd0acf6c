"""Whether the C-to-wasm toolchain is here, for tests that rebuild modules from their C sources."""

from __future__ import annotations

import shutil
import subprocess

import pytest


def clang_targets_wasm() -> bool:
    """clang with the wasm32 target, and wasm-ld, both present and working."""
    clang = shutil.which("clang")
    if clang is None or shutil.which("wasm-ld") is None:
        return False
    probe = subprocess.run([clang, "--target=wasm32", "-c", "-x", "c", "-", "-o", "/dev/null"],
                           input="int f(void){return 0;}", capture_output=True, text=True)
    return probe.returncode == 0


needs_wasm_clang = pytest.mark.skipif(not clang_targets_wasm(),
                                      reason="clang with the wasm32 target and wasm-ld not available")
