"""The node's HTTP face under hostile clients on 127.0.0.1: a web page (cross-origin, DNS rebinding), a caller
without the token, bodies split, oversized, chunked or never finished, and half-sent requests. Every socket
has a timeout and every wait is bounded."""

from __future__ import annotations

import hashlib
import json
import socket
import stat
import subprocess
import time

import psutil
import pytest

from jeet.kernels import get_kernel

from node_support import JEET, NodeProcess, wait_for

pytestmark = pytest.mark.timeout(120)

BETTER = get_kernel("popcount").wasm("O2")
LIMIT = 1 << 20  # the specimen limit (jeet.net.Limits.max_specimen)
TIMEOUT = 1.0    # --http-timeout of the node under test


def pad_to(wasm: bytes, size: int) -> bytes:
    """`wasm` grown to exactly `size` bytes by a custom section (same code, another hash)."""
    name = b"pad"
    body = size - len(wasm) - 1 - 4 - 1 - len(name)
    n = 1 + len(name) + body
    leb = bytes([(n & 0x7F) | 0x80, ((n >> 7) & 0x7F) | 0x80, ((n >> 14) & 0x7F) | 0x80, (n >> 21) & 0x7F])
    out = wasm + b"\x00" + leb + bytes([len(name)]) + name + b"\x07" * body
    assert len(out) == size
    return out


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = NodeProcess(tmp_path_factory.mktemp("http") / "a", "--no-evolve", "--http-timeout", str(TIMEOUT)).start()
    yield n
    n.stop(kill=True)


def _addr(node: NodeProcess) -> tuple[str, int]:
    host, port = node.info["http"].rsplit(":", 1)
    return host, int(port)


