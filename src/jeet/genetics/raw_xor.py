"""raw_xor: the roadmap's byte mutation, kept as a baseline — flip one byte of the module by 0x1A.

`result[idx] = result[idx] xor 0x1A` at an offset drawn over the whole module. The child is
usually not a valid module; the operator ledger measures how often it is.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from .operator import Genome, Operator

__all__ = ["RawXor", "xor_byte"]


def xor_byte(wasm: bytes, index: int) -> bytes:
    out = bytearray(wasm)
    out[index] ^= 0x1A
    return bytes(out)


class RawXor(Operator):
    name = "raw_xor"
    arity = 1
    structural = False

    def propose(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        parent = parents[0]
        if not parent.wasm:
            return None
        return Genome(xor_byte(parent.wasm, rng.randrange(len(parent.wasm))), None, parent.targets)
