"""Run `jeet node` processes on 127.0.0.1 for tests, with bounded waits everywhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable

JEET = [sys.executable, "-m", "jeet"]


class NodeProcess:
    def __init__(self, data: Path, *args: str, log: Path | None = None) -> None:
        self.data = data
        self.args = list(args)
        self.log = log or data.with_suffix(".log")
        self.proc: subprocess.Popen | None = None
        self.info: dict = {}

    def start(self, timeout: float = 30.0) -> "NodeProcess":
        cmd = JEET + ["node", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data", str(self.data),
                      "--heartbeat", "0.2", *self.args]
        self._err = open(self.log, "ab")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._err, text=True)
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline and not line:
            line = self.proc.stdout.readline()
            if self.proc.poll() is not None and not line:
                break
        if not line:
            self.stop(kill=True)
            raise AssertionError(f"node did not start: {self.log.read_text()[-2000:]}")
        self.info = json.loads(line)
        return self

    @property
    def address(self) -> str:
        return self.info["address"]

    @property
    def http(self) -> str:
        return "http://" + self.info["http"]

    @property
    def node_id(self) -> str:
        return self.info["node_id"]

    def status(self) -> dict:
        with urllib.request.urlopen(self.http + "/status", timeout=5) as resp:
            return json.loads(resp.read())

    @property
    def token(self) -> str | None:
        """The node's HTTP token, as an operator's tool on the same machine reads it: from the data folder."""
        try:
            return (self.data / "http.token").read_text().strip()
        except OSError:
            return None

    def post(self, wasm: bytes) -> tuple[int, dict]:
        headers = {"Content-Type": "application/wasm"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.http + "/specimens", data=wasm, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def stop(self, kill: bool = False, timeout: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._err.close()
        code = self.proc.returncode
        self.proc = None
        return code


def wait_for(predicate: Callable[[], object], timeout: float, what: str, step: float = 0.2):
    """Poll until `predicate()` is truthy (and return it), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # a node may be starting or restarting
            last_exc = exc
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last_exc})")


def holds(node: NodeProcess, sha: str) -> bool:
    return any(t["sha256"] == sha for t in node.status()["top"])
