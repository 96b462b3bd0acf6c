"""Resource limits applied to every case a candidate runs."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import SandboxError

MAX_CYCLES = 1_000_000
"""Default fuel per case: wasmtime charges about one unit of fuel per executed instruction."""

WASM_PAGE = 65536


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-case budget: fuel (cycles), store limits, wall-clock deadline and native stack.

    `max_wasm_stack` is an engine setting, so it is fixed when a `Sandbox` is built; every
    other field applies per store and may differ from run to run.
    """

    fuel: int = MAX_CYCLES
    memory_bytes: int = 1 << 20
    table_elements: int = 10_000
    instances: int = 1
    tables: int = 1
    memories: int = 1
    deadline_s: float = 1.0
    max_wasm_stack: int = 512 * 1024

    def __post_init__(self) -> None:
        for name in ("fuel", "memory_bytes", "table_elements", "instances", "tables", "memories"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise SandboxError(f"Limits.{name} must be a non-negative int, got {value!r}")
        if self.fuel == 0:
            raise SandboxError("Limits.fuel must be positive")
        if self.instances < 1:
            raise SandboxError("Limits.instances must be at least 1")
        if not self.deadline_s > 0:
            raise SandboxError(f"Limits.deadline_s must be positive, got {self.deadline_s!r}")
        if not isinstance(self.max_wasm_stack, int) or self.max_wasm_stack < 16 * 1024:
            raise SandboxError(f"Limits.max_wasm_stack must be an int >= 16 KiB, got {self.max_wasm_stack!r}")

    @property
    def memory_pages(self) -> int:
        """The memory cap in 64 KiB wasm pages."""
        return self.memory_bytes // WASM_PAGE
