"""A test case: inputs in canonical values, and what the function must do with them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Case:
    """One call of the function under test.

    `args` and `expect` are canonical values (see `jeet.oracle.values`). `memory` lists
    (offset, bytes) blocks written into the exported memory before the call. With
    `trap` the call must trap; otherwise it must return normally with `expect` (when not
    None) as its results and, for each (offset, bytes) in `expect_memory`, those bytes
    in memory afterwards (how results passed through memory are checked).
    """

    args: tuple[int, ...]
    expect: tuple[int, ...] | None = None
    memory: tuple[tuple[int, bytes], ...] = ()
    trap: bool = False
    expect_memory: tuple[tuple[int, bytes], ...] = ()

    @property
    def key(self) -> tuple:
        """Identity of the inputs (args and memory contents), for de-duplication."""
        return (self.args, self.memory)
