"""Random modules from wasm-smith never take the process down: every call ends in an outcome.

The modules run in a child process, so a crash (an abort inside wasmtime) fails this test
instead of killing the test session.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import random, subprocess, sys, collections
    from jeet.sandbox import Sandbox, Limits, Outcome, CompiledModule
    from jeet.oracle import Case
    rng = random.Random(int(sys.argv[1]))
    counts = collections.Counter()
    flags = ["--export-everything", "true", "--max-memory32-bytes", str(1 << 22), "--max-imports", "4",
             "--simd-enabled", "true", "--bulk-memory-enabled", "true", "--reference-types-enabled", "true",
             "--multi-value-enabled", "true", "--relaxed-simd-enabled", "false", "--threads-enabled", "false",
             "--gc-enabled", "false", "--exceptions-enabled", "false", "--memory64-enabled", "false",
             "--tail-call-enabled", "false", "--allow-start-export", "true"]
    with Sandbox(limits=Limits(fuel=50_000, deadline_s=0.5)) as sb:
        for _ in range(int(sys.argv[2])):
            seed = bytes(rng.getrandbits(8) for _ in range(rng.randint(64, 2048)))
            wasm = subprocess.run(["wasm-tools", "smith", *flags], input=seed, capture_output=True).stdout
            if not wasm:
                continue
            compiled = sb.compile(wasm)
            if not isinstance(compiled, CompiledModule):
                counts[compiled.outcome.value] += 1
                continue
            for name, sig in list(compiled.functions.items())[:5]:
                cases = [Case(tuple(rng.getrandbits(32) for _ in sig.params)), Case(tuple(0 for _ in sig.params))]
                for result in sb.run(compiled, name, cases):
                    assert isinstance(result.outcome, Outcome)
                    counts[result.outcome.value] += 1
    print(sorted(counts.items()))
""")


@pytest.mark.skipif(shutil.which("wasm-tools") is None, reason="wasm-tools is not installed")
def test_random_modules_never_crash_the_process():
    out = subprocess.run([sys.executable, "-c", SCRIPT, "20240611", "40"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ok" in out.stdout and "trap" in out.stdout
