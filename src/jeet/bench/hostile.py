"""Hostile-input measurements of one `jeet node` on 127.0.0.1 (issue 11's targets), as a script, not a test:

    python -m jeet.bench.hostile [--json] [--flood-s 10] [--node-pythonpath SRC]

1. Flood: 500 idle connections to the peer port and 1,000 half-sent HTTP requests, held for `--flood-s`
   seconds (whatever the node closes is reopened every `--refill-s` seconds; 0: at once). During it: /status latency (median, max), the
   node's resident memory and descriptors, and a new peer started halfway; after it: when that peer
   joined, counted from the end of the flood (negative: it joined during the flood).
2. Half-sent frames: 240 connections that each announce a 1 MiB frame and send half of it (memory before
   and after).
3. Amplification: a stranger's Join names a third address (a sink), then asks for the node's specimen
   20 times; bytes the node sent to the sink against bytes the sink sent the node (0).
4. HTTP: a POST without the token (as wasm and as text/plain), one with the token but text/plain, and a
   cross-origin POST (status codes); a 64 MiB body, once with
   Content-Length and once chunked (status, and how much of the body the client got to send).

`--node-pythonpath` runs the node processes from another source tree (e.g. an older checkout), to
measure before/after with the same probes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import selectors
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from ..kernels import get_kernel


class NodeProc:
    def __init__(self, folder: Path, name: str, args: list[str], pythonpath: str | None) -> None:
        env = dict(os.environ)
        if pythonpath:
            env["PYTHONPATH"] = pythonpath
        self.data = folder / name
        cmd = [sys.executable, "-m", "jeet", "node", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
               "--data", str(self.data), "--no-evolve", "--log-level", "warning", *args]
        self.log = open(folder / f"{name}.log", "wb")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"node {name} did not start: {(folder / f'{name}.log').read_text()[-800:]}")
        self.info = json.loads(line)
        self.ps = psutil.Process(self.proc.pid)

    @property
    def peer(self) -> tuple[str, int]:
        h, p = self.info["address"].rsplit(":", 1)
        return h, int(p)

    @property
    def http(self) -> tuple[str, int]:
        h, p = self.info["http"].rsplit(":", 1)
        return h, int(p)

    def token(self) -> str | None:
        try:
            return (self.data / "http.token").read_text().strip()
        except OSError:
            return None

    def status(self, timeout: float = 5.0) -> dict:
        with urllib.request.urlopen("http://%s:%d/status" % self.http, timeout=timeout) as r:
            return json.loads(r.read())

    def rss_mb(self) -> float:
        return self.ps.memory_info().rss / 2**20

    def fds(self) -> int:
        return self.ps.num_fds()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()


class Flood:
    """Keeps `count` connections to `addr` open, each having sent `opening`, reopening what gets closed
    every `refill_s` seconds (0: at once, a reconnect storm). Runs in a process of its own, so the
    measuring client does not wait for the attacker's share of the interpreter lock."""

    def __init__(self, addr: tuple[str, int], count: int, opening: bytes, refill_s: float = 1.0) -> None:
        self.addr, self.count, self.opening, self.refill_s = addr, count, opening, refill_s
        self._refilled = 0.0
        self.opened = self.closed_by_node = self.refused = 0
        ctx = multiprocessing.get_context("fork")
        self._stop = ctx.Event()
        self._result = ctx.Queue()
        self.proc = ctx.Process(target=self._main, daemon=True)

    def _main(self) -> None:
        self.sel = selectors.DefaultSelector()
        self._run()
        self._result.put((self.opened, self.closed_by_node, self.refused))

    def _open(self) -> None:
        try:
            s = socket.create_connection(self.addr, timeout=2)
            if self.opening:
                s.sendall(self.opening)
            s.setblocking(False)
            self.sel.register(s, selectors.EVENT_READ)
            self.opened += 1
        except OSError:
            self.refused += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            if time.monotonic() - self._refilled >= self.refill_s:
                self._refilled = time.monotonic()
                while len(self.sel.get_map()) < self.count and not self._stop.is_set():
                    self._open()
            for key, _ in self.sel.select(0.1):
                s = key.fileobj
                try:
                    data = s.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    self.closed_by_node += 1
                    self.sel.unregister(s)
                    s.close()
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()

    def start(self) -> "Flood":
        self.proc.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        try:
            self.opened, self.closed_by_node, self.refused = self._result.get(timeout=30)
        except Exception:  # noqa: BLE001 - the counts are a report, not a result
            pass
        self.proc.join(10)


