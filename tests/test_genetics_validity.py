"""Structural operators yield valid modules by construction, on hand-written and compiled code."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest
from genetics_support import (EXOTIC, FRAME, MIXED, POPCOUNT_LOOP, clang_module, is_valid,
                              kernel_modules, offspring, wat)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jeet.genetics import OPERATORS, SETS, Genome, operator_set
from jeet.genetics.registry import EXPENSIVE
from jeet.wasm.analysis import analyze
from jeet.wasm.decode import decode
from jeet.errors import WasmError

MUTATIONS = [name for name in SETS["structural"] if OPERATORS[name].arity == 1]
# Operators that apply only where their pattern occurs (promote_slot: a clang -O0 frame; the
# machine-level rewrites: a constant divisor, a diamond, a loop of some shape): "not applicable"
# is a fine answer from them; whatever they do make must still validate.
PATTERN_BOUND = {"promote_slot", *SETS["machine"]}
CROSSOVERS = [name for name in SETS["structural"] if OPERATORS[name].arity == 2]
WATS = {"popcount_loop": POPCOUNT_LOOP, "frame": FRAME, "mixed": MIXED, "exotic": EXOTIC}
KERNELS = ("popcount", "alu", "smoothstep", "fib", "adler32")
N = 300
MIN_VALID = 0.95


@pytest.fixture(scope="module")
def modules(tmp_path_factory) -> dict[str, Genome]:
    """label -> Genome: the WAT modules, kernels from the built-in suite, and fresh clang builds."""
    out = {name: Genome.from_bytes(wat(text), "f") for name, text in WATS.items()}
    for label, (wasm, function) in kernel_modules(KERNELS, ("O0",)).items():
        out[label] = Genome.from_bytes(wasm, function)
    for label, (wasm, function) in kernel_modules(("popcount", "alu"), ("O2",)).items():
        out[label] = Genome.from_bytes(wasm, function)
    tmp = tmp_path_factory.mktemp("clang")
    for name in ("loops", "floats"):
        for opt in ("O0", "O2"):
            wasm = clang_module(name, opt, tmp)
            if wasm is not None:
                out[f"clang-{name}.{opt}"] = Genome.from_bytes(wasm, "f")
    return out


def frame_code(label: str) -> bool:
    return label == "frame" or label.endswith(".O0")


def diverse(g: Genome, seed: int, n: int = 12) -> list[Genome]:
    """The module and valid mutants of it, as parents for crossover."""
    rng = random.Random(seed)
    muts = operator_set("const_perturb,opcode_swap,replace_expr,delete_run,copy_run,promote_slot")
    pool = [g]
    while len(pool) < n:
        child = rng.choice(muts).apply(rng, [rng.choice(pool)])
        if child is not None and is_valid(child.wasm):
            pool.append(child)
    return pool


def swappable(parents: list[Genome]) -> bool:
    """Some pair of parents differs in two or more bodies (else crossover_function can only copy)."""
    bodies = [p.decoded().bodies for p in parents]
    return any(sum(x != y for x, y in zip(a, b)) >= 2 for a in bodies for b in bodies)


def test_modules_are_present_and_valid(modules):
    assert {"popcount_loop", "frame", "mixed"} <= set(modules)
    for label, g in modules.items():
        assert is_valid(g.wasm), label
        assert g.targets, label


@pytest.mark.parametrize("name", MUTATIONS)
def test_mutation_offspring_validate(modules, name, record_property):
    op = OPERATORS[name]()
    rates = {}
    for label, g in modules.items():
        if name == "promote_slot" and not frame_code(label):
            continue
        made, valid, _ = offspring(op, [g], N, seed=hash((name, label)) & 0xFFFF)
        if name in PATTERN_BOUND and not made:
            continue
        assert made > 0, f"{name} never applicable to {label}"
        rates[label] = valid / made
        assert valid / made >= MIN_VALID, f"{name} on {label}: {valid}/{made} valid"
    record_property("valid_rates", rates)


@pytest.mark.parametrize("name", CROSSOVERS)
def test_crossover_offspring_validate(modules, name):
    op = OPERATORS[name]()
    for label, g in modules.items():
        parents = diverse(g, seed=7)
        if name == "crossover_function" and not swappable(parents):
            continue  # the child could only be a copy of the second parent, which is no offspring
        made, valid, _ = offspring(op, parents, N, seed=3)
        assert made > 0, f"{name} never applicable to {label}"
        assert valid / made >= MIN_VALID, f"{name} on {label}: {valid}/{made} valid"


def test_promote_slot_applies_to_clang_O0_frames(modules):
    for label, g in modules.items():
        if label.endswith(".O0"):
            assert OPERATORS["promote_slot"]().apply(random.Random(0), [g]) is not None, label


def test_same_seed_same_offspring(modules):
    parents = diverse(modules["frame"], seed=1, n=6)
    for op in operator_set("all"):
        if op.name in EXPENSIVE:
            continue  # a search per call; its determinism is tested in test_genetics_stoke
        runs = []
        for _ in range(2):
            rng = random.Random(42)
            # fresh Genome objects: memoised analyses must not change the outcome
            fresh = [Genome(p.wasm, None, p.targets) for p in parents]
            runs.append([getattr(op.apply(rng, [fresh[i % 6], fresh[(i + 1) % 6]]), "wasm", None)
                         for i in range(30)])
        assert runs[0] == runs[1], op.name
        assert any(runs[0]) or op.name in SETS["machine"] \
            or (op.name == "crossover_function" and not swappable(parents)), op.name


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), name=st.sampled_from(sorted(SETS["structural"])),
       which=st.sampled_from(sorted(WATS) + ["popcount.O0", "alu.O0"]))
def test_every_structural_operator_yields_a_valid_module(modules, seed, name, which):
    """Property: a chain of offspring, each the parent of the next, stays valid throughout."""
    g = modules.get(which) or modules["mixed"]
    rng = random.Random(seed)
    op = OPERATORS[name]()
    other = g
    for _ in range(8):
        child = op.apply(rng, [g, other])
        if child is None:
            continue
        assert is_valid(child.wasm), f"{name} from seed {seed} on {which}"
        other, g = g, child


@pytest.mark.parametrize("name", sorted(SETS["structural"]))
def test_typing_handed_to_offspring_equals_a_fresh_analysis(modules, name):
    """Children reuse their parent's typing for kept and edited bodies; it must be exact."""
    op = OPERATORS[name]()
    for label in ("mixed", "exotic", "frame", "popcount_loop", "alu.O0", "clang-loops.O0", "clang-floats.O2"):
        if label not in modules:
            continue
        parents = diverse(modules[label], seed=5, n=6)
        rng = random.Random(9)
        checked = 0
        for _ in range(60):
            child = op.apply(rng, [rng.choice(parents), rng.choice(parents)])
            if child is None:
                continue
            for t in child.targets:
                assert child.analysis(t) == analyze(child.decoded(), t), (name, label, t)
            parents[rng.randrange(1, len(parents))] = child
            checked += 1
        assert checked or (name == "promote_slot" and not frame_code(label)) or name in SETS["machine"] \
            or (name == "crossover_function" and not swappable(diverse(modules[label], seed=5, n=6))), (name, label)


