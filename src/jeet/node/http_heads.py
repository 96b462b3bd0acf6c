"""Holding an accepted HTTP connection as a bare socket until its request head has arrived.

A connection that never finishes its headers (a slow or hostile client) costs the node a descriptor and a
few bytes here, instead of an aiohttp request handler, a task and a timer: a thousand half-sent requests
arriving at once are absorbed in tens of milliseconds, so the operator's `/status` behind them in the
kernel's accept queue is answered at once. A head that arrives whole (or reaches `head_limit`, which the
HTTP parser then refuses) is handed to the server with the bytes read so far. A head not complete within
`timeout_s` is dropped, and so is the oldest pending one when `max_pending` are held.
"""

from __future__ import annotations

import asyncio
import selectors
import socket
import time
from typing import Callable

from .listener import HandOvers, Protocol, reset

HEAD_LIMIT = 64 << 10   # bytes of request head held before the connection is handed over regardless
MAX_PENDING = 4096      # connections waiting for their head at once (then the oldest is dropped)
SWEEP_S = 0.5           # how often heads past their deadline are looked for
READ = 16 << 10         # bytes read per readiness event
_ENDS = (b"\r\n\r\n", b"\n\n")


class HeadGate:
    """`hold(conn, peer)` (a `Listener`'s `take`) keeps `conn` until its head came, then gives it to
    `factory`'s protocol. `close()` drops whatever is still held.

    Held connections wait in a poll set of the gate's own, which the event loop watches as one descriptor:
    registering a socket there is one system call, without the per-descriptor bookkeeping of the loop's own
    readers, and a head that is already there when the connection is accepted (the usual case) is handed
    over without being registered at all."""

    def __init__(self, factory: Callable[[], Protocol], timeout_s: float, max_pending: int = MAX_PENDING,
                 head_limit: int = HEAD_LIMIT) -> None:
        self.factory = factory
        self.timeout_s = timeout_s
        self.max_pending = max_pending
        self.head_limit = head_limit
        self.dropped = 0
        self._pending: dict[socket.socket, tuple[float, bytearray]] = {}  # oldest first
        self._poll = selectors.DefaultSelector()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handovers = HandOvers()
        self._sweeper: asyncio.TimerHandle | None = None

    def hold(self, conn: socket.socket, _peer: tuple) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._loop.add_reader(self._poll.fileno(), self._ready)
        if len(self._pending) >= self.max_pending:
            self._drop(next(iter(self._pending)))
        self._pending[conn] = (time.monotonic() + self.timeout_s, bytearray())
        if self._read(conn):
            self._poll.register(conn, selectors.EVENT_READ)
            if self._sweeper is None:
                self._sweeper = self._loop.call_later(SWEEP_S, self._sweep)

    def stats(self) -> dict[str, int]:
        return {"waiting_for_headers": len(self._pending), "dropped_before_headers": self.dropped}

    def close(self) -> None:
        for conn in list(self._pending):
            self._drop(conn)
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self._loop is not None:
            self._loop.remove_reader(self._poll.fileno())
        self._poll.close()
        self._handovers.cancel()

    def _ready(self) -> None:
        for key, _ in self._poll.select(0):
            if key.fileobj in self._pending:
                self._read(key.fileobj)

    def _read(self, conn: socket.socket) -> bool:
        """Read what came; hand the connection over once its head is whole. True while it must wait on."""
        try:
            data = conn.recv(READ)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            data = b""
        if not data:  # the client left before its head was whole
            self._drop(conn, counted=False)
            return False
        buf = self._pending[conn][1]
        seen = max(0, len(buf) - 3)  # look only at what is new (and the 3 bytes an end may span)
        buf += data
        if len(buf) >= self.head_limit or any(buf.find(end, seen) >= 0 for end in _ENDS):
            self._forget(conn)
            self._handovers.start(conn, self.factory, bytes(buf))
            return False
        return True

    def _forget(self, conn: socket.socket) -> None:
        del self._pending[conn]
        try:
            self._poll.unregister(conn)
        except KeyError:
            pass  # never registered: its head came with the connection

    def _drop(self, conn: socket.socket, counted: bool = True) -> None:
        self._forget(conn)
        reset(conn)
        self.dropped += counted

    def _sweep(self) -> None:
        now = time.monotonic()
        for conn, (deadline, _) in list(self._pending.items()):
            if deadline > now:
                break  # held in arrival order with one timeout: the rest are younger
            self._drop(conn)
        self._sweeper = self._loop.call_later(SWEEP_S, self._sweep) if self._pending else None
