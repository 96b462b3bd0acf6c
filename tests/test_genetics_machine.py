"""The machine rewrites (vectorize_bytes, word_at_a_time, stoke) in a run and on foreign modules: asked for by
name, drawn at their low starting weights, always valid."""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest
from ops_support import KERNEL_DIR, SMITH_SIMD, wasmtime_valid

from jeet.evolve import EvolveConfig, Evolution, load_problem
from jeet.genetics import OPERATORS, SETS, Genome, operator_set
from jeet.genetics.registry import DEFAULT_WEIGHTS, MACHINE
from jeet.sandbox import Sandbox
from jeet.wasm import decode, validate
from jeet.errors import WasmError

TESTS_DIR = KERNEL_DIR.parent / "tests"


def test_the_machine_set_is_asked_for_and_weighted_low():
    assert set(SETS["machine"]) == set(MACHINE) >= {"vectorize_bytes", "word_at_a_time", "stoke"}
    # the cheap machine rewrites are in the default set; stoke (a whole search per call) only when asked
    assert set(MACHINE) - set(SETS["structural"]) == {"stoke"}
    assert [op.name for op in operator_set("structural,machine")][-1] == "stoke"
    assert all(0 < DEFAULT_WEIGHTS[name] < 1 for name in MACHINE)


def test_a_run_with_the_machine_set_vectorizes_and_stays_correct():
    problem = load_problem(KERNEL_DIR / "count_byte.O2.wasm", "count_byte", TESTS_DIR / "count_byte.jsonl",
                           seed=2, train_size=8)
    cfg = EvolveConfig(population=16, generations=6, budget_s=None, workers=1, use_wasm_opt=False, seed=4,
                       operators="structural,machine", adaptive_operators="off")
    with Evolution(problem, cfg) as evo:
        evo.run()
        probs = evo.operator_probabilities
        assert probs["stoke"] < probs["vectorize_bytes"] < probs["const_perturb"]  # the registry's weights
        stats = evo.ledger.stats["vectorize_bytes"]
        assert stats.made >= 1 and stats.correct == stats.made  # semantics-preserving: every child correct
        champion = evo.champion.wasm
    assert problem.oracle.verify_held_out(Sandbox(), champion, "count_byte").ok


def test_machine_rewrites_keep_wasm_smith_simd_modules_valid():
    exe = shutil.which("wasm-tools")
    if exe is None:
        pytest.skip("wasm-tools not installed")
    rng = random.Random(99)
    genomes = []
    for _ in range(12):
        r = subprocess.run([exe, "smith", *SMITH_SIMD, "--export-everything", "true", "-o", "/dev/stdout"],
                           input=rng.randbytes(2500), capture_output=True, timeout=30)
        if r.returncode != 0 or not wasmtime_valid(r.stdout):
            continue
        for name in list(decode(r.stdout).exported_functions())[:3]:
            try:
                g = Genome.from_bytes(r.stdout, name)
            except WasmError:
                continue
            if g.targets:
                genomes.append(g)
    assert len(genomes) >= 10
    made = 0
    for name in MACHINE:
        op = OPERATORS[name]()
        for n, g in enumerate(genomes):
            child = op.apply(random.Random(n), [g])
            if child is not None:
                made += 1
                validate(decode(child.wasm))
                assert wasmtime_valid(child.wasm), name
    assert made >= 1  # stoke finds integer windows in smith's code
