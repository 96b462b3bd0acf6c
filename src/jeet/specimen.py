"""The specimen: a module worth keeping or sharing, named by its content address, with its figures."""

from __future__ import annotations

from dataclasses import dataclass

from .address import content_address

__all__ = ["Specimen"]


@dataclass(frozen=True, slots=True)
class Specimen:
    """A module worth sharing: its content address, the function it implements, its bytes and figures.

    `env` names the environments an epigenetic variant was expressed for (empty: every environment).
    """

    sha256: str
    function: str
    wasm: bytes
    fitness: float
    fuel: int
    env: tuple[str, ...] = ()

    @classmethod
    def of(cls, function: str, wasm: bytes, fitness: float, fuel: int, env: tuple[str, ...] = ()) -> "Specimen":
        return cls(content_address(wasm), function, bytes(wasm), float(fitness), int(fuel), tuple(env))

    @property
    def size(self) -> int:
        return len(self.wasm)
