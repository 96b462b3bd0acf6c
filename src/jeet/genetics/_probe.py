"""A pure function of integers, run as a black box: what the probing operators (bit_permute, closed_form) ask.

`with pure_function(genome, index) as call:` gives a Python callable that runs defined function `index`
on unsigned integer arguments in a sandbox of its own (fuel-limited; a trap or an exhausted budget gives
None), or None when the function could do more than compute: it must take integers and return one, and
its body hold only control, locals, constants, numeric instructions and select (no memory, globals, tables
or calls). The module is the parent's plus an export of its own for the function. Each thread probes in
a sandbox of its own, made on first use and kept (an engine costs milliseconds, a probe less); the
compiled module is dropped when the block ends (the sandbox caches none).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from jeet.sandbox import CompiledModule, Limits, Outcome, Sandbox
from jeet.wasm.module import FUNC, Export
from jeet.wasm.types import I32, I64

from ._ops import LOCAL_GET, LOCAL_SET, LOCAL_TEE
from .operator import Genome
from .sites import facts

__all__ = ["PROBE_FUEL", "is_pure", "pure_function"]

PROBE_FUEL = 2_000_000  # per call: a function that runs longer is not worth probing
_EXPORT = "__jeet_probe"
# control, locals, constants, numeric instructions, drop and select
_PURE = frozenset((*range(0x00, 0x10), 0x1A, 0x1B, 0x1C, LOCAL_GET, LOCAL_SET, LOCAL_TEE, *range(0x41, 0xC5)))
_WIDTH = {I32: 32, I64: 64}
_local = threading.local()


def _sandbox() -> Sandbox:
    """This thread's probing sandbox."""
    box = getattr(_local, "box", None)
    if box is None or box.closed:
        box = _local.box = Sandbox(cache_size=0, pool_slots=0)
    return box


def is_pure(genome: Genome, index: int) -> bool:
    """Whether defined function `index` takes and returns integers only and its body only computes."""
    f = facts(genome, index)
    return (len(f.results) == 1 and all(t in _WIDTH for t in (*f.params, *f.results))
            and all(ins.op in _PURE for ins in f.instrs))


@contextmanager
def pure_function(genome: Genome, index: int) -> Iterator[Callable[..., int | None] | None]:
    """Defined function `index` as a callable on unsigned ints (its result masked to its width), or None
    when it is not pure (`is_pure`) or wasmtime refuses the module."""
    if not is_pure(genome, index):
        yield None
        return
    module = genome.decoded()
    exports = tuple(e for e in module.exports if e.name != _EXPORT) + (
        Export(_EXPORT, FUNC, module.num_imported_funcs + index),)
    limits = Limits(fuel=PROBE_FUEL)
    mask = (1 << _WIDTH[facts(genome, index).results[0]]) - 1
    box = _sandbox()
    compiled = box.compile(module.replace(exports=exports, start=None).encode())
    if not isinstance(compiled, CompiledModule):
        yield None
        return

    def call(*args: int) -> int | None:
        r = box.call(compiled, _EXPORT, args, limits=limits)
        return (r.results[0] & mask) if r.outcome is Outcome.OK and len(r.results) == 1 else None

    yield call