def _post(node: NodeProc, body: bytes, headers: dict[str, str]) -> int:
    req = urllib.request.Request("http://%s:%d/specimens" % node.http, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _big_body(node: NodeProc, chunked: bool) -> dict:
    token = node.token()
    head = ["POST /specimens HTTP/1.1", "Host: %s:%d" % node.http, "Content-Type: application/wasm"]
    if token:
        head.append(f"Authorization: Bearer {token}")
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {64 << 20}")
    piece = (b"%x\r\n" % (64 << 10) + b"\1" * (64 << 10) + b"\r\n") if chunked else b"\1" * (64 << 10)
    sent, code, t0 = 0, None, time.perf_counter()
    rss0 = node.rss_mb()
    with socket.create_connection(node.http, timeout=10) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 << 10)
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        s.settimeout(2.0)
        try:
            while sent < 64 << 20:
                s.sendall(piece)
                sent += len(piece)
        except (OSError, socket.timeout):
            pass
        try:
            s.settimeout(5.0)
            code = int(s.recv(4096).split(b" ", 2)[1])
        except (OSError, IndexError, ValueError):
            pass
    return {"status": code, "client_sent_mib": round(sent / 2**20, 2), "seconds": round(time.perf_counter() - t0, 2),
            "node_rss_growth_mb": round(node.rss_mb() - rss0, 1)}


def _amplification(node: NodeProc, sha: str | None) -> dict:
    from ..net import Codec, IWant, Join, NodeIdentity

    sink = socket.create_server(("127.0.0.1", 0))
    sink.settimeout(0.1)
    sink_addr = "127.0.0.1:%d" % sink.getsockname()[1]
    got = {"bytes": 0, "connections": 0}
    stop = threading.Event()

    def serve() -> None:
        conns = []
        while not stop.is_set():
            try:
                c, _ = sink.accept()
                c.setblocking(False)
                conns.append(c)
                got["connections"] += 1
            except socket.timeout:
                pass
            for c in conns:
                try:
                    got["bytes"] += len(c.recv(65536))
                except OSError:
                    pass
        for c in conns:
            c.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    codec = Codec(NodeIdentity.generate())
    sent = back = 0
    with socket.create_connection(node.peer, timeout=5) as s:
        def send(to: str, message) -> None:
            nonlocal sent
            data = codec.encode(to, message)
            s.sendall(struct.pack(">I", len(data)) + data)
            sent += 4 + len(data)

        send("", Join(sink_addr, 0))
        for _ in range(20):
            if sha:
                send(node.info["node_id"], IWant((sha,)))
            time.sleep(0.1)
        s.settimeout(0.5)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(1 << 20)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            back += len(chunk)
    stop.set()
    thread.join(5)
    sink.close()
    return {"attacker_sent": sent, "attacker_got_on_its_connection": back, "sent_to_third_address": got["bytes"],
            "received_from_third_address": 0, "dials_to_third_address": got["connections"]}


