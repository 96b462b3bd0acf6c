"""Environments: what a call's arguments say about its environment, and how environments travel as gossip tags."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings, strategies as st

from jeet.epigenetics import (
    ANY, ArgMagnitude, Environment, EpigeneticsError, LengthArg, MemoryGauge, Observer, SizeBuckets, environment_of,
    from_tags, tag_specimen, to_tags,
)
from jeet.net import Announce, GossipNode, NodeConfig, NodeIdentity, Send, decode, encode

WASM = b"\x00asm\x01\x00\x00\x00" + bytes(40)


# --- the vector -------------------------------------------------------------------------------------------

def test_an_environment_has_a_stable_key_and_reads_back_from_it():
    env = Environment("small", "high", ("region=eu", "arch=x86_64"))
    assert env.node == ("arch=x86_64", "region=eu")  # sorted: the same conditions, the same value
    assert env.key == "size=small,mem=high,arch=x86_64,region=eu"
    assert Environment.from_key(env.key) == env
    assert Environment().key == ANY and Environment.from_key(ANY) == Environment()


def test_generalisations_go_from_the_observed_environment_to_the_any_environment():
    env = Environment("large", "normal", ("arch=arm64",))
    assert list(env.generalisations()) == [env, Environment("large", "normal"), Environment("large"), Environment()]
    assert Environment("large").covers(env) and not Environment("small").covers(env)
    assert Environment(node=("arch=arm64",)).covers(env) and not Environment(node=("arch=x86_64",)).covers(env)


@pytest.mark.parametrize("bad", [
    dict(size="has space"), dict(memory=""), dict(node=("noequals",)), dict(node=("size=small",)),
    dict(node=("a=1", "a=2")), dict(node=("Upper=1",)),
])
def test_malformed_components_are_refused(bad):
    with pytest.raises(EpigeneticsError):
        Environment(**bad)


def test_size_buckets_are_half_open_ranges_named_small_and_large():
    b = SizeBuckets((8,))
    assert b.names == ("small", "large")
    assert [b.bucket(n) for n in (0, 7, 8, 9000)] == ["small", "small", "large", "large"]
    assert b.range("small", 8192) == (0, 8) and b.range("large", 8192) == (8, 8193)
    assert SizeBuckets((16, 1024)).names == ("small", "medium", "large")
    for bounds in [(), (0,), (8, 8), (16, 8)]:
        with pytest.raises(EpigeneticsError):
            SizeBuckets(bounds)
    with pytest.raises(EpigeneticsError):
        SizeBuckets((8,), ("a", "a"))


def test_the_length_argument_is_the_size_of_a_buffer_call():
    probe = LengthArg(1)
    assert probe.size((65536, 300, 7)) == 300
    assert probe.size((65536, -5, 7)) == 0 and probe.size((65536, 0xFFFFFFFB, 7)) == 0  # negative: no bytes


def test_argument_magnitude_reads_integers_as_signed():
    probe = ArgMagnitude((0, 1), (32, 64))
    assert probe.size((0, 0)) == 0
    assert probe.size((255, 1)) == 8
    assert probe.size((0xFFFFFFFF, 0)) == 1           # -1 as an i32
    assert probe.size((-(2 ** 31), 0)) == 32
    assert probe.size((3, 1 << 40)) == 41


def test_memory_pressure_is_read_at_most_once_per_refresh_interval():
    readings, now = [50.0, 95.0, 10.0], [0.0]
    calls = []

    def reader():
        calls.append(1)
        return readings[len(calls) - 1]

    gauge = MemoryGauge(high_percent=90, refresh_s=1.0, reader=reader, clock=lambda: now[0])
    assert gauge.level() == "normal"
    now[0] = 0.5
    assert gauge.level() == "normal" and len(calls) == 1  # cached
    now[0] = 1.0
    assert gauge.level() == "high" and len(calls) == 2
    now[0] = 2.5
    assert gauge.level() == "normal"


def test_the_real_gauge_reads_psutil():
    assert MemoryGauge().level() in ("normal", "high")


def test_an_observer_builds_the_environment_of_a_call():
    obs = Observer(LengthArg(1), SizeBuckets((8,)), memory=MemoryGauge(reader=lambda: 99.0),
                   node_tags=("arch=x86_64",))
    assert obs.environment((65536, 3, 7)) == Environment("small", "high", ("arch=x86_64",))
    assert obs.environment((65536, 4096, 7)).size == "large"
    assert Observer(LengthArg(1), SizeBuckets((8,))).environment((0, 9, 0)) == Environment("large")
    again = Observer.from_dict(obs.to_dict(), reader=lambda: 1.0)
    assert again.environment((65536, 3, 7)) == Environment("small", "normal", ("arch=x86_64",))


# --- tags -------------------------------------------------------------------------------------------------

def test_tags_are_env_key_value_strings():
    env = Environment("small", "high", ("arch=x86_64",))
    assert to_tags(env) == ("env:size=small", "env:mem=high", "env:arch=x86_64")
    assert to_tags(Environment("large")) == ("env:size=large",)
    assert from_tags(("simd", "env:size=large", "x86")) == Environment("large")  # foreign tags are ignored
    assert from_tags(()) == Environment()


@pytest.mark.parametrize("tags", [("env:size",), ("env:size=a", "env:size=b"), ("env:=x",), ("env:size=two words",)])
def test_malformed_env_tags_are_refused(tags):
    with pytest.raises(EpigeneticsError):
        from_tags(tags)


_LABEL = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
_VALUE = st.from_regex(r"[A-Za-z0-9_.]{1,8}", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(size=st.one_of(st.just(ANY), _VALUE), memory=st.sampled_from([ANY, "normal", "high"]),
       node=st.dictionaries(_LABEL.filter(lambda k: k not in ("size", "mem")), _VALUE, max_size=5))
def test_tags_round_trip(size, memory, node):
    env = Environment(size, memory, tuple(f"{k}={v}" for k, v in node.items()))
    assert from_tags(to_tags(env)) == env


def test_environment_tags_travel_with_a_specimen_through_gossip():
    """A node offers a specimen tagged with the environment it wins in; the announcement its peer receives,
    encoded and signed on the wire, still says which environment that is."""
    alice, bob = NodeIdentity.from_seed(bytes(range(32))), NodeIdentity.from_seed(bytes(range(1, 33)))
    env = Environment("large", node=("arch=x86_64",))
    specimen = tag_specimen("crc8", WASM, 0.8, 74_000, env)
    assert specimen.env == ("env:size=large", "env:arch=x86_64")
    node = GossipNode(alice.node_id, "addr:a", rng=random.Random(1), config=NodeConfig())
    node.add_member(bob.node_id, "addr:b", 0.0)
    actions = node.offer(specimen, 0.0) + node.tick(1.0) + node.tick(2.0)
    announces = [a.message for a in actions if isinstance(a, Send) and isinstance(a.message, Announce)]
    assert announces, "the node announced nothing"
    received = decode(encode(alice, bob.node_id, 1, announces[0])).message
    assert received.sha256 == specimen.sha256
    assert environment_of(received) == env
