"""A test case: inputs in canonical values, and what the function must do with them."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..sandbox.effects import MemoryEnv


@dataclass(frozen=True, slots=True)
class Case:
    """One call of the function under test.

    `args` and `expect` are canonical values (see `jeet.oracle.values`). `memory` lists
    (offset, bytes) blocks written into the exported memory before the call. With
    `trap` the call must trap; otherwise it must return normally with `expect` (when not
    None) as its results and, for each (offset, bytes) in `expect_memory`, those bytes
    in memory afterwards (how results passed through memory are checked).

    Effects: a case with an `env` starts from memory that depends on the case alone (the
    module's image with every byte outside its data segments poisoned from the `poison`
    seed, or left zero when it is 0; then the blocks), and must then leave memory with the
    `digest` (b"": nothing changed outside the stack frame) and the exported mutable
    globals with the values `globals` that the original left (None: not checked). See
    `jeet.sandbox.effects`. Equality covers inputs and results, not the effects, whose
    digests are keyed per oracle.
    """

    args: tuple[int, ...]
    expect: tuple[int, ...] | None = None
    memory: tuple[tuple[int, bytes], ...] = ()
    trap: bool = False
    expect_memory: tuple[tuple[int, bytes], ...] = ()
    env: MemoryEnv | None = field(default=None, compare=False, repr=False)
    poison: int = 0
    digest: bytes | None = field(default=None, compare=False)
    globals: tuple[int, ...] | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple:
        """Identity of the inputs (args, memory contents and poison), for de-duplication."""
        return (self.args, self.memory, self.poison)
