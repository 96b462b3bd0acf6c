"""The function a node serves, and the node's own judgement of any module that claims to implement it.

Every node judges by its own oracle: the training cases give the fitness (fuel against the original's, as
in `jeet evolve`), the held-out cases (>= 100x as many) are the hard gate. A specimen from the network and
the node's own champion pass the same check before anything is stored or offered.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from .. import wasm as codec
from ..evolve import Evaluation, Problem, load_problem
from ..evolve.worker import evaluate_candidate
from ..fitness import Measurement
from ..oracle import Oracle
from ..sandbox import Limits, Sandbox
from ..errors import TimingError
from ..timing import measure, ratio

NATIVE_CHECK_S = 0.05  # per verified module: a short native measurement against the original


@dataclass(frozen=True, slots=True)
class Check:
    """The local verdict on one module."""

    ok: bool
    fitness: float
    fuel: int
    seconds: float
    reason: str = ""
    # native time of the module over the original's, measured on this node (None: not measured or untimeable)
    native_ratio: float | None = None


ImportKey = tuple[str, str, int, object]


def import_keys(wasm: bytes) -> frozenset[ImportKey]:
    """What a module imports: (module, name, kind, type), function types resolved (not indices)."""
    m = codec.decode(wasm)
    return frozenset((i.module, i.name, i.kind, m.types[i.desc] if i.kind == codec.FUNC else i.desc)
                     for i in m.imports)


def foreign_import(wasm: bytes, provided: frozenset[ImportKey], label: str = "module") -> str | None:
    """Why a module cannot be served here, if it imports what the workload does not provide (None if it
    imports nothing else). A node serves modules as `jeet run` does: with the original's imports and no
    others, so a module cannot win on tests with an import (WASI, say) that a real caller would not give it."""
    try:
        extra = sorted((k for k in import_keys(wasm) if k not in provided), key=lambda k: (k[0], k[1]))
    except codec.WasmError as exc:
        return f"invalid: {label}: {exc}"
    if not extra:
        return None
    module, name = extra[0][:2]
    return (f"imports: {label} imports {module}.{name}" + (f" and {len(extra) - 1} more" if len(extra) > 1 else "")
            + ", which this workload does not provide")


def gate(ev: Evaluation, sandbox, subject, fn: str, oracle: Oracle, t0: float) -> Check:
    """The verdict from a training-set evaluation `ev`, then every held-out case (the hard gate)."""
    if not ev.correct:
        reason = ev.status.value + (f": {ev.message}" if ev.message else "")
        return Check(False, 0.0, ev.fuel, time.perf_counter() - t0, reason)
    verdict = oracle.verify(sandbox, subject, fn, oracle.held_out, stop_at_first_failure=True)
    if not verdict.ok:
        return Check(False, 0.0, ev.fuel, time.perf_counter() - t0, f"fails held-out case {verdict.first_failure}")
    return Check(True, ev.fitness, ev.fuel, time.perf_counter() - t0)


def function_id(problem: Problem) -> str:
    """What gossip calls the function: the export name and the original module's content address, so
    nodes share specimens only with nodes that evolve the very same function."""
    return f"{problem.function}@{problem.sha256[:16]}"


class Workload:
    """A problem plus a sandbox of its own. `check` is blocking: call it from one worker thread."""

    tags: tuple[str, ...] = ()  # environment tags carried by the specimens this node offers
    # the node's own proof of every specimen that passed its held-out cases (a peer's claim is never
    # trusted); each solver query is limited, so a hostile specimen costs at most a few of these
    prove: bool = True
    prove_bound: int = 16
    prove_timeout_s: float = 2.0

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.function_id = function_id(problem)
        self._train = replace(problem.oracle, held_out=())
        self._sandbox: Sandbox | None = None
        self._proof = None
        self.baseline: Measurement | None = None
        self.provided = import_keys(problem.wasm)  # what a specimen may import: what the original does

    @classmethod
    def load(cls, kernel: str | None, module: Path | None, function: str | None, tests: Path | None,
             seed: int = 0) -> "Workload":
        """The oracle's seed is fixed per workload (not per node), so every node measures alike."""
        return cls(load_problem(module, function, tests, seed=seed, limits=Limits(),
                                kernel=kernel if module is None else None))

    @property
    def original(self) -> bytes:
        """The input module every specimen must be equivalent to."""
        return self.problem.wasm

    def _ready(self) -> Sandbox:
        if self._sandbox is None:
            self._sandbox = Sandbox(self.problem.limits)
            ev = evaluate_candidate(self._sandbox, self.problem.function, self.problem.wasm, self._train, None)
            self.baseline = ev.measurement()
        return self._sandbox

    def check(self, wasm: bytes) -> Check:
        """Refuse foreign imports, validate, run the training cases (fitness), then every held-out case (the gate)."""
        t0 = time.perf_counter()
        refusal = foreign_import(wasm, self.provided)
        if refusal is not None:  # refused at the door: never run, stored or offered
            return Check(False, 0.0, 0, time.perf_counter() - t0, refusal)
        sandbox = self._ready()
        fn = self.problem.function
        ev = evaluate_candidate(sandbox, fn, wasm, self._train, self.baseline)
        verdict = gate(ev, sandbox, wasm, fn, self.problem.oracle, t0)
        if not verdict.ok:
            return verdict
        if self.prove:
            verdict = self._proved(verdict, wasm, t0)
            if not verdict.ok:
                return verdict
        return replace(verdict, native_ratio=self.native_ratio(wasm), seconds=time.perf_counter() - t0)

    def _proved(self, verdict: Check, wasm: bytes, t0: float) -> Check:
        """A specimen that passed the held-out cases, through this node's own proof against the original."""
        from ..evolve.proof_check import ProofCheck

        if self._proof is None:
            # inline, in the node's verifier process: that process is the node's isolation already (it is
            # replaced if it dies, and goes when the node goes); every solver query has its own time limit
            self._proof = ProofCheck(self.problem.wasm, self.problem.function, bound=self.prove_bound,
                                     timeout_s=self.prove_timeout_s, sandbox=self._sandbox)
        _v, judgement = self._proof.verify(wasm)
        if judgement.accepted:
            return replace(verdict, seconds=time.perf_counter() - t0)
        return Check(False, 0.0, verdict.fuel, time.perf_counter() - t0, f"proof: {judgement.reason}")

    def native_ratio(self, wasm: bytes) -> float | None:
        """time(wasm) / time(original) in native time on this machine, from a short interleaved measurement
        on the held-out cases (what /status reports beside the fuel fitness); None if it cannot be timed."""
        if wasm == self.problem.wasm:
            return 1.0
        try:
            report = measure([self.problem.wasm, wasm], self.problem.function, self.problem.oracle.held_out,
                             min_time_s=NATIVE_CHECK_S, min_rounds=5, layouts=1, max_cases=64)
            return round(ratio(report, 1, 0, resamples=200).estimate, 4)
        except TimingError:
            return None

    def close(self) -> None:
        if self._proof is not None:
            self._proof.close()
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None
