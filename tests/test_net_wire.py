"""The wire format: signed envelopes round-trip, and hostile bytes only ever raise NetError."""

from __future__ import annotations

import math
import os
import stat

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from jeet.net import (
    Ack, Alive, Announce, BlacklistNotice, Codec, Dead, Envelope, Graft, Hello, IWant, Join, Limits, MemberList, NetError,
    NodeIdentity, Ping, PingReq, Prune, ReplayGuard, Signer, SpecimenData, Suspect, Verdict, decode, encode,
    load_or_create,
)
from jeet.net.wire import SCHEMA, VERSION

ALICE = NodeIdentity.from_seed(bytes(range(32)))
BOB = NodeIdentity.from_seed(bytes(range(1, 33)))
SHA = "ab" * 32
WASM = b"\x00asm\x01\x00\x00\x00" + bytes(100)

EXAMPLES = [
    Announce(SHA, "popcount", 0.75, 1234, 108, ("x86_64", "simd")),
    Announce(SHA, "f", 0.5, 0, 1),
    IWant((SHA, "cd" * 32)),
    SpecimenData(SHA, "popcount", WASM, 0.75, 1234),
    Verdict(SHA, True),
    Verdict(SHA, False),
    BlacklistNotice(SHA, "traps on case 3"),
    Alive(BOB.node_id, 3, "127.0.0.1:7000"),
    Suspect(BOB.node_id, 3),
    Dead(BOB.node_id, 4),
    Join("127.0.0.1:7001", 2),
    MemberList((Alive(BOB.node_id, 1, "10.0.0.2:7000"), Alive(ALICE.node_id, 0, "10.0.0.1:7000"))),
    Ping(7),
    Ping(8, (Suspect(BOB.node_id, 1), Dead(ALICE.node_id, 2), Alive(BOB.node_id, 2, "h:1"))),
    PingReq(BOB.node_id, "h:1", 9, (Alive(BOB.node_id, 2, "h:1"),)),
    Ack(9),
    Graft("127.0.0.1:7002", 0),
    Prune(),
    Hello("127.0.0.1:7003", 1),
]


def frame(message, seq: int = 1, sender: NodeIdentity = ALICE, to: str | None = None) -> bytes:
    return encode(sender, BOB.node_id if to is None else to, seq, message)


def signed(payload_obj) -> bytes:
    """A correctly signed frame around an arbitrary msgpack object (to test shape checks behind the signature)."""
    payload = msgpack.packb(payload_obj, use_bin_type=True)
    return ALICE.sign(payload) + payload


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips(message):
    env = decode(frame(message, seq=42))
    assert env == Envelope(ALICE.node_id, BOB.node_id, 42, message)


def test_schema_covers_every_message_type():
    assert {type(m) for m in EXAMPLES} == set(SCHEMA)


def test_join_may_go_to_an_unknown_recipient_but_nothing_else_may():
    env = decode(encode(ALICE, "", 1, Join("h:1", 0)))
    assert env.to == "" and env.message == Join("h:1", 0)
    with pytest.raises(NetError):
        encode(ALICE, "", 1, Ping(1))
    with pytest.raises(NetError, match="recipient"):
        decode(signed([VERSION, ALICE.public_key, b"", 1, Ping.CODE, [1, []]]))


def test_signer_numbers_frames_upwards():
    signer = Signer(ALICE, start_seq=1000)
    seqs = [decode(signer.encode(BOB.node_id, Ping(i))).seq for i in range(3)]
    assert seqs == [1001, 1002, 1003]


def test_oversized_frames_and_specimens_are_refused():
    limits = Limits(max_message=1500, max_specimen=1024)
    big = SpecimenData(SHA, "f", bytes(2000), 0.5, 1)
    data = frame(big)
    with pytest.raises(NetError, match="exceeds"):
        decode(data, limits=limits)
    with pytest.raises(NetError):
        decode(data, max_size=len(data) - 1)
    assert decode(data, max_size=len(data)).message == big
    with pytest.raises(NetError):  # within the frame limit, over the specimen limit
        decode(data, limits=Limits(max_message=8192, max_specimen=1024))


def test_unsigned_and_badly_signed_frames_are_refused():
    data = frame(Ping(1))
    payload = data[64:]
    with pytest.raises(NetError):
        decode(payload)  # no signature at all
    with pytest.raises(NetError, match="signature"):
        decode(bytes(64) + payload)
    with pytest.raises(NetError, match="signature"):
        decode(BOB.sign(payload) + payload)  # signed by someone else than the claimed sender


