"""Building the variant table on the size-dependent kernel crc8: who wins where, against the single best overall."""

from __future__ import annotations

import hashlib
import random

import pytest
import wasmtime

from jeet.epigenetics import (
    Environment, ExpressConfig, build_expression, environment_of, kernel_implementations, kernel_seeds,
    resolve_target, tag_specimen,
)
from jeet.kernels import BUFFER_BASE, get_kernel
from jeet.kernels.make_tests import BUFFER_REFERENCES
from jeet.oracle import Case
from jeet.sandbox import Limits, Sandbox

CRC8 = BUFFER_REFERENCES["crc8"]
CONFIG = ExpressConfig(budget_s=0, held_out_per_env=60, measure_cases=24, use_wasm_opt=False)

# crc8 bit by bit in WAT, optionally wrong past `limit` bytes (it stops there)
CRC8_WAT = """(module (memory (export "memory") 2 16)
  (func (export "crc8") (param $p i32) (param $n i32) (param $g i32) (result i32) (local $crc i32) (local $k i32)
    LIMIT
    (block $done (loop $bytes
      (br_if $done (i32.le_s (local.get $n) (i32.const 0)))
      (local.set $crc (i32.xor (local.get $crc) (i32.load8_u (local.get $p))))
      (local.set $k (i32.const 8))
      (loop $bits
        (local.set $crc (select (i32.xor (i32.shl (local.get $crc) (i32.const 1)) (local.get $g))
                                (i32.shl (local.get $crc) (i32.const 1))
                                (i32.and (local.get $crc) (i32.const 0x80))))
        (local.set $k (i32.sub (local.get $k) (i32.const 1)))
        (br_if $bits (local.get $k)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $bytes)))
    (i32.and (local.get $crc) (i32.const 255))))"""
RIGHT = bytes(wasmtime.wat2wasm(CRC8_WAT.replace("LIMIT", "")))
WRONG_ON_LONG = bytes(wasmtime.wat2wasm(CRC8_WAT.replace(
    "LIMIT", "(if (i32.gt_s (local.get $n) (i32.const 1024)) (then (local.set $n (i32.const 1024))))")))


def fuel(wasm: bytes, length: int, rng: random.Random) -> int:
    data = rng.randbytes(length)
    with Sandbox(Limits(fuel=50_000_000)) as sb:
        [r] = sb.run(wasm, "crc8", [Case((BUFFER_BASE, length, 7), memory=((BUFFER_BASE, data),))])
    assert r.ok and r.results == (CRC8(data, 7)[0],)
    return r.fuel


@pytest.fixture(scope="module")
def built():
    peers = [tag_specimen("crc8", WRONG_ON_LONG, 0.6, 500, Environment("large")),
             tag_specimen("crc8", RIGHT, 0.6, 500, Environment("small", node=("arch=arm64",)))]
    return build_expression(resolve_target("crc8", config=CONFIG), CONFIG, peers=peers)


def test_crc8_ships_three_implementations_built_by_clang():
    kernel = get_kernel("crc8")
    assert kernel_implementations(kernel) == ["crc8", "crc8.nibble", "crc8.table"]
    origins = [s.origin for s in kernel_seeds(kernel, use_wasm_opt=False)]
    assert origins == [f"clang -{o} {i}.c" for i in ("crc8", "crc8.nibble", "crc8.table") for o in ("O0", "O2")]


def test_setup_cost_against_per_byte_cost():
    """Bit by bit wins on a few bytes, the 256-entry table on kilobytes, the 16-entry table is second in both."""
    wasm = {impl: (get_kernel("crc8").wasm_path("O2").parent / f"{impl}.O2.wasm").read_bytes()
            for impl in kernel_implementations(get_kernel("crc8"))}
    rng = random.Random(0)
    short = {impl: fuel(w, 4, rng) for impl, w in wasm.items()}
    long = {impl: fuel(w, 4096, rng) for impl, w in wasm.items()}
    assert short["crc8"] < short["crc8.nibble"] < short["crc8.table"]
    assert long["crc8.table"] < long["crc8.nibble"] < long["crc8"]


def test_each_environment_expresses_its_own_winner_and_beats_the_compromise_by_a_fifth(built):
    by_env = {r.environment: r for r in built.results}
    assert set(by_env) == {"size=small", "size=large"}
    assert by_env["size=small"].sizes == (0, 7) and by_env["size=large"].sizes == (8, 8192)
    assert by_env["size=small"].expressed_origin in ("clang -O2 crc8.c", "peer specimen " + hashlib.sha256(RIGHT).hexdigest()[:12])
    assert by_env["size=large"].expressed_origin == "clang -O2 crc8.table.c"
    assert built.best_overall.origin == "clang -O2 crc8.nibble.c"
    for r in built.results:
        assert r.gain >= 0.20, r
        assert r.expressed_fuel < r.best_overall_fuel < r.reference_fuel * 10
        assert r.tags == (f"env:size={r.environment.split('=')[1]}",)