def measure(flood_s: float = 10.0, pythonpath: str | None = None, refill_s: float = 1.0, idle: int = 500,
            half_http: int = 1000) -> dict:
    out: dict = {"command": " ".join([Path(sys.executable).name, "-m", "jeet.bench.hostile", *sys.argv[1:]]),
                 "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
                 "load_average": os.getloadavg()[0]}
    better = get_kernel("popcount").wasm("O2")
    with tempfile.TemporaryDirectory(prefix="jeet-hostile-") as tmp:
        folder = Path(tmp)
        a = NodeProc(folder, "a", [], pythonpath)
        b = None
        try:
            time.sleep(1.0)
            token = a.token()
            auth = {"Authorization": f"Bearer {token}"} if token else {}
            code = _post(a, better, {"Content-Type": "application/wasm", **auth})
            sha = __import__("hashlib").sha256(better).hexdigest() if code == 200 else None
            out["baseline"] = {"rss_mb": round(a.rss_mb(), 1), "fds": a.fds()}

            # 1. the flood
            opening = b"POST /specimens HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le"
            peers = Flood(a.peer, idle, b"", refill_s).start()
            https = Flood(a.http, half_http, opening, refill_s).start()
            t_start = time.monotonic()
            cpu0 = sum(a.ps.cpu_times()[:2])
            lat, rss, fds, errors, slow_at = [], [], [], 0, []
            joined_at = None
            while time.monotonic() - t_start < flood_s:
                t0 = time.perf_counter()
                try:
                    st = a.status(timeout=5)
                    lat.append(time.perf_counter() - t0)
                    if lat[-1] > 0.1:
                        slow_at.append(round(time.monotonic() - t_start, 1))
                    if b is not None and joined_at is None and \
                            b.info["node_id"] in {p["id"] for p in st["peers"]}:
                        joined_at = time.monotonic()
                except (OSError, ValueError):
                    errors += 1
                rss.append(a.rss_mb())
                fds.append(a.fds())
                if b is None and time.monotonic() - t_start > flood_s / 2:
                    b_started = time.monotonic()
                    b = NodeProc(folder, "b", ["--peer", a.info["address"]], pythonpath)
                time.sleep(0.2)
            cpu = sum(a.ps.cpu_times()[:2]) - cpu0  # the node's own work: a figure the machine's load does not bend
            peers.stop()
            https.stop()
            t_end = time.monotonic()
            while joined_at is None and time.monotonic() - t_end < 60:
                try:
                    if b.info["node_id"] in {p["id"] for p in a.status()["peers"]}:
                        joined_at = time.monotonic()
                except (OSError, ValueError):
                    pass
                time.sleep(0.1)
            out["flood"] = {
                "seconds": flood_s, "idle_peer_connections": idle, "half_sent_http_requests": half_http,
                "reopened_every_s": refill_s,
                "peer_connections_opened": peers.opened, "peer_connections_closed_by_node": peers.closed_by_node,
                "http_connections_opened": https.opened, "http_connections_closed_by_node": https.closed_by_node,
                "status_median_ms": round(statistics.median(lat) * 1000, 1) if lat else None,
                "status_p90_ms": round(statistics.quantiles(lat, n=10)[8] * 1000, 1) if len(lat) > 1 else None,
                "status_max_ms": round(max(lat) * 1000, 1) if lat else None,
                "status_over_100ms": sum(x > 0.1 for x in lat), "status_slow_at_s": slow_at,
                "new_peer_started_at_s": round(b_started - t_start, 1),
                "status_answered": len(lat), "status_failed": errors, "node_cpu_s": round(cpu, 2),
                "first_status_ms": round(lat[0] * 1000, 1) if lat else None,
                "rss_max_mb": round(max(rss), 1), "fds_max": max(fds),
                "new_peer_joined_after_flood_end_s": None if joined_at is None else round(joined_at - t_end, 2),
                "new_peer_join_s_from_its_start": None if joined_at is None else round(joined_at - b_started, 2),
            }
            time.sleep(1.0)

            # 2. half-sent 1 MiB frames
            rss0 = a.rss_mb()
            socks = []
            for _ in range(240):
                try:
                    s = socket.create_connection(a.peer, timeout=2)
                    s.setblocking(False)
                    try:
                        s.send(struct.pack(">I", 1 << 20) + b"\0" * (512 << 10))
                    except OSError:
                        pass
                    socks.append(s)
                except OSError:
                    pass
            time.sleep(2.0)
            out["half_frames"] = {"connections": len(socks), "rss_before_mb": round(rss0, 1),
                                  "rss_after_mb": round(a.rss_mb(), 1)}
            for s in socks:
                s.close()

            # 3. amplification
            out["amplification"] = _amplification(a, sha)

            # 4. HTTP probes
            out["http"] = {
                "post_without_token": _post(a, better, {"Content-Type": "application/wasm"}),
                "post_without_token_text_plain": _post(a, better, {"Content-Type": "text/plain"}),
                "post_with_token_text_plain": _post(a, better, {"Content-Type": "text/plain", **auth}),
                "cross_origin_post": _post(a, better, {"Content-Type": "text/plain", "Origin": "http://evil.example",
                                                      **auth}),
                "body_64mib_content_length": _big_body(a, chunked=False),
                "body_64mib_chunked": _big_body(a, chunked=True),
            }
            out["final"] = {"rss_mb": round(a.rss_mb(), 1), "fds": a.fds(), "alive": a.proc.poll() is None}
        finally:
            for n in (b, a):
                if n is not None:
                    n.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flood-s", type=float, default=10.0)
    parser.add_argument("--node-pythonpath", default=None)
    parser.add_argument("--refill-s", type=float, default=1.0,
                        help="reopen what the node closed every this many seconds (0: at once)")
    parser.add_argument("--idle", type=int, default=500, help="idle connections to the peer port")
    parser.add_argument("--half-http", type=int, default=1000, help="half-sent HTTP requests")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.flood_s, args.node_pythonpath, args.refill_s, args.idle, args.half_http)
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
