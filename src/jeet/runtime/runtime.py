"""The embedded runtime: load a wasm function, call it, and let it get faster while you do.

    with jeet.Runtime("data") as rt:
        f = rt.load(wasm_bytes, "popcount")
        f(0xFF)            # served by the original while cold
        ...                # once hot, evolution runs in a background process
        f.stats()          # tier, calls, champion vs baseline fuel, shadow checks, ...

A call never waits for background work: it reads one immutable record (the champion's
per-thread lane), makes one direct call into wasmtime and bumps one counter. Champions are
swapped by replacing that record, only after the runtime re-checked them on every held-out case
in its own sandbox; serving itself runs on a Cranelift engine without fuel, because only
verified code (or the user's own original) is ever served, but with an epoch deadline per call
(`call_timeout_s`) for code that can loop, so no call runs for ever and Ctrl-C stops one
promptly (see `clock.py`). Only functions with no observable state (a static check, or
`pure=True`) are evolved; each thread calls its own instance (see `function.py`). `close()` (or leaving
the `with` block) stops background evolution and persists champions and usage to the data
folder; a later Runtime on the same folder starts from the stored, re-verified champion.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import wasmtime

from ..errors import JeetError
from ..inputs import require_regular
from ..oracle import Case, OracleError, load_tests, parse_case
from ..store import default_data_dir
from .config import RuntimeConfig
from ..errors import JeetRuntimeError
from .function import Function
from .function_record import FunctionRecord
from .supervisor import Supervisor
from .variant import Serving, Variant

WASM_MAGIC = b"\0asm"


class Runtime:
    """Loads functions and evolves the hot ones in the background; see the module docstring.

    `data_dir` is the specimen store's folder (default `$JEET_DATA` or `~/.jeet`); `config`
    (a `RuntimeConfig`) and keyword overrides such as `hot=`, `shadow=`, `budget_s=` tune it.
    """

    def __init__(self, data_dir: str | os.PathLike | None = None, config: RuntimeConfig | None = None,
                 **overrides: Any) -> None:
        base = config if config is not None else RuntimeConfig()
        if not isinstance(base, RuntimeConfig):
            raise JeetRuntimeError(f"config must be a RuntimeConfig, got {type(base).__name__}")
        self.config = base.with_overrides(**overrides) if overrides else base
        self.data_dir = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
        self._serving = Serving.open(self.config.call_timeout_s)
        self._serving.clock.catch_sigint()
        self._functions: dict[tuple[str, str], Function] = {}
        self._lock = threading.Lock()
        self._closed = False
        try:
            self._supervisor = Supervisor(self.data_dir, self.config, self._serving)
        except BaseException:
            self._serving.clock.release_sigint()
            raise

    # --- loading --------------------------------------------------------------------------

    def load(self, wasm: bytes | str | os.PathLike, function: str, tests: Any = None, *,
             expression: Any = None, pure: bool = False) -> Function:
        """The exported `function` of `wasm`, ready to call.

        `wasm` is module bytes (binary or WebAssembly text), WAT source as a str, or a path to a
        .wasm/.wat file. `tests` (optional) defines correctness: a JSON Lines tests file (path)
        or cases (`jeet.oracle.Case` or dicts like {"args": [...], "expect": [...]}); the
        original must pass them. Without tests the original is the reference on generated
        inputs. Loading the same module and function again returns the same Function (other
        tests than the first load's are an error).
        `expression`: see `Function.express`. `pure`: you declare that the function keeps no state
        between calls, so it may be evolved even where the static check cannot show it.
        The module is instantiated here, once: a start function that traps or runs past the
        per-call deadline fails the load.
        """
        self._check_open()
        if not isinstance(function, str) or not function:
            raise JeetRuntimeError("function must be the name of an exported function")
        data, label = _module_bytes(wasm)
        original = Variant(self._serving, data, function, label=label)
        try:
            original.lane()  # runs the start function, under the deadline
        except wasmtime.Trap as exc:
            raise JeetRuntimeError(f"{label}: the start function trapped: {str(exc).strip().splitlines()[0]}") from None
        key = (original.sha256, function)
        cases = _cases(tests, original.params, original.results)
        with self._lock:
            fn = self._functions.get(key)
        if fn is not None and cases is not None and cases != fn.record.tests:
            raise JeetRuntimeError(f"{function} of this module is already loaded with other tests")
        if fn is None:
            record = FunctionRecord(tests=cases, pure=bool(pure))
            fn = Function(original, record, self._supervisor.channel, hot=self.config.hot,
                          shadow_every=self.config.shadow_every)
            self._supervisor.call(lambda sup: sup.register(fn))
            with self._lock:
                fn = self._functions.setdefault(key, fn)
        if expression is not None:
            fn.express(expression)
        return fn

    @property
    def functions(self) -> list[Function]:
        with self._lock:
            return list(self._functions.values())

    # --- background work --------------------------------------------------------------------

    def busy(self) -> bool:
        """True while an evolution round runs or waits for a slot."""
        return not self._closed and self._supervisor.call(lambda sup: sup.busy)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no evolution runs or waits (or `timeout` passes); True when idle."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.busy():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def flush(self) -> None:
        """Persist every function's champion record and usage counts now."""
        self._check_open()
        self._supervisor.call(lambda sup: sup.flush())

    def close(self) -> None:
        """Stop background evolution (the generation in flight finishes; a stuck process is killed),
        adopt what it finished, persist champions and usage, close the store. Idempotent. Loaded
        functions keep serving their current champion afterwards; nothing evolves any more."""
        if self._closed:
            return
        self._closed = True
        self._serving.clock.release_sigint()
        self._supervisor.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise JeetRuntimeError("the runtime is closed")

    def __repr__(self) -> str:
        return f"Runtime({str(self.data_dir)!r}, functions={len(self._functions)})"


def _module_bytes(wasm: Any) -> tuple[bytes, str]:
    """Module bytes from bytes (binary or text), WAT source, or a file path."""
    if isinstance(wasm, os.PathLike):
        from ..evolve.problem import read_module

        try:
            return read_module(Path(wasm)), str(wasm)
        except JeetError as exc:  # one line already
            raise JeetRuntimeError(str(exc)) from None
    if isinstance(wasm, str):
        text, label = wasm, "module text"
    elif isinstance(wasm, (bytes, bytearray, memoryview)):
        data = bytes(wasm)
        if data.startswith(WASM_MAGIC):
            return data, "module"
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise JeetRuntimeError("module: not WebAssembly (neither a binary module nor text)") from None
        label = "module text"
    else:
        raise JeetRuntimeError(f"wasm must be module bytes, WAT text or a path, not {type(wasm).__name__}")
    try:
        return bytes(wasmtime.wat2wasm(text)), label
    except (wasmtime.WasmtimeError, ValueError) as exc:
        lines = str(exc).strip().splitlines()
        raise JeetRuntimeError(f"{label}: malformed WebAssembly text: {lines[0] if lines else exc}") from None


def _cases(tests: Any, params: tuple[str, ...], results: tuple[str, ...]) -> tuple[Case, ...] | None:
    """The user's test cases, parsed against the signature; None without tests."""
    if tests is None:
        return None
    try:
        if isinstance(tests, (str, os.PathLike)):
            require_regular(tests, "tests")  # read whole by the oracle: a regular file under the input cap
            cases = list(load_tests(tests, params, results))
        elif isinstance(tests, Iterable):
            cases = [t if isinstance(t, Case) else parse_case(t, params, results) for t in tests]
        else:
            raise JeetRuntimeError(f"tests must be a tests file path or a list of cases, not {type(tests).__name__}")
    except (OracleError, JeetError) as exc:
        raise JeetRuntimeError(str(exc)) from None
    except RecursionError:
        raise JeetRuntimeError("tests: a case is nested too deeply to read") from None
    if not cases:
        raise JeetRuntimeError("tests: no test cases given")
    if any(c.memory or c.expect_memory for c in cases):
        raise JeetRuntimeError("tests: cases with memory blocks are not supported (a call passes arguments only)")
    return tuple(cases)
