"""A pool worker's tie to the process that started it.

Workers of a `ProcessPoolExecutor` wait on a queue whose write end they hold themselves, so a parent
killed without a clean shutdown (SIGKILL, an OOM kill) would leave them waiting for ever, and with a
forkserver the server waits with them. A worker calls `exit_with(parent_pid)` once and goes when the
parent goes.
"""

from __future__ import annotations

import os
import threading
import time

import psutil

CHECK_S = 1.0


def exit_with(pid: int, interval: float = CHECK_S) -> None:
    """End this process (at once, exit status 0) once process `pid` is gone; a reused pid does not fool it."""
    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        os._exit(0)

    def watch() -> None:
        while parent.is_running() and parent.status() != psutil.STATUS_ZOMBIE:
            time.sleep(interval)
        os._exit(0)

    threading.Thread(target=watch, name="jeet-lifeline", daemon=True).start()
