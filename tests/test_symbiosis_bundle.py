"""PairBundle: a pair as one msgpack value; hostile bytes give one clear error, never a crash."""

from __future__ import annotations

import math

import msgpack
import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jeet.net.messages import Specimen
from jeet.symbiosis import BUNDLE_TAG, LinkedSandbox, Pair, PairBundle, SymbiosisError
from jeet.symbiosis.bundle import MAX_BUNDLE_BYTES

CALLER = wasmtime.wat2wasm('(module (import "m" "f" (func $f (param i32) (result i32)))'
                           ' (func (export "g") (param i32) (result i32) local.get 0 call $f))')
CALLEE = wasmtime.wat2wasm('(module (func (export "f") (param i32) (result i32) local.get 0 i32.const 3 i32.mul))')
GOOD = PairBundle(CALLER, CALLEE, "g", 0.75, 1234, 0.25)


def doc(**changes) -> bytes:
    d = {"v": 1, "kind": "jeet.pair", "caller": CALLER, "callee": CALLEE, "function": "g",
         "fitness": 0.75, "fuel": 1234, "symbiosis": 0.25}
    d.update(changes)
    for k in [k for k, v in changes.items() if v is ...]:
        del d[k]
    return msgpack.packb(d, use_bin_type=True)


def test_round_trip():
    back = PairBundle.from_bytes(GOOD.to_bytes())
    assert back == GOOD
    assert back.caller_sha256 == Pair(CALLER, CALLEE).caller_sha256
    none = PairBundle(CALLER, CALLEE, "g", 0.5, 0, None)
    assert PairBundle.from_bytes(none.to_bytes()) == none


def test_a_decoded_bundle_runs_as_a_pair():
    b = PairBundle.from_bytes(GOOD.to_bytes())
    assert b.pair == Pair(CALLER, CALLEE)
    with LinkedSandbox() as ls:
        assert ls.call(b.pair, b.function, [5]).results == (15,)


def test_the_network_carries_a_bundle_as_one_specimen():
    spec = GOOD.specimen()
    assert isinstance(spec, Specimen) and BUNDLE_TAG in spec.env
    assert spec.wasm == GOOD.to_bytes() and spec.function == "g" and spec.fuel == 1234
    assert PairBundle.from_specimen(spec) == GOOD
    plain = Specimen.of("g", CALLEE, 0.5, 10)
    with pytest.raises(SymbiosisError, match="not a pair bundle"):
        PairBundle.from_specimen(plain)


HOSTILE = {
    "not msgpack": (b"\xc1", "not a msgpack value"),
    "empty": (b"", "not a msgpack value"),
    "trailing bytes": (doc() + b"\x00", "not a msgpack value"),
    "a list": (msgpack.packb([1, 2]), "expected a map"),
    "missing field": (doc(fuel=...), "missing field 'fuel'"),
    "unknown field": (doc(extra=1), "unknown field 'extra'"),
    "integer key": (b"\x81\x01\x02", "not a msgpack value"),
    "version": (doc(v=2), "unsupported version 2"),
    "version as float": (doc(v=1.0), "unsupported version"),
    "kind": (doc(kind="jeet.other"), "kind 'jeet.other'"),
    "caller not bytes": (doc(caller="text"), "caller must be bytes"),
    "callee no magic": (doc(callee=b"\x01\x02\x03\x04"), "callee is not a WebAssembly binary"),
    "caller malformed": (doc(caller=b"\0asm\x01\0\0\0\x07\xff\xff"), "caller: malformed module"),
    "unlinkable": (doc(callee=CALLER), "self-contained"),
    "no such function": (doc(function="h"), "exports no function 'h'"),
    "empty function": (doc(function=""), "function must be a name"),
    "function not text": (doc(function=b"g"), "function must be a name"),
    "fitness NaN": (doc(fitness=math.nan), "fitness must be a number in [0, 1]"),
    "fitness inf": (doc(fitness=math.inf), "fitness must be"),
    "fitness too big": (doc(fitness=2.0), "fitness must be"),
    "fitness bool": (doc(fitness=True), "fitness must be"),
    "fitness text": (doc(fitness="0.5"), "fitness must be"),
    "fuel negative": (doc(fuel=-1), "fuel must be an integer"),
    "fuel float": (doc(fuel=1.5), "fuel must be an integer"),
    "fuel huge": (doc(fuel=2 ** 64 - 1), "fuel must be an integer"),
    "symbiosis out of range": (doc(symbiosis=5.0), "symbiosis must be null or a number"),
    "symbiosis NaN": (doc(symbiosis=math.nan), "symbiosis must be"),
    "nested ext": (doc(symbiosis=msgpack.ExtType(5, b"x")), "not a msgpack value"),
    "claimed 4 GiB binary": (b"\x81\xa6caller\xc6\xff\xff\xff\xff", "not a msgpack value"),
    "deep nesting": (b"\x91" * 100_000 + b"\xc0", "not a msgpack value"),
    "not bytes at all": ("a string", "expected bytes"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_bundles_give_one_clear_error(name):
    data, reason = HOSTILE[name]
    with pytest.raises(SymbiosisError) as err:
        PairBundle.from_bytes(data)
    message = str(err.value)
    assert reason in message and message.startswith("pair bundle") and "\n" not in message


def test_oversized_input_is_refused_before_decoding():
    with pytest.raises(SymbiosisError, match="more than"):
        PairBundle.from_bytes(b"\x00" * (MAX_BUNDLE_BYTES + 1))


def test_every_truncation_is_refused():
    data = GOOD.to_bytes()
    for n in range(len(data)):
        with pytest.raises(SymbiosisError):
            PairBundle.from_bytes(data[:n])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_never_crash(data):
    try:
        PairBundle.from_bytes(data)
    except SymbiosisError:
        pass


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 255))
def test_corrupted_bundles_decode_or_give_one_clear_error(pos, value):
    data = bytearray(GOOD.to_bytes())
    data[pos % len(data)] = value
    try:
        b = PairBundle.from_bytes(bytes(data))
    except SymbiosisError:
        return
    b.check_link()  # whatever decodes is a well-formed, linkable pair


def test_constructor_validates_too():
    with pytest.raises(SymbiosisError, match="fitness"):
        PairBundle(CALLER, CALLEE, "g", -0.1, 0)
    assert PairBundle(bytearray(CALLER), memoryview(CALLEE), "g", 1, 0).caller == CALLER