@pytest.mark.parametrize("bad", [
    [VERSION, b"short", b"", 1, Join.CODE, ["h", 0]],                       # sender not a key
    [2, None, b"", 1, Join.CODE, ["h", 0]],                                   # unknown version
    [True, None, b"", 1, Join.CODE, ["h", 0]],                                # version of the wrong type
    [VERSION, None, b"", -1, Join.CODE, ["h", 0]],                            # negative seq
    [VERSION, None, b"", True, Join.CODE, ["h", 0]],                          # bool seq
    [VERSION, None, b"", 1, 99, []],                                          # unknown type
    [VERSION, None, b"", 1, Join.CODE, ["h"]],                                # missing field
    [VERSION, None, b"", 1, Join.CODE, ["h", 0, 1]],                          # extra field
    [VERSION, None, b"", 1, Join.CODE, [b"h", 0]],                            # bytes for text
    [VERSION, None, b"", 1, Join.CODE, ["h", True]],                          # bool for int
    [VERSION, None, b"", 1, Join.CODE, ["h", 1.5]],                           # float for int
    [VERSION, None, b"", 1, Join.CODE, ["x" * 1000, 0]],                      # text too long
    [VERSION, None, None, 1, Announce.CODE, [SHA, "f", float("nan"), 1, 1, []]],   # NaN fitness
    [VERSION, None, None, 1, Announce.CODE, [SHA, "f", float("inf"), 1, 1, []]],   # infinite fitness
    [VERSION, None, None, 1, Announce.CODE, [SHA.upper(), "f", 0.5, 1, 1, []]],    # not lowercase hex
    [VERSION, None, None, 1, Announce.CODE, [SHA[:-1], "f", 0.5, 1, 1, []]],       # short hash
    [VERSION, None, None, 1, Announce.CODE, [SHA, "f", 0.5, 1, 1, [1]]],           # tag not text
    [VERSION, None, None, 1, IWant.CODE, [[]]],                                    # no hashes
    [VERSION, None, None, 1, IWant.CODE, [[SHA] * 65]],                            # too many hashes
    [VERSION, None, None, 1, Verdict.CODE, [SHA, 1]],                              # int for bool
    [VERSION, None, None, 1, Ping.CODE, [1, [[Ping.CODE, 1, []]]]],                # a ping is no update
    [VERSION, None, None, 1, Ping.CODE, [1, [[Alive.CODE, "zz", 1, "h"]]]],        # member not an id
    [VERSION, None, None, 1, Ping.CODE, [1, [[]]]],                                # empty update
    [VERSION, None, None, 1, Ping.CODE, [1, {"a": 1}]],                            # a map
    [VERSION, None, None, 1, Ping.CODE, [1, msgpack.ExtType(5, b"x")]],            # an ext type
    [VERSION, None, None, 1, Prune.CODE, [1]],                                     # prune takes nothing
    [VERSION, None, None, 1, SpecimenData.CODE, [SHA, "f", "wasm", 0.5, 1]],       # text for bytes
    [VERSION, None, None, 1, Ack.CODE, [2 ** 64 - 1, []]],                             # seq out of range
])
def test_signed_payloads_of_the_wrong_shape_are_refused(bad):
    bad = list(bad)
    if bad[1] is None:
        bad[1] = ALICE.public_key
    if bad[2] is None:
        bad[2] = BOB.public_key
    with pytest.raises(NetError):
        decode(signed(bad))


def test_a_valid_frame_with_trailing_bytes_is_refused():
    data = frame(Ping(1))
    with pytest.raises(NetError):
        decode(data + b"\x00")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_net_error(data):
    with pytest.raises(NetError):
        decode(data)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(EXAMPLES), st.data())
def test_truncated_frames_raise_net_error(message, data):
    raw = frame(message)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(NetError):
        decode(raw[:cut])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(EXAMPLES), st.data())
def test_any_bit_flip_is_detected(message, data):
    raw = bytearray(frame(message))
    pos = data.draw(st.integers(0, len(raw) * 8 - 1))
    raw[pos // 8] ^= 1 << (pos % 8)
    with pytest.raises(NetError):
        decode(bytes(raw))


_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1), st.floats(allow_nan=True),
                  st.text(max_size=70), st.binary(max_size=70))
