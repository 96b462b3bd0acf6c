"""A pair as one value for the network: both modules, the entry point and the pair's figures.

`PairBundle.to_bytes` is a msgpack map; `from_bytes` accepts only what `to_bytes` can produce
and reports anything else — bytes from a hostile peer included — as one `SymbiosisError` line,
never another exception. A decoded bundle is known to be well formed (sizes, types, ranges),
its two modules decode and link, and its caller exports the function; it is not known to be
correct or as fast as it claims: a receiver re-verifies it in its own `LinkedSandbox` against
its own oracle before adopting it, as it does any specimen.

`specimen()` wraps the bundle in a `jeet.net.messages.Specimen` whose bytes are the bundle and
whose env carries `BUNDLE_TAG`, so the gossip layer can announce and carry a pair as one specimen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import msgpack

from ..specimen import Specimen
from ..errors import SymbiosisError
from .interface import Interface, check_link
from .pair import Pair

BUNDLE_VERSION = 1
BUNDLE_KIND = "jeet.pair"
BUNDLE_TAG = "jeet-pair/1"
MAX_MODULE_BYTES = 8 << 20
MAX_BUNDLE_BYTES = 2 * MAX_MODULE_BYTES + 4096
MAX_FUNCTION_NAME = 256
_FIELDS = ("v", "kind", "caller", "callee", "function", "fitness", "fuel", "symbiosis")
_U63 = (1 << 63) - 1


@dataclass(frozen=True, slots=True)
class PairBundle:
    """A caller and a callee that work together, with the caller's entry point `function`, the pair's
    fitness (in [0, 1], 0.5 = its original pair), its fuel on the training cases and its symbiosis
    score (None when it was never observed with other partners)."""

    caller: bytes
    callee: bytes
    function: str
    fitness: float
    fuel: int
    symbiosis: float | None = None

    def __post_init__(self) -> None:
        for role in ("caller", "callee"):
            value = getattr(self, role)
            if isinstance(value, (bytearray, memoryview)):
                object.__setattr__(self, role, bytes(value))
        _check_fields(self.caller, self.callee, self.function, self.fitness, self.fuel, self.symbiosis)

    @property
    def pair(self) -> Pair:
        """The two modules, ready for `LinkedSandbox` or `Coevolution.immigrate`."""
        return Pair(self.caller, self.callee)

    @property
    def caller_sha256(self) -> str:
        return self.pair.caller_sha256

    @property
    def callee_sha256(self) -> str:
        return self.pair.callee_sha256

    def to_bytes(self) -> bytes:
        return msgpack.packb({
            "v": BUNDLE_VERSION, "kind": BUNDLE_KIND, "caller": self.caller, "callee": self.callee,
            "function": self.function, "fitness": float(self.fitness), "fuel": int(self.fuel),
            "symbiosis": None if self.symbiosis is None else float(self.symbiosis),
        }, use_bin_type=True)

    @classmethod
    def from_bytes(cls, data: Any) -> "PairBundle":
        """Decode and validate a bundle; SymbiosisError (one line) for anything malformed or unlinkable."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise SymbiosisError(f"pair bundle: expected bytes, got {type(data).__name__}")
        data = bytes(data)
        if len(data) > MAX_BUNDLE_BYTES:
            raise SymbiosisError(f"pair bundle: {len(data)} bytes, more than the {MAX_BUNDLE_BYTES} allowed")
        try:
            doc = msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=False,
                                  max_bin_len=MAX_MODULE_BYTES, max_str_len=4096, max_array_len=16,
                                  max_map_len=16, max_ext_len=0)
        except Exception as exc:  # msgpack raises several types for truncated, extra or invalid data
            why = " ".join(str(exc).split())[:80] or type(exc).__name__
            raise SymbiosisError(f"pair bundle: not a msgpack value ({why})") from None
        if not isinstance(doc, dict):
            raise SymbiosisError(f"pair bundle: expected a map, got {type(doc).__name__}")
        keys = set(doc)
        if keys != set(_FIELDS):
            missing = sorted(set(_FIELDS) - keys)
            extra = sorted(map(repr, keys - set(_FIELDS)))
            raise SymbiosisError("pair bundle: " + (f"missing field {missing[0]!r}" if missing
                                                    else f"unknown field {extra[0]}"))
        if doc["v"] != BUNDLE_VERSION or type(doc["v"]) is not int:
            raise SymbiosisError(f"pair bundle: unsupported version {_short(doc['v'])}")
        if doc["kind"] != BUNDLE_KIND:
            raise SymbiosisError(f"pair bundle: kind {_short(doc['kind'])} is not {BUNDLE_KIND!r}")
        bundle = cls(doc["caller"], doc["callee"], doc["function"], doc["fitness"], doc["fuel"], doc["symbiosis"])
        bundle.check_link()
        return bundle

    def check_link(self) -> None:
        """SymbiosisError unless both modules decode, the caller links to the callee and exports `function`."""
        try:
            caller = Interface.of(self.caller, "caller")
            callee = Interface.of(self.callee, "callee")
            check_link(caller, callee)
        except SymbiosisError as exc:
            raise SymbiosisError(f"pair bundle: {exc}") from None
        except Exception as exc:  # the codec's contract is WasmError; a hostile module must not get past this
            raise SymbiosisError(f"pair bundle: unreadable module ({type(exc).__name__})") from None
        if self.function not in caller.functions:
            raise SymbiosisError(f"pair bundle: the caller exports no function {self.function!r}")

    def specimen(self) -> Specimen:
        """The bundle as one gossip specimen (its bytes are `to_bytes()`, its env says it is a pair)."""
        return Specimen.of(self.function, self.to_bytes(), self.fitness, self.fuel, (BUNDLE_TAG,))

    @classmethod
    def from_specimen(cls, specimen: Specimen) -> "PairBundle":
        """The bundle a gossip specimen carries; SymbiosisError if it carries none (or a malformed one)."""
        if BUNDLE_TAG not in specimen.env:
            raise SymbiosisError(f"specimen {specimen.sha256[:16]} is not a pair bundle (no {BUNDLE_TAG} tag)")
        bundle = cls.from_bytes(specimen.wasm)
        if bundle.function != specimen.function:
            raise SymbiosisError("pair bundle: the specimen's function differs from the bundle's")
        return bundle