def _headers(node: NodeProcess, length: int | None, *, token: bool = True, ctype: str = "application/wasm",
             extra: str = "", host: str | None = None, chunked: bool = False) -> bytes:
    lines = [f"POST /specimens HTTP/1.1", f"Host: {host or node.info['http']}", f"Content-Type: {ctype}"]
    if token:
        lines.append(f"Authorization: Bearer {node.token}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    elif length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


def _response(sock: socket.socket, timeout: float = 30.0) -> tuple[int, dict]:
    """Status and JSON body of one response (the node closes or the body is complete)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), None)
    while length is not None and len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, json.loads(body or b"{}")


def _exchange(node: NodeProcess, *parts: bytes, pause: float = 0.0) -> tuple[int, dict]:
    with socket.create_connection(_addr(node), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i, part in enumerate(parts):
            if i and pause:
                time.sleep(pause)
            s.sendall(part)
        return _response(s)


def test_the_token_is_private_to_the_data_folder_and_printed_at_start(node):
    path = node.data / "http.token"
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0
    assert node.info["http_token"] == path.read_text().strip() and len(node.token) >= 32


@pytest.mark.parametrize("case", ["no token", "wrong token", "cross-origin with token", "cross-site fetch",
                                  "web page text/plain", "rebinding Host"])
def test_a_web_page_or_a_stranger_cannot_post(node, case):
    token = case not in ("no token", "web page text/plain")
    extra, ctype, host = "", "application/wasm", None
    if case == "wrong token":
        extra = "Authorization: Bearer " + "0" * 64 + "\r\n"
        token = False
    if case == "cross-origin with token":
        extra = "Origin: http://evil.example\r\n"
    if case == "cross-site fetch":
        extra = "Sec-Fetch-Site: cross-site\r\n"
    if case == "web page text/plain":
        extra, ctype = "Origin: null\r\n", "text/plain"
    if case == "rebinding Host":
        host = f"evil.example:{_addr(node)[1]}"
    code, body = _exchange(node, _headers(node, len(BETTER), token=token, ctype=ctype, extra=extra, host=host)
                           + BETTER)
    assert code == 403, body
    assert not any(t["sha256"] == hashlib.sha256(BETTER).hexdigest() for t in node.status()["top"])


def test_the_token_is_checked_before_the_content_type_and_the_size(node):
    """Without the token a POST gets 403 whatever its Content-Type or size: a stranger learns nothing of what
    the node would accept. With it, the Content-Type comes next (415), then the size (413)."""
    code, body = _exchange(node, _headers(node, len(BETTER), token=False, ctype="text/plain") + BETTER)
    assert code == 403 and "token" in body["error"], body
    for ctype, expected in (("text/plain", 415), ("application/wasm", 413)):
        for token in (False, True):
            with socket.create_connection(_addr(node), timeout=10) as s:
                s.sendall(_headers(node, 64 << 20, token=token, ctype=ctype))  # headers only: no body is needed
                code, body = _response(s, timeout=5)
            assert code == (expected if token else 403), (ctype, token, body)


def test_a_module_must_say_it_is_wasm(node):
    code, body = _exchange(node, _headers(node, len(BETTER), ctype="text/plain") + BETTER)
    assert code == 415 and "application/wasm" in body["error"]


def test_a_module_sent_in_several_segments_is_judged_whole(node):
    code, body = _exchange(node, _headers(node, len(BETTER)) + BETTER[:30], BETTER[30:], pause=0.3)
    assert code == 200 and body["ok"], body
    assert body["sha256"] == hashlib.sha256(BETTER).hexdigest()


def test_a_module_of_exactly_the_limit_is_accepted(node):
    big = pad_to(BETTER, LIMIT)
    code, body = _exchange(node, _headers(node, len(big)) + big)
    assert code == 200 and body["ok"] and body["sha256"] == hashlib.sha256(big).hexdigest(), body
    code, body = _exchange(node, _headers(node, LIMIT + 1) + pad_to(BETTER, LIMIT + 1))
    assert code == 413


def test_a_64_mib_body_is_refused_before_it_is_read(node):
    with socket.create_connection(_addr(node), timeout=10) as s:
        s.sendall(_headers(node, 64 << 20) + b"\0asm")
        code, body = _response(s, timeout=5)
    assert code == 413 and "at most" in body["error"]


def test_a_64_mib_chunked_body_gets_413_and_is_not_read_past_the_limit(node):
    chunk = b"%x\r\n" % (64 << 10) + b"\x01" * (64 << 10) + b"\r\n"
    sent = 0
    with socket.create_connection(_addr(node), timeout=10) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 << 10)
        s.sendall(_headers(node, None, chunked=True))
        s.settimeout(2.0)
        try:
            while sent < 64 << 20:
                s.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass  # the node stopped reading and closed: what it did not read stays in kernel buffers
        try:
            code, _ = _response(s, timeout=5)
        except (ConnectionResetError, OSError, IndexError, ValueError):
            code = None  # the reset may overtake the response; the bound on what was read is what matters
    assert code in (413, None)
    assert sent < 16 << 20, f"the node read {sent / 2**20:.1f} MiB of a body limited to 1 MiB"
    assert node.status()["counters"]["verifications"] >= 0  # still serving


def test_a_body_that_never_finishes_times_out(node):
    with socket.create_connection(_addr(node), timeout=10) as s:
        t0 = time.monotonic()
        s.sendall(_headers(node, 1000) + BETTER[:10])
        code, body = _response(s, timeout=10 * TIMEOUT)
    assert code == 408, body
    assert time.monotonic() - t0 < 5 * TIMEOUT


def test_half_sent_requests_are_dropped_and_do_not_block_status(node):
    socks = []
    try:
        for _ in range(200):
            s = socket.create_connection(_addr(node), timeout=5)
            s.sendall(b"POST /specimens HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")  # and nothing more
            socks.append(s)
        assert node.status()["node_id"] == node.node_id
        time.sleep(TIMEOUT + 1.0)
        closed = 0
        for s in socks:
            s.settimeout(3.0)
            try:
                closed += s.recv(1024) == b""
            except ConnectionResetError:
                closed += 1
            except socket.timeout:
                pass
        assert closed == len(socks)
    finally:
        for s in socks:
            s.close()


def test_a_thousand_half_sent_requests_wait_outside_the_server(node):
    """Half-sent requests are held as bare sockets until their headers come (so a flood of them costs the node
    next to nothing and /status behind them is not kept waiting), then dropped after the header timeout."""
    dropped0 = node.status()["http"]["dropped_before_headers"]
    socks = []
    try:
        for _ in range(1000):
            s = socket.create_connection(_addr(node), timeout=5)
            s.sendall(b"POST /specimens HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
            socks.append(s)
        held = node.status()["http"]
        assert held["waiting_for_headers"] + held["dropped_before_headers"] - dropped0 >= 1000, held
        wait_for(lambda: node.status()["http"]["waiting_for_headers"] == 0, 5 * TIMEOUT + 5, "the heads dropped")
    finally:
        for s in socks:
            s.close()


@pytest.mark.perf
def test_status_answers_within_100_ms_during_a_flood_and_a_peer_joins_after_it(tmp_path):
    """The issue's target: 500 idle peer connections and 1,000 half-sent requests (reopened as the node closes
    them); /status within 100 ms throughout, a peer started during the flood joined within 5 s of its end,
    the node under 300 MB."""
    from jeet.bench.hostile import Flood

    a = NodeProcess(tmp_path / "a", "--no-evolve").start()
    b = None
    try:
        host, port = a.address.rsplit(":", 1)
        opening = b"POST /specimens HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le"
        floods = [Flood((host, int(port)), 500, b"").start(), Flood(_addr(a), 1000, opening).start()]
        proc = psutil.Process(a.proc.pid)
        slow, rss, t0 = [], [], time.monotonic()
        while time.monotonic() - t0 < 6.0:
            t = time.perf_counter()
            a.status()
            if time.perf_counter() - t > 0.1:
                slow.append((round(time.monotonic() - t0, 2), round(time.perf_counter() - t, 3)))
            rss.append(proc.memory_info().rss)
            if b is None and time.monotonic() - t0 > 3.0:
                b = NodeProcess(tmp_path / "b", "--no-evolve", "--peer", a.address).start()
            time.sleep(0.1)
        for f in floods:
            f.stop()
        wait_for(lambda: b.node_id in {p["id"] for p in a.status()["peers"]}, 5.0, "the new peer after the flood")
        assert not slow, f"/status over 100 ms at (s, latency): {slow}"
        assert max(rss) < 300 << 20
    finally:
        for n in (b, a):
            if n is not None:
                n.stop(kill=True)


def test_http_beyond_loopback_needs_a_token_or_an_explicit_flag(tmp_path):
    proc = subprocess.run(JEET + ["node", "--listen", "127.0.0.1:0", "--http", "0.0.0.0:0", "--no-evolve",
                                  "--data", str(tmp_path / "d")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "not a loopback address" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    short = subprocess.run(JEET + ["node", "--http", "127.0.0.1:0", "--http-token", "abc", "--data",
                                   str(tmp_path / "d")], capture_output=True, text=True, timeout=60)
    assert short.returncode == 2 and "--http-token" in short.stderr


def test_the_exposure_rule():
    from jeet.errors import JeetError
    from jeet.node.token import http_exposure, is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1") and is_loopback("[::1]")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1") and not is_loopback("node.example")
    assert http_exposure("127.0.0.1", False, False) is None
    with pytest.raises(JeetError, match="not a loopback"):
        http_exposure("0.0.0.0", False, False)
    assert "warning" in http_exposure("0.0.0.0", True, False)
    assert "warning" in http_exposure("10.1.2.3", False, True)
