"""The node's accept loop and the HTTP head gate, in one process on 127.0.0.1: a refused connection is reset
before anything is built, a request head is handed over whole (however it was split) and ahead of what
follows it, a head that never completes is dropped after the timeout, and the oldest pending head makes
room for a new one. Every wait is bounded."""

from __future__ import annotations

import asyncio

import pytest

from jeet.node.http_heads import HeadGate
from jeet.node.listener import HandOvers, Listener, listening_socket

pytestmark = pytest.mark.timeout(60)


class Recorder(asyncio.Protocol):
    """A stand-in for the HTTP server's protocol: keeps every byte it is given, in order."""

    def __init__(self, got: list["Recorder"]) -> None:
        self.data = bytearray()
        self.made = False
        got.append(self)

    def connection_made(self, transport) -> None:
        self.made = True

    def data_received(self, data: bytes) -> None:
        self.data += data


async def _closed(reader: asyncio.StreamReader, within: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), within) == b""
    except ConnectionResetError:
        return True


def test_a_refused_connection_is_reset_and_an_admitted_one_handed_over():
    async def main() -> None:
        got: list[Recorder] = []
        handovers = HandOvers()
        admitted = iter([False, True])
        take = lambda conn, peer: handovers.start(conn, lambda: Recorder(got))  # noqa: E731
        listener = Listener(listening_socket("127.0.0.1", 0), take, admit=lambda peer: next(admitted))
        listener.start()
        try:
            try:
                r1, w1 = await asyncio.open_connection(*listener.address)
            except ConnectionResetError:
                pass  # the reset came before connect() returned
            else:
                assert await _closed(r1, 5.0)
                w1.close()
            r2, w2 = await asyncio.open_connection(*listener.address)
            w2.write(b"hello")
            for _ in range(100):
                if got and got[0].data == b"hello":
                    break
                await asyncio.sleep(0.02)
            assert len(got) == 1 and got[0].made and got[0].data == b"hello"
            w2.close()
        finally:
            listener.close()
            handovers.cancel()

    asyncio.run(main())


def test_a_head_split_in_pieces_is_handed_over_whole_and_first():
    async def main() -> None:
        got: list[Recorder] = []
        gate = HeadGate(lambda: Recorder(got), timeout_s=5.0)
        listener = Listener(listening_socket("127.0.0.1", 0), gate.hold)
        listener.start()
        try:
            _, w = await asyncio.open_connection(*listener.address)
            for piece in (b"GET /status HT", b"TP/1.1\r\nHost: x\r", b"\n\r\nbody"):
                w.write(piece)
                await w.drain()
                await asyncio.sleep(0.05)
                assert not got or piece.endswith(b"body")  # nothing reaches the server before the head ends
            w.write(b" and more")
            for _ in range(100):
                if got and got[0].data.endswith(b"and more"):
                    break
                await asyncio.sleep(0.02)
            assert got[0].data == b"GET /status HTTP/1.1\r\nHost: x\r\n\r\nbody and more"
            assert gate.stats() == {"waiting_for_headers": 0, "dropped_before_headers": 0}
            w.close()
        finally:
            listener.close()
            gate.close()

    asyncio.run(main())


def test_a_head_that_never_ends_is_dropped_and_the_oldest_makes_room():
    async def main() -> None:
        got: list[Recorder] = []
        gate = HeadGate(lambda: Recorder(got), timeout_s=0.5, max_pending=2)
        listener = Listener(listening_socket("127.0.0.1", 0), gate.hold)
        listener.start()
        try:
            streams = []
            for _ in range(3):
                r, w = await asyncio.open_connection(*listener.address)
                w.write(b"POST /specimens HTTP/1.1\r\nContent-Le")
                streams.append((r, w))
                await asyncio.sleep(0.05)
            assert await _closed(streams[0][0], 2.0)  # the oldest made room for the third
            assert gate.stats()["waiting_for_headers"] == 2
            assert all([await _closed(r, 3.0) for r, _ in streams[1:]])  # the timeout
            assert gate.stats() == {"waiting_for_headers": 0, "dropped_before_headers": 3} and not got
            for _, w in streams:
                w.close()
        finally:
            listener.close()
            gate.close()

    asyncio.run(main())
