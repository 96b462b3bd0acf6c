"""What running one case produced."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Outcome(enum.Enum):
    """How a case ended.

    OK: returned normally. TRAP: a wasm trap (unreachable, division by zero, out-of-bounds
    access, stack overflow, a call to an unprovided import, ...). OUT_OF_FUEL: the cycle
    budget ran out. OUT_OF_MEMORY: the module needs more memory, table elements or
    instances than the store limits allow. TIMEOUT: the wall-clock deadline passed.
    INVALID: the module does not validate, or cannot be called as asked (no such export,
    a signature with reference types, wrong number of arguments).
    """

    OK = "ok"
    TRAP = "trap"
    OUT_OF_FUEL = "out_of_fuel"
    OUT_OF_MEMORY = "out_of_memory"
    TIMEOUT = "timeout"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """One case's outcome with its measurements.

    `results` are canonical values (integers as unsigned ints modulo 2**width, floats as
    their bit patterns; see `jeet.oracle.values`). `fuel` is the fuel the exported call
    consumed (a start function's fuel is not counted; after a trap it may under-count
    because compiled code flushes its fuel counter lazily). `peak_pages` is the size of the
    exported (else imported) memory after the call, 0 when neither exists. `memory` holds
    the regions the case asked to read back after a successful call, as (offset, bytes).
    For a case with a `MemoryEnv` (see `jeet.sandbox.effects`), `digest` says what the call did to
    memory (b"" when it changed nothing outside its stack frame, else a keyed digest; None when not
    measured) and `globals` holds the exported mutable globals' canonical values after the call.
    """

    outcome: Outcome
    results: tuple = ()
    fuel: int = 0
    peak_pages: int = 0
    wall_s: float = 0.0
    message: str = ""
    memory: tuple[tuple[int, bytes], ...] = ()
    digest: bytes | None = None
    globals: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK
