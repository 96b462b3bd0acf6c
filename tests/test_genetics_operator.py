"""The operator interface: Genome, the registry, the ledger, and the raw (roadmap) operators."""

from __future__ import annotations

import pickle
import random

import pytest
from genetics_support import FRAME, MIXED, POPCOUNT_LOOP, is_valid, wat

from jeet.genetics import (OPERATORS, SETS, GeneticsError, Genome, OperatorLedger, OperatorStats,
                           operator_set)
from jeet.genetics.raw_splice import RawSplice, splice_bytes
from jeet.genetics.raw_xor import RawXor, xor_byte
from jeet.wasm.ir import Body, Instr
from jeet.wasm.opcodes import BY_NAME

MACHINE = {"strength_reduce", "range_reduce", "small_quotient", "if_convert", "select_to_if", "licm", "idiom_bits", "idiom_rotate", "unroll",
           "vectorize_bytes", "word_at_a_time", "closed_form", "bit_permute", "while_loop", "stoke"}
STRUCTURAL = {"const_perturb", "opcode_swap", "delete_run", "copy_run", "swap_runs", "replace_expr",
              "promote_slot", "crossover_function", "crossover_splice"} | MACHINE


# -- Genome ----------------------------------------------------------------------------------------


def test_targets_are_the_defined_functions_reachable_from_the_export():
    # MIXED: import ext (0), helper (1), leaf (2, only through the table), unused (3), f (4).
    g = Genome.from_bytes(wat(MIXED), "f")
    assert g.targets == (0, 1, 3)
    assert g.module is not None and g.decoded() is g.module


def test_unknown_export_is_a_genetics_error_naming_the_exports():
    with pytest.raises(GeneticsError, match="exported functions: f"):
        Genome.from_bytes(wat(POPCOUNT_LOOP), "g")


def test_with_bodies_reencodes_and_leaves_the_parent_alone():
    parent = Genome.from_bytes(wat(POPCOUNT_LOOP), "f")
    before = parent.wasm
    body = Body(((1, 0x7F),), (Instr(BY_NAME["local.get"], (0,)), Instr(BY_NAME["i32.popcnt"]), Instr(0x0B)))
    child = parent.with_bodies({0: body})
    assert parent.wasm == before and parent.decoded().bodies[0].instrs[0].op == BY_NAME["block"]
    assert child.targets == parent.targets
    assert is_valid(child.wasm) and child.wasm != parent.wasm
    assert Genome(child.wasm, None, child.targets).decoded().bodies[0].instrs == body.instrs


def test_genome_decodes_lazily_and_memoises_analysis():
    g = Genome(wat(FRAME), None, (0,))
    assert g.module is None
    first = g.analysis(0)
    assert g.analysis(0) is first
    assert g.decoded() is g.decoded()


def test_children_inherit_the_facts_of_bodies_they_keep():
    parent = Genome.from_bytes(wat(MIXED), "f")
    kept = parent.analysis(0)
    parent.analysis(3)
    body = parent.decoded().bodies[3]
    child = parent.with_bodies({3: body.with_instrs(body.instrs)})  # same code, a new body object
    assert child.analysis(0) is kept
    assert child.analysis(3) is not parent.analysis(3)
    assert child.analysis(3) == parent.analysis(3)


def test_genome_pickles_as_bytes_and_targets():
    g = Genome.from_bytes(wat(MIXED), "f")
    g.analysis(0)
    clone = pickle.loads(pickle.dumps(g))
    assert clone == g and hash(clone) == hash(g)
    assert clone.module is None
    assert clone.decoded().encode() == g.wasm


# -- operators -------------------------------------------------------------------------------------


def test_registry_lists_every_operator_once_with_its_kind():
    assert set(OPERATORS) == STRUCTURAL | {"raw_xor", "raw_splice"}
    # the machine rewrites are structural too; stoke (a whole search per call) only when asked for
    assert set(SETS["structural"]) == STRUCTURAL - {"stoke"}
    assert set(SETS["raw"]) == {"raw_xor", "raw_splice"}
    assert set(SETS["machine"]) == MACHINE
    for name, cls in OPERATORS.items():
        assert cls.name == name
        assert cls.arity in (1, 2)
        assert cls.structural == (name in STRUCTURAL)


def test_operator_set_by_set_name_and_by_list():
    assert [op.name for op in operator_set()] == list(SETS["structural"])
    assert {op.name for op in operator_set("all")} == set(OPERATORS)
    assert [op.name for op in operator_set("raw")] == ["raw_xor", "raw_splice"]
    assert [op.name for op in operator_set(" delete_run, raw_xor ,delete_run")] == ["delete_run", "raw_xor"]


@pytest.mark.parametrize("spec", ["nope", "delete_run,nope", "", " , "])
def test_operator_set_rejects_unknown_names_listing_the_valid_ones(spec):
    with pytest.raises(ValueError) as info:
        operator_set(spec)
    message = str(info.value)
    assert "structural" in message and "promote_slot" in message and "raw_splice" in message


def test_operators_are_stateless_and_picklable():
    for op in operator_set("all"):
        clone = pickle.loads(pickle.dumps(op))
        assert clone == op and type(clone) is type(op) and vars(op) == {}


def test_too_few_parents_is_a_usage_error():
    g = Genome.from_bytes(wat(POPCOUNT_LOOP), "f")
    with pytest.raises(GeneticsError):
        OPERATORS["crossover_splice"]().apply(random.Random(0), [g])


