"""`jeet bench --suite latency`: 20 node processes on loopback; how long from a specimen's announcement at
its origin to its adoption at every other node, not counting the verification runs on its way.

Each trial submits a fresh 64 KiB specimen (clang -O2 popcount plus a random custom section, so every
trial has a new hash and the full payload crosses every hop) to one node. Every node reports when it
adopted the specimen, which peer it fetched it from, and how long its own verification took. A node's
latency is its adoption time minus the origin's announcement time minus the verification runs along its
path (its own and those of every node the specimen passed through); all processes share one clock.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from ..kernels import get_kernel

NODES = 20
SPECIMEN_BYTES = 64 * 1024


def padded(wasm: bytes, size: int, rng: random.Random) -> bytes:
    """`wasm` grown to `size` bytes with a custom section of random bytes (same code, new hash)."""
    name = b"jeet.pad"
    body_len = size - len(wasm) - 1 - 3 - 1 - len(name)
    payload = bytes(rng.getrandbits(8) for _ in range(body_len))
    content = bytes([len(name)]) + name + payload
    n = len(content)
    leb = bytes([(n & 0x7F) | 0x80, ((n >> 7) & 0x7F) | 0x80, (n >> 14) & 0x7F])  # 3-byte LEB128
    return wasm + b"\x00" + leb + content


def _get(url: str, timeout: float = 5.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def _post(url: str, data: bytes, token: str | None) -> dict:
    headers = {"Content-Type": "application/wasm", **({"Authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(url, data=data, method="POST", headers=headers)
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def _start(folder: Path, index: int, peer: str | None, heartbeat: float) -> tuple[subprocess.Popen, dict]:
    cmd = [sys.executable, "-m", "jeet", "node", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
           "--data", str(folder / f"n{index}"), "--no-evolve", "--heartbeat", str(heartbeat),
           "--log-level", "warning"]
    if peer:
        cmd += ["--peer", peer]
    log = open(folder / f"n{index}.log", "wb")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"node {index} did not start: {(folder / f'n{index}.log').read_text()[-500:]}")
    return proc, json.loads(line)


def measure(nodes: int = NODES, trials: int = 30, heartbeat: float = 1.0, seed: int = 0,
            console=None) -> dict:
    rng = random.Random(seed)
    base = get_kernel("popcount").wasm("O2")
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="jeet-latency-") as tmp:
        folder = Path(tmp)
        try:
            infos = []
            for i in range(nodes):
                peer = infos[rng.randrange(len(infos))]["address"] if infos else None
                proc, info = _start(folder, i, peer, heartbeat)
                procs.append(proc)
                infos.append(info)
            urls = ["http://" + info["http"] for info in infos]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                sts = [_get(u + "/status") for u in urls]
                if all(s["mesh_size"] >= 3 for s in sts):
                    break
                time.sleep(0.5)
            time.sleep(2 * heartbeat)
            samples, gross, hops_seen, incomplete = [], [], [], 0
            for t in range(trials):
                origin = t % nodes
                wasm = padded(base, SPECIMEN_BYTES, rng)
                verdict = _post(urls[origin] + "/specimens", wasm, infos[origin].get("http_token"))
                if not verdict.get("ok"):
                    raise RuntimeError(f"the origin refused the specimen: {verdict}")
                sha = verdict["sha256"]
                records = _wait_adopted(urls, origin, sha, timeout=30.0)
                if records is None:
                    incomplete += 1
                    continue
                lat, raw, hops = _latencies(records, infos, origin, sha)
                samples += lat
                gross += raw
                hops_seen += hops
                if console is not None:
                    console.print(f"trial {t + 1}/{trials}: p50 {statistics.median(lat) * 1000:.1f} ms, "
                                  f"max {max(lat) * 1000:.1f} ms over {len(lat)} nodes")
                time.sleep(0.2)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
    q = statistics.quantiles(samples, n=100) if len(samples) >= 2 else [float("nan")] * 99
    return {
        "nodes": nodes, "trials": trials, "specimen_bytes": SPECIMEN_BYTES, "heartbeat_s": heartbeat,
        "samples": len(samples), "incomplete_trials": incomplete,
        "p50_ms": round(q[49] * 1000, 2), "p90_ms": round(q[89] * 1000, 2), "p99_ms": round(q[98] * 1000, 2),
        "max_ms": round(max(samples) * 1000, 2) if samples else None,
        "with_verification_p50_ms": round(statistics.median(gross) * 1000, 2) if gross else None,
        "with_verification_p99_ms": round(statistics.quantiles(gross, n=100)[98] * 1000, 2) if len(gross) > 1 else None,
        "median_hops": statistics.median(hops_seen) if hops_seen else None,
        "max_hops": max(hops_seen) if hops_seen else None,
    }


def _wait_adopted(urls: list[str], origin: int, sha: str, timeout: float) -> list[dict] | None:
    """Every node's record of the specimen; polled slowly (nodes timestamp events themselves, so polling
    only adds load), and each node only until it has reported."""
    deadline = time.monotonic() + timeout
    found: dict[int, dict] = {}
    time.sleep(1.5)  # let the specimen spread before asking: the poll's own CPU would slow the nodes down
    while time.monotonic() < deadline:
        for i, u in enumerate(urls):
            if i in found:
                continue
            s = _get(u + "/status")
            recs = s["offers"] if i == origin else s["adoptions"]
            rec = next((r for r in recs if r["sha256"] == sha), None)
            if rec is not None:
                found[i] = dict(rec, node_id=s["node_id"])
        if len(found) == len(urls):
            return [found[i] for i in range(len(urls))]
        time.sleep(0.5)
    return None


def _latencies(records: list[dict], infos: list[dict], origin: int, sha: str) -> tuple[list[float], list[float], list[int]]:
    by_id = {r["node_id"]: r for r in records}
    t0 = records[origin]["offered_wall"]
    origin_id = records[origin]["node_id"]
    net, gross, hops = [], [], []
    for i, r in enumerate(records):
        if i == origin:
            continue
        verify, node, n = 0.0, r, 0
        while node["node_id"] != origin_id and n < len(records):
            verify += node.get("verify_s") or 0.0
            node = by_id[node["source"]]
            n += 1
        net.append(r["adopted_wall"] - t0 - verify)
        gross.append(r["adopted_wall"] - t0)
        hops.append(n)
    return net, gross, hops


def run(opts, console) -> dict:
    trials = min(opts.runs, 200)
    report = measure(trials=trials, seed=opts.seed, console=console)
    report["load_average"] = os.getloadavg()
    opts.out.mkdir(parents=True, exist_ok=True)
    md = [f"# Loopback latency: {report['nodes']} node processes, {report['specimen_bytes'] // 1024} KiB specimens",
          "", f"Command: `jeet bench --suite latency --runs {trials}`", "",
          "| figure | value |", "|---|---|"]
    for k in ("samples", "incomplete_trials", "p50_ms", "p90_ms", "p99_ms", "max_ms", "with_verification_p50_ms",
              "with_verification_p99_ms", "median_hops", "max_hops"):
        md.append(f"| {k} | {report[k]} |")
    md.append("")
    md.append("Latency = adoption time - origin's announcement - verification runs on the path (see jeet.bench.latency).")
    (opts.out / "latency.md").write_text("\n".join(md) + "\n")
    return report
