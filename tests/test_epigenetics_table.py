"""The per-environment fitness table and the expression object a runtime asks on every call."""

from __future__ import annotations

import hashlib
import random
import time

import pytest
import wasmtime

from jeet.epigenetics import (
    Environment, EpigeneticsError, Expression, FitnessTable, LengthArg, MemoryGauge, Observer, SizeBuckets,
)

SMALL, LARGE = Environment("small"), Environment("large")


def module(k: int) -> bytes:
    return bytes(wasmtime.wat2wasm(f'(module (func (export "f") (param i32 i32) (result i32) i32.const {k}))'))


A, B, C = module(1), module(2), module(3)
SHA = {w: hashlib.sha256(w).hexdigest() for w in (A, B, C)}
a, b, c = SHA[A], SHA[B], SHA[C]


def crc_like_table() -> FitnessTable:
    """a: no setup, dear per element; b: a compromise; c: big setup, cheap per element."""
    t = FitnessTable()
    for env, fuels in ((SMALL, {a: 450, b: 1150, c: 31_000}), (LARGE, {a: 520_000, b: 158_000, c: 74_000})):
        for sha, fuel in fuels.items():
            t.measure(env, sha, fuel, 64)
    return t


def test_the_winner_differs_per_environment():
    t = crc_like_table()
    assert t.winner(SMALL) == a and t.winner(LARGE) == c
    assert [s for s, _ in t.ranking(LARGE)] == [c, b, a]
    assert t.ranking(SMALL, among={b, c}) == [(b, 1150.0), (c, 31000.0)]


def test_a_measurement_for_a_size_applies_to_every_finer_environment():
    t = crc_like_table()
    observed = Environment("small", "high", ("arch=arm64",))
    assert t.fuel(observed, a) == 450 and t.winner(observed) == a
    t.measure(Environment("small", "high"), a, 2000, 8)  # a finer measurement overrides the coarser one
    assert t.fuel(observed, a) == 2000 and t.winner(observed) == b
    assert t.fuel(Environment("medium"), a) is None and t.winner(Environment("medium")) is None


def test_observations_keep_a_weighted_mean_per_observed_environment():
    t = FitnessTable(alpha=0.5)
    env = Environment("small", "normal")
    for s in (1.0, 3.0, float("nan"), -1.0):
        t.observe(env, a, s)
    e = t.entry(env, a)
    assert e.calls == 2 and e.seconds == pytest.approx(2.0)  # nan and negative are not observations
    assert t.entry(SMALL, a) is None


def test_the_seconds_metric_reranks_only_variants_observed_often_enough():
    t = crc_like_table()
    env = Environment("small", "high")
    for _ in range(10):
        t.observe(env, a, 5e-6)
    assert t.winner(env, "seconds") == a  # one observed variant: the fuel order stands
    for _ in range(10):
        t.observe(env, b, 1e-6)
    assert t.winner(env, "seconds") == b and t.winner(env, "fuel") == a
    assert t.winner(env, "seconds", min_calls=11) == a
    with pytest.raises(EpigeneticsError):
        t.ranking(env, "joules")


def test_the_table_round_trips_through_json():
    t = crc_like_table()
    t.observe(Environment("small", "high", ("arch=x86_64",)), b, 2e-6)
    again = FitnessTable.from_dict(t.to_dict())
    assert again.to_dict() == t.to_dict()
    assert again.winner(LARGE) == c
    with pytest.raises(EpigeneticsError):
        FitnessTable.from_dict({"rows": {"size": {}}})


def observer(reading: list[float] | None = None) -> Observer:
    gauge = None if reading is None else MemoryGauge(high_percent=90, refresh_s=0.0, reader=lambda: reading[0])
    return Observer(LengthArg(1), SizeBuckets((8,)), memory=gauge)


def test_the_expression_chooses_the_winner_of_the_calls_environment():
    expr = Expression("f", {a: A, c: C}, crc_like_table(), observer())
    assert expr.choose((65536, 3, 7)) == a
    assert expr.choose((65536, 5000, 7)) == c
    assert expr.choose((65536, -1, 7)) == a  # a negative length is an empty buffer
    assert expr.winners() == {"size=small": a, "size=large": c}


def test_the_champion_is_named_by_none():
    expr = Expression("f", {c: C}, crc_like_table(), observer(), champion=a)
    assert expr.choose((65536, 3, 7)) is None
    assert expr.choose((65536, 5000, 7)) == c
    expr.observe((65536, 3, 7), None, 1e-6)  # a call of the champion is booked as the champion's
    assert expr.table.entry(Environment("small", "*"), a).calls == 1


def test_variants_must_hash_to_their_names():
    with pytest.raises(EpigeneticsError):
        Expression("f", {a: B}, crc_like_table(), observer())
    with pytest.raises(EpigeneticsError):
        Expression("f", {a: A}, crc_like_table(), observer(), explore=0.1)  # exploring needs an rng


def test_observed_seconds_can_move_the_winner_under_memory_pressure():
    """Fuel says `a` for small inputs; a host under memory pressure observes that `b` is faster there."""
    reading = [95.0]
    expr = Expression("f", {a: A, b: B, c: C}, crc_like_table(), observer(reading), metric="seconds",
                      min_calls=4, refresh_every=8, explore=0.5, rng=random.Random(3))
    small = (65536, 3, 7)
    for _ in range(400):
        sha = expr.choose(small)
        expr.observe(small, sha, {a: 9e-6, b: 2e-6, c: 50e-6}[sha])
    expr.explore = 0.0
    assert expr.choose(small) == b
    reading[0] = 10.0  # pressure gone: that environment was never observed, fuel decides again
    assert expr.choose(small) == a


def test_choose_is_cheap():
    expr = Expression("f", {a: A, c: C}, crc_like_table(), observer([10.0]))
    expr.observer.memory.refresh_s = 1.0
    args = (65536, 300, 7)
    t0 = time.perf_counter()
    for _ in range(20_000):
        expr.choose(args)
    per_call = (time.perf_counter() - t0) / 20_000
    assert per_call < 20e-6, f"choose takes {per_call * 1e6:.1f} us"


def test_an_expression_saves_and_loads(tmp_path):
    expr = Expression("f", {a: A, c: C}, crc_like_table(), observer(), labels={a: "clang -O2 f.c"})
    path = expr.save(tmp_path / "x")
    assert path.name == "expression.json" and (tmp_path / "x" / f"{a}.wasm").read_bytes() == A
    again = Expression.load(tmp_path / "x")
    assert again.winners() == expr.winners() and again.labels[a] == "clang -O2 f.c"
    (tmp_path / "x" / f"{c}.wasm").write_bytes(B)  # tampered bytes do not load
    with pytest.raises(EpigeneticsError, match="hash"):
        Expression.load(tmp_path / "x")
    with pytest.raises(EpigeneticsError):
        Expression.load(tmp_path / "nothing")
