"""The variant pool: every candidate passes the gate (the held-out cases of all environments) or stays out.

Correctness is a hard gate: a variant joins only after it passes every gate case — the function's own
held-out set plus each environment's held-out cases — in this process's sandbox, whatever its source
(a seed, an evolution run, a peer's announcement). Members are then measured per environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..address import content_address
from ..evolve.worker import evaluate_candidate
from ..fitness import Measurement
from ..oracle import Case, Oracle
from ..sandbox import Sandbox
from .environment import Environment
from ..errors import EpigeneticsError
from .table import FitnessTable


@dataclass(frozen=True, slots=True)
class Variant:
    """A gated variant: its bytes, where it came from, and the environment it was made or announced for."""

    sha256: str
    wasm: bytes
    origin: str
    environment: str | None = None  # Environment.key

    @property
    def short(self) -> str:
        return self.sha256[:12]


@dataclass(frozen=True, slots=True)
class Rejection:
    origin: str
    sha256: str
    reason: str


class VariantPool:
    """Gated variants of one function, in the order they joined."""

    def __init__(self, sandbox: Sandbox, function: str, params: Sequence[str], results: Sequence[str],
                 gate: Sequence[Case]) -> None:
        if not gate:
            raise EpigeneticsError("the gate has no cases")
        self.sandbox = sandbox
        self.function = function
        self.oracle = Oracle(tuple(params), tuple(results), (), tuple(gate), "epigenetics-gate")
        self.variants: dict[str, Variant] = {}
        self.rejected: list[Rejection] = []

    @property
    def gate_cases(self) -> int:
        return len(self.oracle.held_out)

    def offer(self, wasm: bytes, origin: str, environment: Environment | None = None) -> Variant | None:
        """Gate `wasm`; the new (or already present) member, or None when it failed a gate case."""
        sha = content_address(wasm)
        if sha in self.variants:
            return self.variants[sha]
        verdict = self.oracle.verify(self.sandbox, wasm, self.function, self.oracle.held_out,
                                     stop_at_first_failure=True)
        if not verdict.ok:
            self.rejected.append(Rejection(origin, sha, verdict.message or "failed a gate case"))
            return None
        v = Variant(sha, bytes(wasm), origin, environment.key if environment is not None else None)
        self.variants[sha] = v
        return v

    def drop(self, sha: str, reason: str) -> None:
        v = self.variants.pop(sha, None)
        if v is not None:
            self.rejected.append(Rejection(v.origin, sha, reason))

    def __iter__(self):
        return iter(list(self.variants.values()))

    def __len__(self) -> int:
        return len(self.variants)

    def __contains__(self, sha: str) -> bool:
        return sha in self.variants

    def get(self, sha: str) -> Variant:
        return self.variants[sha]

    def measure(self, env: Environment, cases: Sequence[Case], table: FitnessTable, reference: bytes,
                shas: Sequence[str] | None = None) -> Measurement:
        """Run members (all, or `shas`) on env's workload `cases`; record mean fuel and fitness against the
        reference in `table`. A member that gets a case wrong here leaves the pool. Returns the reference's
        measurement."""
        oracle = Oracle(self.oracle.params, self.oracle.results, tuple(cases), (), "epigenetics-workload")
        base = evaluate_candidate(self.sandbox, self.function, reference, oracle, None)
        if not base.correct:
            raise EpigeneticsError(f"the reference fails its own workload in {env.key}: {base.message}")
        baseline = base.measurement()
        for sha in list(shas if shas is not None else self.variants):
            v = self.variants.get(sha)
            if v is None:
                continue
            ev = evaluate_candidate(self.sandbox, self.function, v.wasm, oracle, baseline)
            if not ev.correct:
                self.drop(sha, f"{ev.status.value} on the {env.key} workload")
                table.forget(sha)
                continue
            table.measure(env, sha, ev.fuel / len(cases), len(cases), fitness=ev.fitness, peak_pages=ev.peak_pages)
        return baseline
