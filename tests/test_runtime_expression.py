"""The epigenetics hook: per-call choice among verified variants; unverified ones are never served."""

from __future__ import annotations

import hashlib

import pytest
import wasmtime

from jeet.runtime import Expression, JeetRuntimeError, Runtime

ORIGINAL = """(module (func (export "pc") (param i32) (result i32) (local i32)
  (block $done (loop $next
    local.get 0 i32.eqz br_if $done
    local.get 0 local.get 0 i32.const 1 i32.sub i32.and local.set 0
    local.get 1 i32.const 1 i32.add local.set 1
    br $next))
  local.get 1))"""
POPCNT = wasmtime.wat2wasm('(module (func (export "pc") (param i32) (result i32) local.get 0 i32.popcnt))')
POPCNT_64 = wasmtime.wat2wasm('(module (func (export "pc") (param i32) (result i32) '
                              'local.get 0 i64.extend_i32_u i64.popcnt i32.wrap_i64))')
CLZ = wasmtime.wat2wasm('(module (func (export "pc") (param i32) (result i32) local.get 0 i32.clz))')
SNEAKY = wasmtime.wat2wasm("""(module (func (export "pc") (param i32) (result i32)
  local.get 0 i32.const 0x5EED1234 i32.eq (if (result i32) (then i32.const 99) (else local.get 0 i32.popcnt))))""")


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


class ByParity:
    """Even arguments to one variant, odd ones to the champion; records what it observed."""

    def __init__(self, even: bytes, extra: dict[str, bytes] | None = None) -> None:
        self.even = sha(even)
        self.variants = {self.even: even, **(extra or {})}
        self.seen: list[tuple[tuple, str]] = []

    def choose(self, args: tuple) -> str | None:
        return self.even if args[0] % 2 == 0 else None

    def observe(self, args: tuple, chosen: str, seconds: float) -> None:
        assert seconds >= 0
        self.seen.append((args, chosen))


def test_each_call_runs_the_chosen_verified_variant(tmp_path):
    with Runtime(tmp_path, hot=0, shadow=0.0) as rt:
        fn = rt.load(ORIGINAL, "pc")
        expr = ByParity(POPCNT, {sha(CLZ): CLZ, "0" * 64: POPCNT_64})
        assert isinstance(expr, Expression)
        assert fn.express(expr) == (sha(POPCNT),)
        rejected = fn.stats()["expression"]["rejected"]
        assert set(rejected) == {sha(CLZ), "0" * 64}  # fails held-out cases; key is not the bytes' sha
        for x in range(10):
            assert fn(x) == bin(x).count("1")
        assert expr.seen[:2] == [((0,), sha(POPCNT)), ((1,), fn.original.sha256)]
        assert fn.express(None) == () and fn.stats()["expression"] is None
        fn(4)
        assert len(expr.seen) == 10  # the plain path again


def test_load_takes_an_expression_and_a_chooser_failure_falls_back_to_the_champion(tmp_path):
    class Broken:
        variants = {sha(POPCNT): POPCNT}

        def choose(self, args):
            raise RuntimeError("bug in the chooser")

    with Runtime(tmp_path, hot=0) as rt:
        fn = rt.load(ORIGINAL, "pc", expression=Broken())
        assert fn(7) == 3 and fn.stats()["expression"]["choose_errors"] == 1
        with pytest.raises(JeetRuntimeError, match="variants"):
            fn.express(object())


def test_an_expressed_variant_that_answers_wrong_is_dropped_at_once(tmp_path):
    with Runtime(tmp_path, hot=0, shadow=1.0) as rt:
        fn = rt.load(ORIGINAL, "pc")
        expr = ByParity(SNEAKY)
        assert fn.express(expr) == (sha(SNEAKY),)  # it passes every held-out case
        assert fn(0x5EED1234) == 0x5EED1234.bit_count()  # shadow check: the original's answer
        stats = fn.stats()
        assert stats["mismatches"] == 1 and sha(SNEAKY) in stats["blacklisted"]
        assert stats["expression"]["variants"] == [] and sha(SNEAKY) in stats["expression"]["rejected"]
        assert fn(2) == 1  # chosen sha no longer served: the champion answers
        assert fn.express(expr) == ()  # blacklisted for good
