"""The machine-level rewrites on the built-in kernel suite: every offspring validates (jeet's
validator and wasmtime) and answers the kernel's own test cases exactly as its parent does, at
-O0, at -O0 with its frame promoted to locals (what promote_slot makes of it), and at -O2."""

from __future__ import annotations

import base64
import json
import random
from collections import Counter

import pytest
from genetics_support import KERNEL_DIR, clang_module, is_valid

from jeet.genetics import OPERATORS, Genome
from jeet.genetics.promote_slot import find_slots, promote
from jeet.genetics.sites import facts
from jeet.wasm.analysis import validate
from jeet.wasm.decode import decode

SEEDS = 40
CASES = 120


def _promoted(g: Genome) -> Genome:
    changes = {}
    for t in g.targets:
        f = facts(g, t)
        slots = find_slots(f)
        if slots:
            changes[t] = promote(f.body, len(f.local_types), slots)
    return g.with_bodies(changes) if changes else g


@pytest.fixture(scope="module")
def suite() -> dict[str, tuple[Genome, str, list]]:
    """label -> (genome, exported function, test cases) for every kernel build."""
    paths = sorted(KERNEL_DIR.glob("*.wasm"))
    if not paths:
        pytest.skip("kernel suite not built")
    out = {}
    for path in paths:
        label = path.name.removesuffix(".wasm")
        name = label.split(".")[0]
        lines = (KERNEL_DIR.parent / "tests" / f"{name}.jsonl").read_text().splitlines()[:CASES]
        cases = [_case(json.loads(line)) for line in lines if line.strip()]
        g = Genome.from_bytes(path.read_bytes(), name)
        out[label] = (g, name, cases)
        if label.endswith(".O0"):
            out[label + "+promoted"] = (_promoted(g), name, cases)
    return out


class _case:
    def __init__(self, d: dict) -> None:
        self.args = tuple(d["args"])
        self.memory = tuple((a, base64.b64decode(b)) for a, b in d.get("memory", ()))
        self.expect_memory, self.trap = (), False


def _answers(sandbox, wasm: bytes, function: str, cases: list) -> list:
    return [(r.outcome, r.results) for r in sandbox.run(wasm, function, cases)]


# the exact rewrites checked here on every kernel; the byte-loop rewrites have their own suites, and stoke
# (a search kept only when it passes the cases it was given) is judged by the gate, not trusted
EXACT = ("strength_reduce", "range_reduce", "if_convert", "select_to_if", "licm", "idiom_bits", "idiom_rotate", "unroll")


@pytest.mark.parametrize("name", EXACT)
def test_offspring_on_the_kernel_suite_validate_and_pass_the_kernels_cases(sandbox, suite, name, record_property):
    op = OPERATORS[name]()
    applied = Counter()
    for label, (g, function, cases) in suite.items():
        expected = _answers(sandbox, g.wasm, function, cases)
        assert all(r[0].value == "ok" for r in expected), label
        rng = random.Random(label)
        seen = set()
        for _ in range(SEEDS):
            child = op.apply(rng, [g])
            if child is None:
                continue
            applied[label] += 1
            if child.wasm in seen:
                continue
            seen.add(child.wasm)
            validate(decode(child.wasm))
            assert is_valid(child.wasm), (name, label)
            assert _answers(sandbox, child.wasm, function, cases) == expected, (name, label)
            # offspring of offspring: the rewrite composes with itself
            grandchild = op.apply(rng, [child])
            if grandchild is not None:
                validate(decode(grandchild.wasm))
                assert _answers(sandbox, grandchild.wasm, function, cases) == expected, (name, label, "twice")
    record_property("applies_to", sorted(applied))
    floor = {"strength_reduce": 6, "range_reduce": 1, "if_convert": 6, "select_to_if": 0, "licm": 3, "idiom_bits": 5,
             "idiom_rotate": 0, "unroll": 35}[name]
    assert len(applied) >= floor, sorted(applied)


def test_idioms_turn_the_bit_kernels_into_one_instruction_loops_gone(suite):
    """popcount and ctz, from clang -O2 and from -O0 once the frame is promoted: no loop is left."""
    op = OPERATORS["idiom_bits"]()
    for label, want in (("popcount.O2", "i32.popcnt"), ("popcount.O0+promoted", "i32.popcnt"),
                        ("ctz.O2", "i32.ctz"), ("ctz.O0+promoted", "i32.ctz")):
        g = suite[label][0]
        child = op.apply(random.Random(0), [g])
        names = [ins.name for ins in child.decoded().bodies[g.targets[0]].instrs]
        assert want in names, label
        assert names.count("loop") == (1 if "ctz" in label else 0), label  # ctz keeps its x == 0 spin


def test_compiled_rotations_and_divisions_are_found(sandbox, tmp_path):
    """Fresh clang builds (when clang can target wasm32): a rotate and a division by a constant."""
    from genetics_support import C_SOURCES

    C_SOURCES["machine"] = """
        unsigned f(unsigned x, unsigned n) {
            unsigned r = (x << 5) | (x >> 27);
            return r / 10 + (x % 7) * 9;
        }
    """
    try:
        for opt in ("O0", "O2"):
            wasm = clang_module("machine", opt, tmp_path)
            if wasm is None:
                pytest.skip("clang cannot build wasm32 here")
            g = Genome.from_bytes(wasm, "f")
            if opt == "O0":
                g = _promoted(g)
            for name in ("idiom_rotate", "strength_reduce") if opt == "O0" else ("strength_reduce",):
                child = OPERATORS[name]().apply(random.Random(1), [g])
                assert child is not None, (name, opt)
                rng = random.Random(9)
                args = [(rng.randrange(2**32), rng.randrange(32)) for _ in range(200)] + [(0, 0), (2**32 - 1, 31)]
                cases = [type("C", (), {"args": a, "memory": (), "expect_memory": (), "trap": False})() for a in args]
                old = sandbox.run(g.wasm, "f", cases)
                new = sandbox.run(child.wasm, "f", cases)
                assert [r.results for r in old] == [r.results for r in new], (name, opt)
    finally:
        del C_SOURCES["machine"]
