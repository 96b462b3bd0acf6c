"""A counterexample: the inputs on which two functions differ, and what each did on them.

The inputs are what a tests file can state (arguments and initial memory bytes) plus the
initial values of mutable globals. When `globals_at_init` is True those are the globals'
declared initial values, so `to_case()` / `tests_line()` reproduce the difference on a fresh
instance, as `jeet evolve --tests` runs it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..oracle.cases import Case
from ..oracle.tests_file import case_to_json
from ..oracle.tests_file import json_value


@dataclass(frozen=True)
class Side:
    """One function's observed behaviour on the counterexample (replayed in jeet's sandbox)."""

    trapped: bool
    results: tuple[int, ...] = ()
    globals: tuple[tuple[int, int], ...] = ()        # (global index, final value)
    memory: tuple[tuple[int, bytes], ...] = ()       # (offset, bytes) read back after the call
    message: str = ""

    def to_json(self, result_types: tuple[str, ...]) -> dict:
        if self.trapped:
            return {"trap": True, "message": self.message}
        return {"results": [json_value(t, v) for t, v in zip(result_types, self.results)],
                "globals": [[i, v] for i, v in self.globals],
                "memory": [[off, data.hex()] for off, data in self.memory]}


@dataclass(frozen=True)
class Counterexample:
    """Inputs on which the original and the variant behave differently, with both behaviours."""

    params: tuple[str, ...]
    result_types: tuple[str, ...]
    args: tuple[int, ...]
    memory: tuple[tuple[int, bytes], ...]            # initial bytes the calls depend on
    globals: tuple[tuple[int, int], ...]             # initial values of mutable/imported globals
    globals_at_init: bool
    watch: tuple[tuple[int, int], ...]               # (offset, length) compared after the call
    original: Side
    variant: Side

    def to_case(self) -> Case:
        """The original's behaviour on these inputs as a test case (the variant fails it)."""
        o = self.original
        if o.trapped:
            return Case(self.args, None, self.memory, True, ())
        return Case(self.args, o.results, self.memory, False, o.memory)

    def tests_line(self) -> str:
        """One JSON Lines tests-file line, ready for `--tests`."""
        return json.dumps(case_to_json(self.to_case(), self.params, self.result_types), separators=(", ", ": "))

    def to_json(self) -> dict:
        return {
            "args": [json_value(t, v) for t, v in zip(self.params, self.args)],
            "memory": [[off, data.hex()] for off, data in self.memory],
            "globals": [[i, v] for i, v in self.globals],
            "globals_at_init": self.globals_at_init,
            "original": self.original.to_json(self.result_types),
            "variant": self.variant.to_json(self.result_types),
            "tests_line": self.tests_line(),
        }


def blocks(byte_map: dict[int, int]) -> tuple[tuple[int, bytes], ...]:
    """Contiguous (offset, bytes) runs of an address -> byte map."""
    out: list[tuple[int, bytes]] = []
    run_start, run = None, bytearray()
    for addr in sorted(byte_map):
        if run_start is not None and addr == run_start + len(run):
            run.append(byte_map[addr])
            continue
        if run_start is not None:
            out.append((run_start, bytes(run)))
        run_start, run = addr, bytearray([byte_map[addr]])
    if run_start is not None:
        out.append((run_start, bytes(run)))
    return tuple(out)


def ranges(addresses: set[int]) -> tuple[tuple[int, int], ...]:
    """Contiguous (offset, length) runs of a set of addresses."""
    return tuple((off, len(data)) for off, data in blocks({a: 0 for a in addresses}))
