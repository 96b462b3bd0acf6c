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


@pytest.mark.skipif(shutil.which("wasm-tools") is None, reason="wasm-tools is not installed")
def test_fuel_does_not_depend_on_the_compiler():
    """Ordinary code costs the same fuel under Winch and Cranelift; sized instructions go to Cranelift."""
    import random

    from jeet.oracle import Case
    from jeet.sandbox import CompiledModule, Limits, Outcome, Sandbox
    from jeet.sandbox._scan import may_use_sized_ops

    rng = random.Random(99)
    flags = ["--export-everything", "true", "--max-memory32-bytes", str(1 << 20), "--ensure-termination",
             "--bulk-memory-enabled", "true", "--reference-types-enabled", "false", "--simd-enabled", "false",
             "--tail-call-enabled", "false", "--gc-enabled", "false", "--exceptions-enabled", "false",
             "--threads-enabled", "false", "--memory64-enabled", "false", "--max-imports", "0",
             "--min-funcs", "3", "--max-data-segments", "2"]
    compared = {"winch": 0, "cranelift": 0}
    limits = Limits(fuel=200_000)
    with Sandbox(limits, exact_bulk_fuel=False) as fast, Sandbox(limits) as default, \
            Sandbox(limits, compiler="cranelift") as exact:
        if fast.compiler != "winch":
            pytest.skip("Winch is not available here")
        for i in range(60):
            seed = bytes(rng.getrandbits(8) for _ in range(rng.randint(1000, 4000)))
            # Every other module without memory instructions, so that Winch compiles it.
            extra = ["--allowed-instructions", "numeric,control,variable,parametric"] if i % 2 else []
            module = subprocess.run(["wasm-tools", "smith", *flags, *extra], input=seed, capture_output=True).stdout
            sized = may_use_sized_ops(module)
            a, b = (default if sized else fast).compile(module), exact.compile(module)
            if not isinstance(a, CompiledModule) or not isinstance(b, CompiledModule):
                continue
            assert a.compiler == ("cranelift" if sized else "winch")
            for name, sig in list(a.functions.items())[:4]:
                if not sig.drivable:
                    continue
                case = [Case(tuple(rng.getrandbits(16) for _ in sig.params))]
                (ra,), (rb,) = (default if sized else fast).run(a, name, case), exact.run(b, name, case)
                assert ra.outcome is rb.outcome, (name, ra, rb)
                if ra.outcome is Outcome.OK:
                    assert (ra.results, ra.fuel) == (rb.results, rb.fuel), (a.compiler, name, ra, rb)
                    compared[a.compiler] += 1
    assert compared["winch"] >= 10 and compared["cranelift"] >= 2, compared


@pytest.mark.skipif(shutil.which("wasm-tools") is None, reason="wasm-tools is not installed")
def test_sized_instruction_detection_matches_the_disassembly():
    import random
    import re

    from jeet.sandbox._scan import may_use_sized_ops

    sized = re.compile(r"\b(memory\.(grow|fill|copy|init)|table\.(grow|fill|copy|init))\b")
    rng = random.Random(5)
    flags = ["--simd-enabled", "true", "--bulk-memory-enabled", "true", "--reference-types-enabled", "true",
             "--tail-call-enabled", "false", "--gc-enabled", "false", "--exceptions-enabled", "false",
             "--threads-enabled", "false", "--memory64-enabled", "false", "--relaxed-simd-enabled", "false",
             "--min-funcs", "2", "--max-imports", "0"]
    seen = {True: 0, False: 0}
    for i in range(60):
        extra = ["--allowed-instructions", "numeric,vector,control,variable,parametric,reference"] if i % 3 == 2 else []
        seed = bytes(rng.getrandbits(8) for _ in range(rng.randint(200, 3000)))
        module = subprocess.run(["wasm-tools", "smith", *flags, *extra], input=seed, capture_output=True).stdout
        text = subprocess.run(["wasm-tools", "print"], input=module, capture_output=True).stdout.decode()
        code = text.split("(data", 1)[0]
        expected = bool(sized.search(code))
        assert may_use_sized_ops(module) is expected, text[:3000]
        seen[expected] += 1
    assert seen[True] >= 3 and seen[False] >= 10, seen
