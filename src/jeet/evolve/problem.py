"""What is being evolved: the original module, the function, and the oracle that defines correct.

Everything a user can get wrong about the input is caught here and turned into a `JeetError`
with one clear line: a missing file, bytes that are not WebAssembly, malformed text, an invalid
module, a missing export, a signature jeet cannot drive, an original that never finishes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import wasmtime

from ..address import content_address
from .. import wasm as wasmcodec
from ..errors import JeetError
from ..inputs import read_bounded
from ..oracle import Oracle, OracleError, differential_oracle, fresh_seed, load_tests, tests_oracle
from ..sandbox import Limits, Sandbox

WASM_MAGIC = b"\0asm"


@dataclass(frozen=True)
class Problem:
    name: str
    wasm: bytes
    function: str
    oracle: Oracle
    limits: Limits
    tests: Path | None = None  # how the oracle was built, so a verifier can draw its own held-out cases
    seed: int = 0
    train_size: int = 16
    held_out_factor: int = 100

    @property
    def sha256(self) -> str:
        return content_address(self.wasm)


def read_module(path: Path) -> bytes:
    """Read a `.wasm` or `.wat` file into validated module bytes."""
    path = Path(path)
    try:
        data = read_bounded(path, "module")
    except FileNotFoundError:
        raise JeetError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise JeetError(f"{path} is a directory, not a module") from None
    except OSError as exc:
        raise JeetError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not data.startswith(WASM_MAGIC):
        if path.suffix.lower() in (".wasm",) and not _looks_textual(data):
            raise JeetError(f"{path}: not a WebAssembly module (bad magic number)")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise JeetError(f"{path}: not a WebAssembly module (neither binary nor text)") from None
        try:
            data = wasmtime.wat2wasm(text)
        except Exception as exc:  # wasmtime reports text errors as WasmtimeError
            raise JeetError(f"{path}: malformed WebAssembly text: {_first_line(exc)}") from None
    check_module(data, str(path))
    return data


def check_module(data: bytes, label: str) -> None:
    try:
        wasmcodec.decode(data)
    except wasmcodec.WasmError as exc:
        raise JeetError(f"{label}: malformed module: {exc}") from None
    try:
        wasmtime.Module.validate(wasmtime.Engine(), data)
    except Exception as exc:
        raise JeetError(f"{label}: invalid module: {_first_line(exc)}") from None


def pick_function(data: bytes, function: str | None, label: str) -> str:
    module = wasmcodec.decode(data)
    exported = module.exported_functions()
    if not exported:
        raise JeetError(f"{label}: the module exports no function")
    if function is None:
        if len(exported) > 1:
            names = ", ".join(sorted(exported))
            raise JeetError(f"{label}: the module exports several functions ({names}); choose one with --function")
        return next(iter(exported))
    if function not in exported:
        names = ", ".join(sorted(exported)) or "none"
        raise JeetError(f"{label}: no exported function {function!r} (exported: {names})")
    return function


def load_problem(
    input_path: Path | None,
    function: str | None = None,
    tests_path: Path | None = None,
    *,
    seed: int = 0,
    limits: Limits = Limits(),
    train_size: int = 16,
    held_out_factor: int = 100,
    kernel: str | None = None,
    held_out_seed: int | None = None,
) -> Problem:
    """Resolve the input (a file, or a built-in kernel when `input_path` is None) into a Problem.

    Training cases follow `seed`; held-out cases follow `held_out_seed`, drawn fresh for this run
    (`jeet.oracle.fresh_seed`) unless given, and recorded in the oracle.
    """
    from ..kernels import DEFAULT_KERNEL, get_kernel

    if input_path is None:
        try:
            k = get_kernel(kernel or DEFAULT_KERNEL)
        except ValueError as exc:
            raise JeetError(str(exc)) from None
        data, name = k.wasm("O0"), k.name
        function = function or k.function
        if tests_path is None and k.tests_path() is not None:
            tests_path = k.tests_path()
        label = f"kernel {k.name}"
    else:
        data, name, label = read_module(input_path), Path(input_path).stem, str(input_path)
    function = pick_function(data, function, label)
    if held_out_seed is None:
        held_out_seed = fresh_seed("run")
    with Sandbox(limits) as sandbox:
        compiled = sandbox.compile(data)
        oracle = _build_oracle(sandbox, data, function, tests_path, seed, train_size, held_out_factor, label,
                               held_out_seed)
    del compiled
    return Problem(name=name, wasm=data, function=function, oracle=oracle, limits=limits,
                   tests=Path(tests_path) if tests_path is not None else None, seed=seed, train_size=train_size,
                   held_out_factor=held_out_factor)


def redraw_held_out(problem: Problem, held_out_seed: int) -> Problem:
    """The same problem with held-out cases of its own, drawn from `held_out_seed` (a node verifier's)."""
    with Sandbox(problem.limits) as sandbox:
        oracle = _build_oracle(sandbox, problem.wasm, problem.function, problem.tests, problem.seed,
                               problem.train_size, problem.held_out_factor, problem.name, held_out_seed)
    return replace(problem, oracle=oracle)


def _build_oracle(sandbox, data, function, tests_path, seed, train_size, held_out_factor, label,
                  held_out_seed=None) -> Oracle:
    try:
        if tests_path is not None:
            sig = sandbox.signature(data, function)
            try:
                cases = load_tests(Path(tests_path), sig.params, sig.results)
            except OracleError as exc:  # names the file and line already
                raise JeetError(str(exc)) from None
            return tests_oracle(sandbox, data, function, cases, seed=seed, train_size=train_size,
                                held_out_factor=held_out_factor, held_out_seed=held_out_seed)
        return differential_oracle(sandbox, data, function, seed=seed, train_size=train_size,
                                   held_out_factor=held_out_factor, held_out_seed=held_out_seed)
    except OracleError as exc:
        raise JeetError(f"{label}: {exc}") from None


def _looks_textual(data: bytes) -> bool:
    head = data[:256].lstrip()
    return head.startswith((b"(", b";;"))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
