"""raw_splice: the roadmap's byte crossover, kept as a baseline.

split = rand(0..min(len a, len b)) (both ends inclusive); child = a[0..split] & b[split+1..^1], with
Nim's inclusive slices, i.e. a[:split + 1] + b[split + 1:]. The child is usually not a valid
module; the operator ledger measures how often it is.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from .operator import Genome, Operator

__all__ = ["RawSplice", "splice_bytes"]


def splice_bytes(a: bytes, b: bytes, split: int) -> bytes:
    return a[: split + 1] + b[split + 1:]


class RawSplice(Operator):
    name = "raw_splice"
    arity = 2
    structural = False

    def propose(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        a, b = parents[0], parents[1]
        split = rng.randint(0, min(len(a.wasm), len(b.wasm)))
        return Genome(splice_bytes(a.wasm, b.wasm, split), None, a.targets)
