"""SIMD function bodies are evolvable now that the IR models them: every structural operator keeps them
valid, on hand-written SIMD and on clang -msimd128 output."""

from __future__ import annotations

import shutil
import subprocess

from genetics_support import offspring
from ops_support import wasmtime_valid, wat

from jeet.genetics import OPERATORS, SETS, Genome

SIMD_SUM = """
(module
  (memory (export "memory") 1)
  (func (export "f") (param i32 i32) (result i32) (local v128)
    block
      loop
        local.get 1
        i32.const 16
        i32.lt_u
        br_if 1
        local.get 2
        local.get 0
        v128.load align=1
        i16x8.extadd_pairwise_i8x16_u
        i32x4.extadd_pairwise_i16x8_u
        i32x4.add
        local.set 2
        local.get 0
        i32.const 16
        i32.add
        local.set 0
        local.get 1
        i32.const 16
        i32.sub
        local.set 1
        br 0
      end
    end
    local.get 2
    local.get 2
    local.get 2
    i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
    i32x4.add
    local.tee 2
    i32x4.extract_lane 0
    local.get 2
    i32x4.extract_lane 1
    i32.add
    local.get 0
    i8x16.splat
    v128.any_true
    i32.add))
"""

C_SIMD = r"""
#include <wasm_simd128.h>
int dot(const int *a, const int *b, int n) { int s = 0; for (int i = 0; i < n; i++) s += a[i] * b[i]; return s; }
int addv(int x, int y) {
  v128_t a = wasm_i32x4_splat(x), b = wasm_i32x4_make(y, 1, 2, 3);
  v128_t c = wasm_i8x16_shuffle(wasm_i32x4_add(a, b), a, 0,1,2,3,16,17,18,19,4,5,6,7,20,21,22,23);
  return wasm_i32x4_extract_lane(c, 1) + wasm_i32x4_extract_lane(c, 2);
}
"""


def _genomes(tmp_path) -> dict[str, Genome]:
    out = {"simd_sum": Genome.from_bytes(wat(SIMD_SUM), "f")}
    clang = shutil.which("clang")
    if clang is not None:
        src = tmp_path / "simd.c"
        src.write_text(C_SIMD)
        for level in ("O0", "O2"):
            dst = tmp_path / f"simd.{level}.wasm"
            r = subprocess.run([clang, "--target=wasm32", f"-{level}", "-msimd128", "-nostdlib", "-Wl,--no-entry",
                                "-Wl,--export-all", "-o", str(dst), str(src)], capture_output=True)
            if r.returncode == 0:
                for function in ("dot", "addv"):
                    out[f"{function}.{level}"] = Genome.from_bytes(dst.read_bytes(), function)
    return out


def test_simd_bodies_are_targets_and_every_structural_operator_keeps_them_valid(tmp_path):
    genomes = _genomes(tmp_path)
    for label, g in genomes.items():
        assert g.targets, label
        # clang -O0 does not vectorize the dot product; everything else holds SIMD
        assert label == "dot.O0" or any(i.op >> 8 == 0xFD for t in g.targets for i in g.body(t).instrs), label
    for name in SETS["structural"]:
        op = OPERATORS[name]()
        for label, g in genomes.items():
            made, valid, kept = offspring(op, [g] * op.arity, 40, seed=11)
            assert valid == made, f"{name} on {label}: {valid}/{made} valid"
            assert all(wasmtime_valid(c.wasm) for c in kept)