SPEC_SUITE = Path(__file__).resolve().parents[1].parent / "shared" / "spec-testsuite"
SMITH_FLAGS = [
    "--export-everything", "true", "--min-funcs", "2", "--max-memories", "1", "--max-tables", "2",
    *[arg for feature in ("simd", "relaxed-simd", "threads", "shared-everything-threads", "exceptions", "gc",
                          "compact-imports", "custom-descriptors", "custom-page-sizes", "memory64",
                          "tail-call", "wide-arithmetic", "extended-const")
      for arg in (f"--{feature}-enabled", "false")],
]


def foreign_genomes(modules: list[bytes], per_module: int) -> list[Genome]:
    """Genomes for up to `per_module` exported functions of each module the codec and wasmtime accept."""
    out = []
    for wasm in modules:
        if not is_valid(wasm):
            continue
        try:
            exports = decode(wasm).exported_functions()
            for name in list(exports)[:per_module]:
                g = Genome.from_bytes(wasm, name)
                if g.targets:
                    out.append(g)
        except WasmError:
            continue  # a feature beyond WebAssembly 2.0
    return out


def assert_valid_offspring(genomes: list[Genome], per_genome: int) -> None:
    for name in SETS["structural"]:
        op = OPERATORS[name]()
        made = valid = 0
        for n, g in enumerate(genomes):
            m, v, _ = offspring(op, [g], per_genome, seed=n)
            made, valid = made + m, valid + v
        if name not in ("promote_slot", "crossover_function", *SETS["machine"]):  # no frames; a single parent
            assert made > 0, name
        assert valid >= MIN_VALID * made, f"{name}: {valid}/{made} valid"


def test_spec_testsuite_functions_yield_valid_offspring():
    """Every exported function of the WebAssembly spec tests that the codec models: no operator
    raises, and offspring validate."""
    if not SPEC_SUITE.is_dir():
        pytest.skip("spec testsuite not present")
    wasms = [p.read_bytes() for p in sorted(SPEC_SUITE.glob("*/*.wasm"))]
    genomes = foreign_genomes(wasms, per_module=2)
    assert len(genomes) > 100
    assert_valid_offspring(genomes, per_genome=5)


def test_wasm_smith_modules_yield_valid_offspring():
    smith = shutil.which("wasm-tools")
    if smith is None:
        pytest.skip("wasm-tools not installed")
    wasms = []
    for seed in range(30):
        run = subprocess.run([smith, "smith", *SMITH_FLAGS], input=random.Random(seed).randbytes(3000),
                             capture_output=True)
        if run.returncode == 0:
            wasms.append(run.stdout)
    genomes = foreign_genomes(wasms, per_module=3)
    if len(genomes) < 5:
        pytest.skip("wasm-tools smith made too few modules within WebAssembly 2.0")
    assert_valid_offspring(genomes, per_genome=25)
