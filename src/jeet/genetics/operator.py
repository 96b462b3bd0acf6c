"""The one small interface every variation operator implements, and the genome it works on.

A candidate travels as module bytes. `Genome` pairs those bytes with the decoded module (when it
is known) and the defined functions evolution may touch, and memoises what operators learn about
it (decoded module, body analyses, site lists) because one parent is reused for many offspring.
Facts about one body are handed down to children that keep that body, so a child whose edit
touched one function re-analyses only that function.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from jeet.wasm.analysis import analyze
from jeet.wasm.decode import decode
from jeet.wasm.encode import encode_body
from jeet.errors import WasmError
from jeet.wasm.ir import Body
from jeet.wasm.module import Module

from ..errors import GeneticsError

__all__ = ["Genome", "Operator"]

T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class Genome:
    """A candidate module: its bytes, its IR when decoded, and the defined-function indices to evolve.

    `targets` are the defined (not imported) function indices reachable from the evolved export
    whose bodies the IR models (not opaque). Offspring inherit their parent's targets. Equality and
    hashing go by bytes and targets; pickling carries only those, the IR is decoded again on the
    other side when an operator needs it.
    """

    wasm: bytes
    module: Module | None = None
    targets: tuple[int, ...] = ()
    _memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _body_memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def from_bytes(cls, wasm: bytes, function: str) -> "Genome":
        """Decode `wasm` and pick the targets reachable from the exported function `function`.

        Raises WasmError for a malformed module and GeneticsError when the export is missing.
        """
        module = decode(bytes(wasm))
        exports = module.exported_functions()
        if function not in exports:
            names = ", ".join(sorted(exports)) or "none"
            raise GeneticsError(f"no exported function {function!r}; exported functions: {names}")
        imported = module.num_imported_funcs
        reachable = module.reachable_functions(exports[function]) | {exports[function]}
        targets = tuple(sorted(
            f - imported for f in reachable
            if f >= imported and not module.bodies[f - imported].opaque
        ))
        return cls(bytes(wasm), module, targets)

    def decoded(self) -> Module:
        """The module IR, decoding the bytes on first use. Raises WasmError when they do not decode
        or the targets are not modelled bodies of the result (bytes from a raw operator)."""
        if self.module is not None:
            return self.module
        return self.memo("module", self._decode)

    def _decode(self) -> Module:
        module = decode(self.wasm)
        bodies = module.bodies
        for t in self.targets:
            if not 0 <= t < len(bodies) or bodies[t].opaque:
                raise WasmError(0, f"target {t} is not a modelled function body of this module")
        return module

    def body(self, defined_index: int) -> Body:
        return self.decoded().bodies[defined_index]

    def analysis(self, defined_index: int) -> tuple:
        """`jeet.wasm.analysis.analyze` of one body, computed once per genome (and inherited)."""
        return self.memo_body("analysis", defined_index, lambda: analyze(self.decoded(), defined_index))

    def memo(self, key: Any, compute: Callable[[], T]) -> T:
        """The value cached under `key`, computed on first use; a WasmError is cached and re-raised."""
        return _memoised(self._memo, key, compute)

    def memo_body(self, name: str, defined_index: int, compute: Callable[[], T]) -> T:
        """Like `memo`, for a fact that depends only on one body (and the module's declarations):
        children made by `with_bodies` inherit it when they keep that body."""
        return _memoised(self._body_memo, (name, defined_index), compute)

    def with_bodies(self, changes: dict[int, Body], analyses: dict[int, tuple] | None = None) -> "Genome":
        """A child genome whose bodies at the given defined indices are replaced; the module is re-encoded.

        `analyses` may give the typing of new bodies when the caller derived it from the parent's
        (it must equal what `analyze` would compute); the child then skips that analysis.
        """
        # Bodies carry their encoding, so descendants that keep them never encode them again.
        changes = {i: b if b.raw is not None or b.instrs is None else Body(b.locals, b.instrs, encode_body(b))
                   for i, b in changes.items()}
        module = self.decoded().with_bodies(changes)
        child = Genome(module.encode(), module, self.targets)
        inherited = child._body_memo
        for key, value in self._body_memo.items():
            if key[1] not in changes:
                inherited[key] = value
        if analyses:
            for index, infos in analyses.items():
                inherited[("analysis", index)] = infos
        return child

    def __repr__(self) -> str:
        return f"Genome({len(self.wasm)} bytes, targets={self.targets})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Genome):
            return NotImplemented
        return self.wasm == other.wasm and self.targets == other.targets

    def __hash__(self) -> int:
        return hash((self.wasm, self.targets))

    def __reduce__(self):
        return (Genome, (self.wasm, None, self.targets))


@dataclass(frozen=True, slots=True)
class _Failed:
    error: WasmError


def _memoised(cache: dict, key: Any, compute: Callable[[], T]) -> T:
    try:
        hit = cache[key]
    except KeyError:
        try:
            hit = compute()
        except WasmError as exc:
            hit = _Failed(exc)
        cache[key] = hit
    if isinstance(hit, _Failed):
        raise hit.error
    return hit


class Operator(ABC):
    """A stateless variation operator: `arity` parents in, one child (or None) out.

    `apply` never raises for a well-formed call: an operator that finds nothing to change, a child
    identical to a parent, or a parent whose bytes do not decode or type-check, answers None
    ("not applicable this time").
    Structural operators return modules that validate by construction; raw ones make no promise.
    """

    name: ClassVar[str]
    arity: ClassVar[int] = 1
    structural: ClassVar[bool] = True

    def apply(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        if len(parents) < self.arity:
            raise GeneticsError(f"{self.name} needs {self.arity} parent(s), got {len(parents)}")
        try:
            child = self.propose(rng, parents)
        except WasmError:
            return None
        # A copy of a parent is no offspring: it would only cost an evaluation-cache lookup.
        if child is None or any(child.wasm == p.wasm for p in parents):
            return None
        return child

    @abstractmethod
    def propose(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        """Make one child; may raise WasmError (turned into None by `apply`)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))