def _check_fields(caller: Any, callee: Any, function: Any, fitness: Any, fuel: Any, symbiosis: Any) -> None:
    for role, wasm in (("caller", caller), ("callee", callee)):
        if type(wasm) is not bytes:
            raise SymbiosisError(f"pair bundle: {role} must be bytes, got {type(wasm).__name__}")
        if not wasm.startswith(b"\0asm"):
            raise SymbiosisError(f"pair bundle: {role} is not a WebAssembly binary (missing \\0asm magic)")
        if len(wasm) > MAX_MODULE_BYTES:
            raise SymbiosisError(f"pair bundle: {role} has {len(wasm)} bytes, more than {MAX_MODULE_BYTES}")
    if type(function) is not str or not function or len(function) > MAX_FUNCTION_NAME or "\0" in function:
        raise SymbiosisError(f"pair bundle: function must be a name of 1 to {MAX_FUNCTION_NAME} characters")
    if type(fitness) not in (float, int) or not (math.isfinite(fitness) and 0.0 <= fitness <= 1.0):
        raise SymbiosisError(f"pair bundle: fitness must be a number in [0, 1], got {_short(fitness)}")
    if type(fuel) is not int or not 0 <= fuel <= _U63:
        raise SymbiosisError(f"pair bundle: fuel must be an integer in [0, 2^63), got {_short(fuel)}")
    if symbiosis is not None and (type(symbiosis) not in (float, int) or not math.isfinite(symbiosis)
                                  or not -1.0 <= symbiosis <= 1.0):
        raise SymbiosisError(f"pair bundle: symbiosis must be null or a number in [-1, 1], got {_short(symbiosis)}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