def test_the_single_best_overall_has_the_least_geometric_mean_fuel(built):
    envs = [s.environment for s in built.specs]

    def geo(sha: str) -> float:
        x = 1.0
        for e in envs:
            x *= built.table.fuel(e, sha)
        return x ** (1 / len(envs))

    assert geo(built.best_overall.sha256) == pytest.approx(built.best_overall_geomean)
    assert all(geo(v.sha256) >= built.best_overall_geomean * (1 - 1e-9) for v in built.variants)


def test_every_variant_in_the_pool_computes_crc8_on_buffers_of_every_size(built):
    """Checked here against the Python reference, independently of the gate."""
    rng = random.Random(5)
    inputs = [(rng.randrange(256), rng.randbytes(n)) for n in [0, 1, 7, 8, 9, 600, 1025, 5000, 8192]]
    engine_cases = [Case((BUFFER_BASE, len(d), poly), memory=((BUFFER_BASE, d),)) for poly, d in inputs]
    with Sandbox(Limits(fuel=50_000_000)) as sb:
        for v in built.variants:
            results = sb.run(v.wasm, "crc8", engine_cases)
            assert [r.results for r in results] == [CRC8(d, poly) for poly, d in inputs], v.origin


def test_the_gate_covers_all_environments_and_trusts_no_peer(built):
    """A peer's variant that is right on every length the kernel's own tests cover (<= 512 bytes) but wrong
    past 1024 bytes is rejected by the large environment's held-out cases; a right one joins, with the
    environment it was announced for."""
    wrong = hashlib.sha256(WRONG_ON_LONG).hexdigest()
    right = hashlib.sha256(RIGHT).hexdigest()
    assert [r.sha256 for r in built.rejected] == [wrong]
    joined = next(v for v in built.variants if v.sha256 == right)
    assert joined.environment == "size=small,arch=arm64"
    assert built.gate_cases > 100 * CONFIG.train_size
    with Sandbox() as sb:  # the kernel's own held-out cases catch it too: they use lengths beyond the tests'
        problem = resolve_target("crc8", config=CONFIG).problem
        assert not problem.oracle.verify(sb, WRONG_ON_LONG, "crc8", problem.oracle.held_out).ok


def test_the_winners_go_out_as_specimens_tagged_with_their_environment(built):
    specimens = built.specimens(node_tags=("arch=x86_64",))
    assert [environment_of(s) for s in specimens] == [Environment("small", node=("arch=x86_64",)),
                                                      Environment("large", node=("arch=x86_64",))]
    assert [s.sha256 for s in specimens] == [r.expressed for r in built.results]
    assert all(0 < s.fitness < 1 and s.function == "crc8" for s in specimens)


def test_the_expression_serves_each_call_the_winner_of_its_size(built):
    small, large = (r.expressed for r in built.results)
    expr = built.expression(champion=built.best_overall.sha256)
    assert expr.choose((BUFFER_BASE, 5, 7)) == small
    assert expr.choose((BUFFER_BASE, 3000, 0x31)) == large
    assert {small, large} <= set(expr.variants) and built.best_overall.sha256 not in expr.variants
    # the bytes it hands out compute the right answer
    store = wasmtime.Store()
    inst = wasmtime.Instance(store, wasmtime.Module(store.engine, expr.variants[large]), [])
    data = random.Random(2).randbytes(3000)
    inst.exports(store)["memory"].write(store, data, BUFFER_BASE)
    assert inst.exports(store)["crc8"](store, BUFFER_BASE, 3000, 0x31) == CRC8(data, 0x31)[0]


def test_each_environment_gets_its_own_evolution_run():
    cfg = ExpressConfig(budget_s=20, generations=2, population=6, workers=1, held_out_per_env=30, measure_cases=12,
                        use_wasm_opt=False, seed=4)
    b = build_expression(resolve_target("crc8", config=cfg), cfg)
    assert [r.environment for r in b.runs] == ["size=small", "size=large"]
    winners = {r.environment: r.expressed_origin for r in b.results}
    for run in b.runs:
        assert run.generations == 2 and run.evaluations > 0
        assert run.started_from in ("clang -O2 crc8.c", "clang -O2 crc8.table.c")
        if run.new and run.champion_fuel is not None:  # it joined the pool, through the gate
            joined = next(v for v in b.variants if v.sha256 == run.champion)
            assert joined.origin.startswith(f"jeet evolve for {run.environment} from ")
            assert run.champion_fuel <= run.seed_fuel * 1.5
    assert all(r.gain >= 0.20 for r in b.results), winners
