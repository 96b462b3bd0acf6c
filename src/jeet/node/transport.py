"""TCP connections between nodes: one listener, lazily opened outbound connections, bounded everything.

Every connection, inbound or outbound, is read the same way: each frame goes to `on_frame(data, link)`,
where the host decodes and authenticates it (the transport knows nothing of signatures; the host marks a
link's `peer` once a frame on it authenticated). Frames to an address go through one outbound connection
per address; if it cannot be opened or breaks, what is queued is dropped (the protocol retries what
matters) and the address is dialled again only after a backoff that grows with each failure. A frame can
also go back on the link it arrived on (`Link.send`), which is how a node answers a peer whose listening
address it has not verified.

Claimed addresses are not trusted. The listener speaks first on every connection it accepts (the host's
`on_accept` queues a Hello); a dialer that was told "node P listens at X" writes nothing on its connection
to X until a Hello signed by P arrived on it (`verified`), and gives up after `handshake_s`. So a node sends
no byte to an address just because a peer named it; only addresses the operator gave (`expect=None`) are
written to at once.

What a hostile client can hold is bounded (`TransportLimits`): connections per remote host, and of those
not yet authenticated (more are closed on arrival, which costs the node next to nothing however fast they
come); connections overall (a new one then closes the oldest that has not authenticated, so strangers
from many hosts cannot lock peers out); `handshake_s` for a new connection to authenticate (after which a
held slot is free again), `idle_s` without a frame either way,
`read_s` for a frame whose header came; frames before authentication no larger than `hello_frame`; bytes of
large frames being read at once over all connections (`buffered`); bytes queued to send per connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Callable

from .framing import HEADER, FrameError, frame
from .listener import HandOvers, Listener, listening_socket

log = logging.getLogger("jeet.node")

QUEUE_FRAMES = 512          # frames waiting per connection before new ones are dropped
CONNECT_TIMEOUT = 2.0
STREAM_LIMIT = 64 << 10     # the stream buffers this much ahead of what is being read (then stops reading)
MAX_DIALS = 64              # outbound connections waiting for a Hello at once
MEMORY = 4096               # addresses remembered (links, failures) before the oldest are forgotten


@dataclass(frozen=True, slots=True)
class TransportLimits:
    max_connections: int = 512        # inbound connections at once
    per_host: int = 64                # inbound connections from one remote host
    unverified_per_host: int = 16     # ... of which not yet authenticated
    hello_frame: int = 64 << 10       # largest frame a connection may send before it authenticated
    buffered: int = 64 << 20          # bytes of frames being read at once, over all connections
    queue_bytes: int = 8 << 20        # bytes waiting to be sent on one connection
    handshake_s: float = 3.0          # a new connection must authenticate (or a dialled listener say Hello)
    read_s: float = 20.0              # a frame must arrive whole this long after its header
    idle_s: float = 120.0             # no frame either way this long: the connection is closed
    retry_first: float = 0.25         # backoff before dialling an address that failed again ...
    retry_cap: float = 60.0           # ... doubling up to this (addresses the operator gave: up to 1 s)

    @classmethod
    def for_heartbeat(cls, heartbeat: float) -> "TransportLimits":
        """Timeouts that scale with the protocol's heartbeat (a fast heartbeat suits one machine or a LAN)."""
        clamp = lambda lo, x, hi: max(lo, min(hi, x))  # noqa: E731
        return cls(handshake_s=clamp(1.0, 3 * heartbeat, 3.0), read_s=clamp(2.0, 20 * heartbeat, 20.0),
                   idle_s=clamp(10.0, 60 * heartbeat, 120.0))


class Link:
    """One TCP connection and its writer task. `ready` is set once frames may be written: at once for an
    inbound connection or one to an address the operator gave, after the expected Hello otherwise."""

    def __init__(self, label: str, writer: asyncio.StreamWriter | None = None, *, host: str = "",
                 outbound: bool = False, expect: str | None = None, queue_bytes: int = 8 << 20) -> None:
        self.label = label
        self.host = host
        self.outbound = outbound
        self.expect = expect  # outbound: the node id that must say Hello first (None: trusted address)
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_FRAMES)
        self.queued = 0
        self.queue_bytes = queue_bytes
        self.writer = writer
        self.closed = False
        self.dropped = 0
        self.peer: str | None = None  # set by the host once a frame from it authenticated
        self.opened = self.last = time.monotonic()
        self.ready = asyncio.Event()
        if not outbound or expect is None:
            self.ready.set()

    def send(self, payload: bytes) -> bool:
        """Queue a frame; False (and counted) if the connection is gone or its queue is full."""
        if self.closed:
            return False
        data = frame(payload)
        if self.queued + len(data) > self.queue_bytes:
            self.dropped += 1
            return False
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            self.dropped += 1
            return False
        self.queued += len(data)
        self.last = time.monotonic()
        return True

    async def pump(self) -> None:
        assert self.writer is not None
        try:
            await self.ready.wait()
            while not self.closed:
                data = await self.queue.get()
                if self.closed:
                    break
                self.queued -= len(data)
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
            # wake a pump waiting for the Hello or for a frame, so it ends and lets go of the connection (a
            # pump left waiting would keep the socket's buffers alive: a leak per closed connection)
            self.ready.set()
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queued = 0
            self.queue.put_nowait(b"")
            if self.writer is not None:
                self.writer.close()


