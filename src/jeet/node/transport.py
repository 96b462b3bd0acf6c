"""TCP connections between nodes: one listener, lazily opened outbound connections, bounded send queues.

Every connection, inbound or outbound, is read the same way: each frame goes to `on_frame(data, link)`,
where the host decodes and authenticates it (the transport knows nothing of signatures). Frames to an
address go through one outbound connection per address; if it cannot be opened or breaks, what is queued
is dropped (the protocol retries what matters) and the next send tries again after a short backoff.
A frame can also go back on the link it arrived on (`Link.send`), which is how a node answers a peer
whose listening address it does not know yet.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

from .framing import FrameError, frame, read_frame

log = logging.getLogger("jeet.node")

QUEUE_FRAMES = 512          # frames waiting per connection before new ones are dropped
CONNECT_TIMEOUT = 2.0
RETRY_AFTER = 1.0           # seconds before a failed address is tried again
MAX_INBOUND = 256           # connections accepted at once; more are closed on arrival


class Link:
    """One TCP connection and its writer task."""

    def __init__(self, label: str, writer: asyncio.StreamWriter | None = None) -> None:
        self.label = label
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_FRAMES)
        self.writer = writer
        self.closed = False
        self.dropped = 0
        self.peer: str | None = None  # set by the host once a frame from it authenticated

    def send(self, payload: bytes) -> bool:
        """Queue a frame; False (and counted) if the connection is gone or its queue is full."""
        if self.closed:
            return False
        try:
            self.queue.put_nowait(frame(payload))
            return True
        except asyncio.QueueFull:
            self.dropped += 1
            return False

    async def pump(self) -> None:
        assert self.writer is not None
        try:
            while True:
                data = await self.queue.get()
                self.writer.write(data)
                # drain only when the kernel buffer is full: small frames leave at once, in order
                if self.writer.transport.get_write_buffer_size() > 1 << 20:
                    await self.writer.drain()
        except (ConnectionError, OSError) as exc:
            log.debug("link %s: %s", self.label, exc)
        finally:
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.writer is not None:
                self.writer.close()


class Transport:
    """The node's sockets. `on_frame(data, link)` gets every frame; `on_bad_frame(link, error)` every
    framing violation (after which that connection is closed)."""

    def __init__(self, max_frame: int, on_frame: Callable[[bytes, Link], None],
                 on_bad_frame: Callable[[Link, Exception], None]) -> None:
        self.max_frame = max_frame
        self.on_frame = on_frame
        self.on_bad_frame = on_bad_frame
        self._server: asyncio.base_events.Server | None = None
        self._out: dict[str, Link] = {}
        self._failed: dict[str, float] = {}
        self._tasks: set[asyncio.Task] = set()
        self._inbound: set[Link] = set()
        self.connections_refused = 0

    async def listen(self, host: str, port: int) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._accept, host, port, limit=self.max_frame + 8)
        sock = self._server.sockets[0].getsockname()
        return sock[0], sock[1]

    def send(self, address: str, payload: bytes) -> bool:
        """Queue a frame for the node listening on `address` ("host:port")."""
        link = self._out.get(address)
        if link is None or link.closed:
            if time.monotonic() < self._failed.get(address, 0.0):
                return False
            link = self._out[address] = Link(address)
            self._spawn(self._connect(address, link))
        return link.send(payload)

    async def close(self) -> None:
        """Flush what is queued (briefly), then close every connection and the listener."""
        links = [lk for lk in list(self._out.values()) + list(self._inbound) if not lk.closed]
        deadline = time.monotonic() + 1.0
        while any(not lk.queue.empty() and lk.writer is not None for lk in links) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for lk in links:
            if lk.writer is not None:
                try:
                    await asyncio.wait_for(lk.writer.drain(), 0.5)
                except (ConnectionError, OSError, asyncio.TimeoutError):
                    pass
            lk.close()
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- internals ----------------------------------------------------------------------------------

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, address: str, link: Link) -> None:
        host, _, port = address.rpartition(":")
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, int(port), limit=self.max_frame + 8), CONNECT_TIMEOUT)
        except (OSError, ValueError, asyncio.TimeoutError) as exc:
            log.debug("cannot connect to %s: %s", address, exc)
            self.connections_refused += 1
            self._failed[address] = time.monotonic() + RETRY_AFTER
            link.close()
            return
        self._failed.pop(address, None)
        link.writer = writer
        self._spawn(link.pump())
        await self._read(reader, link)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if len(self._inbound) >= MAX_INBOUND:
            self.connections_refused += 1
            writer.close()
            return
        link = Link(f"{peer[0]}:{peer[1]}" if peer else "inbound", writer)
        self._inbound.add(link)
        pump = asyncio.get_running_loop().create_task(link.pump())
        self._tasks.add(pump)
        pump.add_done_callback(self._tasks.discard)
        try:
            await self._read(reader, link)
        finally:
            self._inbound.discard(link)

    async def _read(self, reader: asyncio.StreamReader, link: Link) -> None:
        try:
            while not link.closed:
                data = await read_frame(reader, self.max_frame)
                if data is None:
                    break
                self.on_frame(data, link)
        except FrameError as exc:
            self.on_bad_frame(link, exc)
        except (ConnectionError, OSError) as exc:
            log.debug("link %s: %s", link.label, exc)
        finally:
            link.close()