def test_structural_operators_answer_none_for_parents_that_do_not_decode_or_type_check():
    good = Genome.from_bytes(wat(POPCOUNT_LOOP), "f")
    garbage = Genome(b"\x00asm\x01\x00\x00\x00\x01\xff", None, good.targets)
    ill_typed = good.with_bodies({0: Body((), (Instr(BY_NAME["i32.add"]), Instr(0x0B)))})
    assert not is_valid(ill_typed.wasm)
    misfit = Genome(good.wasm, None, (0, 5))  # e.g. a raw child whose code section lost functions
    for op in operator_set("structural"):
        for bad in (garbage, ill_typed, misfit):
            for seed in range(3):
                assert op.apply(random.Random(seed), [bad, bad]) is None, op.name
            if op.arity == 2:
                assert op.apply(random.Random(0), [good, bad]) is None, op.name


# -- raw operators ---------------------------------------------------------------------------------


def test_raw_xor_flips_exactly_one_byte_by_0x1a():
    assert xor_byte(b"\x00\x10\xff", 1) == b"\x00\x0a\xff"
    parent = Genome.from_bytes(wat(FRAME), "f")
    rng = random.Random(3)
    for _ in range(50):
        child = RawXor().apply(rng, [parent])
        diffs = [(a, b) for a, b in zip(parent.wasm, child.wasm) if a != b]
        assert len(child.wasm) == len(parent.wasm) and len(diffs) == 1
        assert diffs[0][0] ^ diffs[0][1] == 0x1A
        assert child.module is None and child.targets == parent.targets


def test_raw_splice_follows_the_roadmap_slices():
    # a[0..split] & b[split+1..^1] with Nim's inclusive slices.
    assert splice_bytes(b"abcdef", b"ABCDEF", 2) == b"abcDEF"
    assert splice_bytes(b"abcdef", b"ABCDEF", 0) == b"aBCDEF"
    assert splice_bytes(b"abc", b"ABCDEF", 3) == b"abcEF"
    a = Genome(bytes(range(0, 40)), None, (0,))
    b = Genome(bytes(range(100, 130)), None, (0,))
    rng = random.Random(5)
    for _ in range(100):
        child = RawSplice().apply(rng, [a, b]).wasm
        split = next((i for i, x in enumerate(child) if x >= 100), len(child)) - 1
        assert 0 <= split <= 30
        assert child == a.wasm[: split + 1] + b.wasm[split + 1:]


def test_raw_operators_valid_rate_is_measured(record_property):
    """The roadmap's operators mostly break modules; the rate is reported, not required."""
    base = Genome.from_bytes(wat(MIXED), "f")
    other = Genome.from_bytes(wat(FRAME), "f")
    rng = random.Random(11)
    rates = {}
    for op, pair in ((RawXor(), (base, base)), (RawSplice(), (base, other))):
        children = [c for c in (op.apply(rng, pair) for _ in range(300)) if c is not None]
        rates[op.name] = sum(is_valid(c.wasm) for c in children) / len(children)
        record_property(f"{op.name}_valid_rate", rates[op.name])
    assert rates["raw_xor"] < 0.95 and rates["raw_splice"] < 0.95
    print("raw operator valid rates:", rates)


# -- ledger ----------------------------------------------------------------------------------------


def test_ledger_counts_rates_and_merges():
    ledger = OperatorLedger()
    ledger.record("delete_run", valid=True, correct=True, improving=True)
    ledger.record("delete_run", valid=True, correct=False, improving=False)
    ledger.record("delete_run", valid=False, correct=False, improving=False)
    ledger.record("raw_xor", valid=False, correct=False, improving=False)
    d = ledger.get("delete_run")
    assert (d.made, d.valid, d.correct, d.improving) == (3, 2, 1, 1)
    assert d.valid_rate == pytest.approx(2 / 3) and d.correct_rate == pytest.approx(1 / 3)
    assert ledger.get("unused").valid_rate == 0.0

    other = OperatorLedger()
    other.record("raw_xor", valid=True, correct=True, improving=False)
    merged = ledger.merge(other)
    assert merged.get("raw_xor") == OperatorStats(2, 1, 1, 0)
    assert ledger.get("raw_xor") == OperatorStats(1, 0, 0, 0)  # inputs unchanged
    rows = merged.as_rows()
    assert [r["operator"] for r in rows] == ["delete_run", "raw_xor"]
    assert rows[1]["valid_rate"] == 0.5 and rows[0]["improving"] == 1
    assert pickle.loads(pickle.dumps(merged)).as_rows() == rows


def test_ledger_rejects_impossible_outcomes():
    with pytest.raises(ValueError):
        OperatorLedger().record("x", valid=False, correct=True, improving=False)
    with pytest.raises(ValueError):
        OperatorStats().record(valid=True, correct=False, improving=True)


def test_native_wins_multiply_their_speedups_merge_and_survive_a_checkpoint():
    ledger = OperatorLedger()
    ledger.record_native("strength_reduce", 0.5)
    ledger.record_native("strength_reduce", 0.8)  # two wins: 2x then 1.25x
    other = OperatorLedger()
    other.record_native("licm", 0.9)
    merged = ledger.merge(other)
    rows = {r["operator"]: r for r in merged.as_rows()}
    assert rows["strength_reduce"]["native_wins"] == 2 and rows["strength_reduce"]["native_speedup"] == 2.5
    assert rows["licm"]["native_speedup"] == pytest.approx(1 / 0.9, abs=1e-4)
    assert OperatorLedger.from_dict(merged.to_dict()).as_rows() == merged.as_rows()
    old = OperatorLedger.from_dict({"licm": [3, 2, 1, 0]})  # a checkpoint from before native wins
    assert old.get("licm") == OperatorStats(3, 2, 1, 0) and old.get("licm").native_speedup == 1.0
    with pytest.raises(ValueError):
        ledger.record_native("licm", float("nan"))
