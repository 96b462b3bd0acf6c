"""`jeet bench --suite prove` on two kernels with few inputs: the table is written and nothing is falsely proved."""

from __future__ import annotations

import json

from rich.console import Console

from jeet.bench.options import BenchOptions, load_suite


def test_prove_suite_small(tmp_path):
    run = load_suite("prove")
    report = run(BenchOptions(kernels=("clamp", "sum_bytes"), out=tmp_path), Console(quiet=True),
                 inputs=300, mutants_per_kernel=2, smith_modules=1)
    s = report["summary"]
    assert s["loop_free"] == s["loop_free_proved"] == 2          # clamp -O0 and -O2
    assert s["loops"] == s["loops_bounded_16"] == 2              # sum_bytes -O0 and -O2
    assert s["planted"] == s["planted_refuted_exact"] == 4
    assert s["false_proved"] == 0
    assert all(c["refuted_confirmed"] == c["refuted"] for c in report["cross_check"])
    assert "| clamp | O0 | yes | proved |" in (tmp_path / "prove.md").read_text()
    assert json.loads((tmp_path / "prove.json").read_text())["suite"] == "prove"
