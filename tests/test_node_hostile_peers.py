"""The peer port under hostile clients on 127.0.0.1: a flood of idle connections, half-sent frames, a Join
that names a third party's address, and a Join lost because nobody listened yet. Every socket has a
timeout; every wait is bounded."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time

import psutil
import pytest

from jeet.kernels import get_kernel
from jeet.net import Codec, IWant, Join, NodeIdentity
from jeet.node.transport import Transport

from node_support import NodeProcess, wait_for

pytestmark = pytest.mark.timeout(180)

BETTER = get_kernel("popcount").wasm("O2")


@pytest.fixture
def nodes(tmp_path):
    started: list[NodeProcess] = []

    def make(name: str, *args: str) -> NodeProcess:
        n = NodeProcess(tmp_path / name, *args).start()
        started.append(n)
        return n

    yield make
    for n in started:
        n.stop(kill=True)


def _peer_addr(node: NodeProcess) -> tuple[str, int]:
    host, port = node.address.rsplit(":", 1)
    return host, int(port)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Read (and drop) whatever the node sends until it closes the connection; False if still open."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            if sock.recv(65536) == b"":
                return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
    return False


def test_a_flood_of_idle_connections_does_not_lock_a_new_peer_out(nodes):
    a = nodes("a", "--no-evolve")
    flood = []
    try:
        for _ in range(300):  # more than the old limit of 256 accepted connections
            try:
                flood.append(socket.create_connection(_peer_addr(a), timeout=5))
            except ConnectionResetError:
                pass  # refused with a reset (over the per-host limit) before connect() returned
        b = nodes("b", "--no-evolve", "--peer", a.address)  # joins while the flood is still held open
        wait_for(lambda: b.node_id in {p["id"] for p in a.status()["peers"]}, 20, "a sees b")
        wait_for(lambda: a.node_id in {p["id"] for p in b.status()["peers"]}, 20, "b sees a")
        tr = a.status()["transport"]
        assert tr["connections_refused"] > 0 and tr["connection_timeouts"] > 0, tr
    finally:
        for s in flood:
            s.close()


@pytest.mark.parametrize("case", ["silent", "half a header", "a 1 MiB frame before authenticating",
                                  "a small frame never finished"])
def test_a_stranger_cannot_hold_a_connection_or_buffer_memory(nodes, case):
    a = nodes("a", "--no-evolve")
    with socket.create_connection(_peer_addr(a), timeout=5) as s:
        if case == "half a header":
            s.sendall(b"\x00\x00")
        elif case == "a 1 MiB frame before authenticating":
            s.sendall(struct.pack(">I", 1 << 20) + bytes(100_000))
        elif case == "a small frame never finished":
            s.sendall(struct.pack(">I", 1000) + bytes(10))
        assert _closed_within(s, 10.0), "the node kept a stalled stranger's connection open"
    assert a.proc.poll() is None


def test_half_sent_1_mib_frames_do_not_grow_the_node(nodes):
    """240 connections that each announce a 1 MiB frame and send half of it once raised a node from 94 to
    373 MiB: strangers now get small frames only, over a few connections per host, for a short while."""
    a = nodes("a", "--no-evolve")
    proc = psutil.Process(a.proc.pid)
    before = proc.memory_info().rss
    socks = []
    try:
        for _ in range(240):
            try:
                s = socket.create_connection(_peer_addr(a), timeout=5)
            except ConnectionResetError:
                continue  # refused on arrival (over the per-host limit)
            s.setblocking(False)
            try:
                s.send(struct.pack(">I", 1 << 20) + bytes(512 << 10))
            except OSError:
                pass  # the node closed it already
            socks.append(s)
        time.sleep(2.0)
        grew = proc.memory_info().rss - before
    finally:
        for s in socks:
            s.close()
    assert grew < 48 << 20, f"the node grew by {grew >> 20} MiB"
    assert a.status()["transport"]["buffered_bytes"] == 0


class Sink:
    """A third party's listener: accepts connections and counts the bytes anyone sends it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.received = 0
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conns: list[socket.socket] = []
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
                c.setblocking(False)
                conns.append(c)
                self.connections += 1
            except socket.timeout:
                pass
            for c in conns:
                try:
                    self.received += len(c.recv(65536))
                except (BlockingIOError, OSError):
                    pass
        for c in conns:
            c.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def test_a_join_naming_a_third_partys_address_sends_that_address_nothing(nodes):
    a = nodes("a", "--no-evolve")
    code, verdict = a.post(BETTER)
    assert code == 200
    sink = Sink()
    attacker = Codec(NodeIdentity.generate())
    sent = received = 0
    try:
        with socket.create_connection(_peer_addr(a), timeout=5) as s:
            def send(to: str, message) -> None:
                nonlocal sent
                data = attacker.encode(to, message)
                s.sendall(struct.pack(">I", len(data)) + data)
                sent += 4 + len(data)

            send("", Join(sink.address, 0))  # "I listen at the sink's address"
            for _ in range(20):
                send(a.node_id, IWant((verdict["sha256"],)))  # and send me (there) your best specimen
                time.sleep(0.1)
            s.settimeout(0.5)
            deadline = time.monotonic() + 3.0  # heartbeats: pings and announcements to the claimed address
            while time.monotonic() < deadline:
                try:
                    chunk = s.recv(1 << 20)
                except socket.timeout:
                    continue
                if not chunk:
                    break
                received += len(chunk)
    finally:
        sink.close()
    assert sink.received == 0, f"the node sent {sink.received} bytes to an address it was only told about"
    assert a.status()["protocol"]["served"] >= 1  # the asker itself got the answer, on its own connection
    assert received > 0 and sent > 0


def test_a_join_lost_because_nobody_listened_yet_is_retried(nodes):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    b = nodes("b", "--no-evolve", "--peer", f"127.0.0.1:{port}")
    time.sleep(3.0)  # b's first Joins go nowhere
    assert b.status()["peers"] == []
    a = nodes("a", "--no-evolve", "--listen", f"127.0.0.1:{port}")
    wait_for(lambda: a.node_id in {p["id"] for p in b.status()["peers"]}, 15, "b joins a once it is up")
    assert b.status()["counters"]["joins_sent"] >= 2


def test_a_closed_connection_leaves_no_task_or_buffer_behind():
    """Each connection has a writer task; one left waiting after its connection closed kept the socket's
    buffers alive (240 half-sent 1 MiB frames cost a node some 60 MB each time)."""
    async def main() -> dict:
        t = Transport(1 << 20, lambda data, link: None, lambda link, exc: None)
        host, port = await t.listen("127.0.0.1", 0)
        for _ in range(20):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(struct.pack(">I", 1 << 20) + bytes(200_000))  # too big before authentication
            await asyncio.wait_for(reader.read(), 5)  # until the node closes it
            writer.close()
        await asyncio.sleep(0.2)
        stats = t.stats()
        await t.close()
        return stats

    stats = asyncio.run(main())
    assert stats["inbound"] == 0 and stats["tasks"] == 0, stats
