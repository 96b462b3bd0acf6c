"""`jeet bench --suite prove` on two kernels with few inputs: the table is written and nothing is falsely proved."""

from __future__ import annotations

import json

from rich.console import Console

from jeet.bench.options import BenchOptions, load_suite


def test_prove_suite_small(tmp_path):
    run = load_suite("prove")
    report = run(BenchOptions(kernels=("clamp", "sum_bytes"), out=tmp_path), Console(quiet=True),
                 inputs=300, mutants_per_kernel=2, smith_modules=1, evolve_outputs=False)
    s = report["summary"]
    assert s["loop_free"] == s["loop_free_proved"] == 2          # clamp -O0 and -O2
    assert s["loops"] == s["loops_bounded_16"] == 2              # sum_bytes -O0 and -O2
    assert s["planted"] == s["planted_refuted_exact"] == 4
    assert s["false_proved"] == 0
    assert all(c["refuted_confirmed"] == c["refuted"] for c in report["cross_check"])
    assert "| clamp | O0 | yes | proved |" in (tmp_path / "prove.md").read_text()
    assert json.loads((tmp_path / "prove.json").read_text())["suite"] == "prove"


def test_an_output_that_depends_on_where_the_buffer_sits_disagrees_off_the_tests_offset():
    import random

    import wasmtime

    from jeet.bench.prove_outputs import disagreements
    from jeet.sandbox import Sandbox

    def sum_bytes(addr: str) -> bytes:  # sum of len bytes from ptr; `addr` computes the i-th address
        return wasmtime.wat2wasm(f"""(module (memory (export "memory") 2) (func (export "f") (param i32 i32) (result i32)
          (local i32 i32) (block $d (loop $l local.get 2 local.get 1 i32.ge_u br_if $d
            local.get 3 {addr} i32.load8_u i32.add local.set 3
            local.get 2 i32.const 1 i32.add local.set 2 br $l)) local.get 3))""")

    right, wrong = sum_bytes("local.get 0 local.get 2 i32.add"), sum_bytes("local.get 0 local.get 2 i32.xor")
    with Sandbox() as sb:
        assert disagreements(sb, right, right, "f", 300, random.Random(1)) == 0
        assert disagreements(sb, right, wrong, "f", 300, random.Random(1)) > 30
