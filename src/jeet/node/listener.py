"""Accepting connections for the node's two ports: many per turn of the event loop, and a refusal before
any asyncio object exists.

asyncio's own server makes a task, a transport and a protocol for every connection it accepts, even one
that is closed at once, and accepts a small fixed batch per readiness event. Under a flood of connections
that is where the event loop's time goes, and an operator's request waits in the kernel's accept queue
behind the flood. Here a connection costs one `accept` until the host wants it: one it refuses (`admit`)
is reset on the spot (no FIN exchange, no TIME_WAIT), one it takes is given to the host as a bare socket
(`take`), which turns it into an asyncio connection (`hand_over`) when it is worth one.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import struct
from typing import Callable

log = logging.getLogger("jeet.node")

BACKLOG = 1024        # connections the kernel queues before accept (a burst must not drop a peer's SYN)
ACCEPT_BATCH = 128    # accepted per readiness event: a burst drains in few turns, yet one turn stays short
RETRY_S = 0.1         # out of descriptors: accept again after this long (the kernel keeps queueing meanwhile)
_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST at once

Protocol = asyncio.BaseProtocol


def listening_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket for `host:port` (IPv4 or IPv6, resolved like asyncio does)."""
    family, type_, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                          flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, type_, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def reset(conn: socket.socket) -> None:
    """Close a connection with a reset: the cheapest way to refuse one, for both ends."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
    except OSError:
        pass
    conn.close()


class _Primed(asyncio.Protocol):
    """Stands in for `real` until the transport exists, then steps aside and gives it the bytes that were
    read before (so they reach it first, ahead of anything the transport reads)."""

    def __init__(self, real: asyncio.Protocol, head: bytes) -> None:
        self.real = real
        self.head = head

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.set_protocol(self.real)
        self.real.connection_made(transport)
        if self.head and not transport.is_closing():
            self.real.data_received(self.head)


class HandOvers:
    """Turns bare accepted sockets into asyncio connections, keeping the tasks that do it."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task] = set()

    def start(self, conn: socket.socket, factory: Callable[[], Protocol], head: bytes = b"",
              lost: Callable[[], None] | None = None) -> None:
        """Make `conn` an asyncio connection with `factory()` as its protocol (given `head` first); `lost` is
        called if that fails (the client left between accept and now)."""
        task = asyncio.get_running_loop().create_task(self._hand_over(conn, factory, head, lost))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _hand_over(conn: socket.socket, factory: Callable[[], Protocol], head: bytes,
                         lost: Callable[[], None] | None) -> None:
        make = (lambda: _Primed(factory(), head)) if head else factory  # noqa: E731
        try:
            await asyncio.get_running_loop().connect_accepted_socket(make, conn)
        except OSError as exc:
            log.debug("accepted connection lost at once: %s", exc)
            conn.close()
            if lost is not None:
                lost()

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()


class Listener:
    """Accepts on `sock` while started: `admit(peername)` (if given) decides before anything is built,
    `take(conn, peername)` gets each admitted connection as a non-blocking socket. `close()` stops
    accepting and closes `sock`."""

    def __init__(self, sock: socket.socket, take: Callable[[socket.socket, tuple], None],
                 admit: Callable[[tuple], bool] | None = None, batch: int = ACCEPT_BATCH) -> None:
        self.sock = sock
        self.take = take
        self.admit = admit
        self.batch = batch
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @property
    def address(self) -> tuple[str, int]:
        name = self.sock.getsockname()
        return name[0], name[1]

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if not self._closed:
            self._loop.add_reader(self.sock.fileno(), self._ready)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._loop is not None:
            self._loop.remove_reader(self.sock.fileno())
        self.sock.close()

    def _ready(self) -> None:
        for _ in range(self.batch):
            try:
                conn, peer = self.sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    log.warning("cannot accept a connection: %s; trying again in %g s", exc.strerror, RETRY_S)
                    self._loop.remove_reader(self.sock.fileno())
                    self._loop.call_later(RETRY_S, self.start)
                else:
                    log.warning("cannot accept a connection: %s", exc)
                return
            if self.admit is not None and not self.admit(peer):
                reset(conn)
                continue
            conn.setblocking(False)
            self.take(conn, peer)