class Transport:
    """The node's sockets. `on_frame(data, link)` gets every frame; `on_bad_frame(link, error)` every
    framing violation (after which that connection is closed); `on_accept(link)` every accepted connection
    (the host greets it)."""

    def __init__(self, max_frame: int, on_frame: Callable[[bytes, Link], None],
                 on_bad_frame: Callable[[Link, Exception], None],
                 on_accept: Callable[[Link], None] | None = None, limits: TransportLimits | None = None) -> None:
        self.max_frame = max_frame
        self.on_frame = on_frame
        self.on_bad_frame = on_bad_frame
        self.on_accept = on_accept
        self.limits = limits or TransportLimits()
        self._listener: Listener | None = None
        self._handovers = HandOvers()
        self._out: dict[str, Link] = {}
        self._failed: dict[str, tuple[float, float]] = {}  # address -> (next dial at, last delay)
        self._tasks: set[asyncio.Task] = set()
        self._inbound: dict[Link, None] = {}  # oldest first
        self._buffered = 0
        self._starting: dict[str, int] = {}
        self.counters = {"connections_refused": 0, "connections_evicted": 0, "connection_timeouts": 0,
                         "dials_failed": 0}

    async def listen(self, host: str, port: int) -> tuple[str, int]:
        # a refused connection is reset before any stream task exists: refusing thousands a second costs
        # the node next to nothing
        def take(conn, peer) -> None:
            self._handovers.start(conn, lambda: self._protocol(peer), lost=lambda: self._started(peer))

        self._listener = Listener(listening_socket(host, port), take, admit=self._admit)
        self._listener.start()
        return self._listener.address

    def send(self, address: str, payload: bytes, expect: str | None = None) -> bool:
        """Queue a frame for the node listening on `address` ("host:port"): the node `expect` (a frame is
        written only after its Hello came from there), or whoever listens at an address the operator gave
        (`expect=None`)."""
        link = self._out.get(address)
        if link is not None and not link.closed:
            if expect is not None and link.expect is not None and link.expect != expect:
                return False  # another node proved it listens there
            return link.send(payload)
        if time.monotonic() < self._failed.get(address, (0.0, 0.0))[0]:
            return False
        if expect is not None and sum(not lk.ready.is_set() for lk in self._out.values()) >= MAX_DIALS:
            return False
        self._out.pop(address, None)
        link = self._out[address] = Link(address, outbound=True, expect=expect, queue_bytes=self.limits.queue_bytes)
        if len(self._out) > MEMORY:
            for key in [k for k, lk in self._out.items() if lk.closed][: len(self._out) - MEMORY]:
                del self._out[key]
        self._spawn(self._connect(address, link))
        return link.send(payload)

    def verified(self, link: Link, peer: str) -> None:
        """The host checked the Hello on an outbound `link`: it comes from `peer` (the expected node, or
        whoever listens at a trusted address). Frames queued for it may now leave."""
        link.peer = peer
        if link.expect is None:
            link.expect = peer
        self._failed.pop(link.label, None)
        link.ready.set()

    def stats(self) -> dict[str, int]:
        return {**self.counters, "inbound": len(self._inbound), "outbound": sum(not lk.closed for lk in self._out.values()),
                "buffered_bytes": self._buffered, "tasks": len(self._tasks)}

    async def close(self) -> None:
        """Flush what is queued (briefly), then close every connection and the listener."""
        links = [lk for lk in list(self._out.values()) + list(self._inbound) if not lk.closed]
        deadline = time.monotonic() + 1.0
        while any(not lk.queue.empty() and lk.writer is not None and lk.ready.is_set() for lk in links) \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for lk in links:
            if lk.writer is not None and lk.ready.is_set():
                try:
                    await asyncio.wait_for(lk.writer.drain(), 0.5)
                except (ConnectionError, OSError, asyncio.TimeoutError):
                    pass
            lk.close()
        if self._listener is not None:
            self._listener.close()
        self._handovers.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- internals ----------------------------------------------------------------------------------

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _fail(self, link: Link) -> None:
        """Dial this address again only after a backoff that doubles with each failure."""
        self.counters["dials_failed"] += 1
        cap = 1.0 if link.expect is None else self.limits.retry_cap
        last = self._failed.get(link.label, (0.0, 0.0))[1]
        delay = min(cap, max(self.limits.retry_first, 2 * last))
        self._failed[link.label] = (time.monotonic() + delay, delay)
        if len(self._failed) > MEMORY:
            del self._failed[next(iter(self._failed))]

    async def _connect(self, address: str, link: Link) -> None:
        host, _, port = address.rpartition(":")
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, int(port), limit=STREAM_LIMIT), CONNECT_TIMEOUT)
        except (OSError, ValueError, asyncio.TimeoutError) as exc:
            log.debug("cannot connect to %s: %s", address, exc)
            self._fail(link)
            link.close()
            return
        if link.closed:
            writer.close()
            return
        link.writer = writer
        self._spawn(link.pump())
        await self._read(reader, link)
        if link.peer is None:  # no Hello from the expected node: the claim did not hold
            self._fail(link)

    def _protocol(self, peer) -> asyncio.StreamReaderProtocol:
        return asyncio.StreamReaderProtocol(asyncio.StreamReader(limit=STREAM_LIMIT),
                                            lambda reader, writer: self._accept(reader, writer, peer))

    def _admit(self, peer) -> bool:
        """Whether a connection from `peer` may be served at all: within the per-host limits."""
        host = str(peer[0]) if peer else "?"
        lim = self.limits
        same = [lk for lk in self._inbound if lk.host == host]
        starting = self._starting.get(host, 0)  # admitted, their stream task not run yet (a burst)
        if len(same) + starting >= lim.per_host or \
                sum(lk.peer is None for lk in same) + starting >= lim.unverified_per_host:
            self.counters["connections_refused"] += 1
            return False
        self._starting[host] = starting + 1
        return True

    def _started(self, peer) -> None:
        """An admitted connection from `peer` is served now (or was lost before it could be): its host's
        count of connections on their way in goes down."""
        host = str(peer[0]) if peer else "?"
        left = self._starting.pop(host, 1) - 1
        if left > 0:
            self._starting[host] = left

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer) -> None:
        """Serve an admitted connection from `peer` (the address it was admitted under)."""
        self._started(peer)
        host = str(peer[0]) if peer else "?"
        lim = self.limits
        if len(self._inbound) >= lim.max_connections:
            victim = next((lk for lk in self._inbound if lk.peer is None), None)
            if victim is None:
                self.counters["connections_refused"] += 1
                writer.close()
                return
            self._evict(victim)  # strangers from many hosts: the oldest that has not authenticated goes
        link = Link(f"{host}:{peer[1]}" if peer else "inbound", writer, host=host, queue_bytes=lim.queue_bytes)
        self._inbound[link] = None
        self._spawn(link.pump())
        if self.on_accept is not None:
            self.on_accept(link)
        try:
            await self._read(reader, link)
        finally:
            self._inbound.pop(link, None)

    def _evict(self, link: Link) -> None:
        self.counters["connections_evicted"] += 1
        self._inbound.pop(link, None)
        link.close()

    async def _header(self, reader: asyncio.StreamReader, link: Link) -> bytes | None:
        """The next frame header, or None when the connection should end (clean end of stream, no
        authentication within `handshake_s`, or idle for `idle_s`)."""
        lim = self.limits
        while True:
            deadline = link.opened + lim.handshake_s if link.peer is None else link.last + lim.idle_s
            wait = deadline - time.monotonic()
            if wait <= 0:
                self.counters["connection_timeouts"] += 1
                log.debug("link %s: %s", link.label, "no handshake" if link.peer is None else "idle")
                return None
            try:
                return await asyncio.wait_for(reader.readexactly(HEADER.size), wait)
            except asyncio.TimeoutError:
                continue  # frames sent meanwhile may have moved the idle deadline
            except asyncio.IncompleteReadError as exc:
                if not exc.partial:
                    return None
                raise FrameError("stream ended inside a frame header") from None

    async def _read(self, reader: asyncio.StreamReader, link: Link) -> None:
        lim = self.limits
        try:
            while not link.closed:
                header = await self._header(reader, link)
                if header is None:
                    break
                (size,) = HEADER.unpack(header)
                if size == 0:
                    raise FrameError("empty frame")
                cap = self.max_frame if link.peer is not None else lim.hello_frame
                if size > cap:
                    raise FrameError(f"frame of {size} bytes exceeds the limit of {cap}"
                                     + ("" if link.peer is not None else " before authentication"))
                if size > lim.hello_frame and self._buffered + size > lim.buffered:
                    log.debug("link %s: too many large frames in flight; closing", link.label)
                    break  # not the peer's fault: it may retry later
                self._buffered += size
                try:
                    data = await asyncio.wait_for(reader.readexactly(size), lim.read_s)
                except asyncio.IncompleteReadError:
                    raise FrameError(f"stream ended inside a frame of {size} bytes") from None
                except asyncio.TimeoutError:
                    self.counters["connection_timeouts"] += 1
                    log.debug("link %s: a frame of %d bytes took over %g s", link.label, size, lim.read_s)
                    break
                finally:
                    self._buffered -= size
                link.last = time.monotonic()
                self.on_frame(data, link)
        except FrameError as exc:
            self.on_bad_frame(link, exc)
        except (ConnectionError, OSError) as exc:
            log.debug("link %s: %s", link.label, exc)
        finally:
            link.close()
