"""A node whose workload is a symbiotic pair: specimens are `PairBundle`s (caller + callee), shared and
verified together, since neither is worth anything without its partner.

The check is the single-module one applied to the linked pair: the bundle must decode and link, then
pass the training cases (fitness against the original pair) and every held-out case, in the node's own
`LinkedSandbox` against its own oracle.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace
from pathlib import Path

from ..errors import JeetError
from ..sandbox import Limits
from ..symbiosis import BUNDLE_TAG, LinkedSandbox, PairBundle, SymbiosisError, load_pair_problem
from ..symbiosis.evaluation import callee_genome, caller_genome, evaluate_pair
from ..symbiosis.problem import PairProblem
from .workload import Check, foreign_import, gate, import_keys


def pair_function_id(problem: PairProblem) -> str:
    digest = hashlib.sha256(problem.caller + problem.callee).hexdigest()[:16]
    return f"pair:{problem.function}@{digest}"


class PairWorkload:
    """Same face as `Workload` (function_id, check, close, tags), for pair bundles."""

    tags: tuple[str, ...] = (BUNDLE_TAG,)

    def __init__(self, problem: PairProblem) -> None:
        self.problem = problem
        self.function_id = pair_function_id(problem)
        self._train = replace(problem.oracle, held_out=())
        self._sandbox: LinkedSandbox | None = None
        self.baseline = None
        self.provided = (import_keys(problem.caller), import_keys(problem.callee))

    @classmethod
    def load(cls, caller: Path | None, callee: Path | None, function: str | None, tests: Path | None,
             seed: int = 0) -> "PairWorkload":
        try:
            return cls(load_pair_problem(caller, callee, function, tests, seed=seed, limits=Limits()))
        except SymbiosisError as exc:
            raise JeetError(str(exc)) from None

    @property
    def original(self) -> bytes:
        """The original pair as a bundle (what every node starts from)."""
        p = self.problem
        return PairBundle(p.caller, p.callee, p.function, 0.5, 0).to_bytes()

    def _genomes(self, bundle: PairBundle):
        return (caller_genome(bundle.caller, self.problem.function),
                callee_genome(bundle.callee, self.problem.plan.functions))

    def _ready(self) -> LinkedSandbox:
        if self._sandbox is None:
            self._sandbox = LinkedSandbox(self.problem.limits)
            p = self.problem
            original = PairBundle(p.caller, p.callee, p.function, 0.5, 0)
            ev = evaluate_pair(self._sandbox, original.pair, p.function, self._train, None, self._genomes(original))
            self.baseline = ev.measurement()
        return self._sandbox

    def check(self, data: bytes) -> Check:
        t0 = time.perf_counter()
        try:
            bundle = PairBundle.from_bytes(data)
            if bundle.function != self.problem.function:
                raise SymbiosisError(f"bundle is for {bundle.function!r}, not {self.problem.function!r}")
            genomes = self._genomes(bundle)
        except Exception as exc:  # hostile bytes: whatever the decoders raise is a failed check
            return Check(False, 0.0, 0, time.perf_counter() - t0, f"not a usable pair bundle: {exc}")
        for part, provided, label in zip((bundle.caller, bundle.callee), self.provided, ("caller", "callee")):
            refusal = foreign_import(part, provided, label)
            if refusal is not None:
                return Check(False, 0.0, 0, time.perf_counter() - t0, refusal)
        sandbox = self._ready()
        fn = self.problem.function
        ev = evaluate_pair(sandbox, bundle.pair, fn, self._train, self.baseline, genomes)
        return gate(ev, sandbox, bundle.pair, fn, self.problem.oracle, t0)

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None