_values = st.recursive(_leaf, lambda inner: st.lists(inner, max_size=6), max_leaves=20)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(SCHEMA, key=lambda c: c.CODE)), st.lists(_values, max_size=7))
def test_signed_bodies_of_any_shape_decode_or_raise_net_error(cls, body):
    data = signed([VERSION, ALICE.public_key, BOB.public_key, 5, cls.CODE, body])
    try:
        env = decode(data)
    except NetError:
        return
    assert type(env.message) is cls  # what is accepted has the declared field types
    for name, kind in SCHEMA[cls]:
        value = getattr(env.message, name)
        expected = {"sha": str, "id": str, "text": str, "float": float, "uint": int, "bool": bool,
                    "wasm": bytes, "shas": tuple, "tags": tuple, "updates": tuple}[kind]
        assert type(value) is expected
        if kind == "float":
            assert math.isfinite(value)


@settings(max_examples=200, deadline=None)
@given(_values)
def test_signed_envelopes_of_any_shape_raise_only_net_error(obj):
    try:
        decode(signed(obj))
    except NetError:
        pass


def test_replay_guard_accepts_each_frame_once_in_any_order():
    guard = ReplayGuard(BOB.node_id, window=8)
    envs = {seq: decode(frame(Ping(seq), seq=seq)) for seq in range(1, 20)}
    for seq in (1, 3, 2, 10, 5):
        guard.accept(envs[seq])
    for seq in (1, 3, 10):
        with pytest.raises(NetError, match="replayed"):
            guard.accept(envs[seq])
    with pytest.raises(NetError, match="replayed or stale"):
        guard.accept(envs[1])  # still refused
    guard.accept(envs[19])
    with pytest.raises(NetError):
        guard.accept(envs[9])  # 10 behind the newest: outside the window of 8
    guard.accept(envs[12])     # 7 behind: inside the window, not seen before


def test_replay_guard_refuses_frames_for_other_nodes():
    guard = ReplayGuard(ALICE.node_id)
    with pytest.raises(NetError, match="another node"):
        guard.accept(decode(frame(Ping(1))))  # addressed to BOB
    guard.accept(decode(encode(BOB, "", 1, Join("h:1", 0))))  # a Join to whoever listens there


def test_identity_is_created_once_with_mode_0600(tmp_path):
    folder = tmp_path / "data"
    first = load_or_create(folder)
    key = folder / "node.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert load_or_create(folder).node_id == first.node_id
    assert len(first.node_id) == 64
    env = decode(encode(first, BOB.node_id, 1, Ping(1)))
    assert env.sender == first.node_id


def test_identity_refuses_readable_or_garbled_keys(tmp_path):
    load_or_create(tmp_path)
    key = tmp_path / "node.key"
    os.chmod(key, 0o644)
    with pytest.raises(NetError, match="chmod 600"):
        load_or_create(tmp_path)
    key.write_text("not hex\n")
    os.chmod(key, 0o600)
    with pytest.raises(NetError, match="hex"):
        load_or_create(tmp_path)
    key.write_text("abcd\n")
    with pytest.raises(NetError, match="32 bytes"):
        load_or_create(tmp_path)


def test_codec_checks_everything_a_daemon_needs():
    alice, bob = Codec(ALICE, start_seq=10), Codec(BOB)
    raw = alice.encode(BOB.node_id, Ping(1))
    env = bob.decode(raw)
    assert (env.sender, env.seq, env.message) == (ALICE.node_id, 11, Ping(1))
    with pytest.raises(NetError, match="replayed"):
        bob.decode(raw)
    with pytest.raises(NetError, match="another node"):
        Codec(NodeIdentity.generate()).decode(alice.encode(BOB.node_id, Ping(2)))
    with pytest.raises(NetError, match="ourselves"):
        alice.decode(alice.encode("", Join("h:1", 0)))
    tiny = Codec(BOB, limits=Limits(max_message=1100, max_specimen=1024))
    with pytest.raises(NetError, match="exceeds"):
        tiny.decode(alice.encode(BOB.node_id, SpecimenData(SHA, "f", bytes(1020), 0.5, 1)))


def test_only_a_join_or_hello_travels_without_a_recipient():
    """A listener greets a dialer before it knows who dialled; nothing else may be anonymous."""
    env = decode(encode(ALICE, "", 1, Hello("h:1", 0)))
    assert env.to == "" and env.message == Hello("h:1", 0)
    ReplayGuard(BOB.node_id).accept(env)
    with pytest.raises(NetError, match="only a Join or Hello"):
        encode(ALICE, "", 2, Ping(1))
