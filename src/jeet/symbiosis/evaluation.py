"""Judging one pair: does the linked pair compute the oracle's results, and what does it cost?

A pair is scored exactly as jeet scores a single module (`jeet.evolve.evaluation.score`), with
the pair's figures: fuel summed over the training cases (caller and callee together), peak pages
of both exported memories, code size of both modules, and the modelled energy of the bodies of
both modules' evolved functions. Correctness is a hard gate: a pair that fails a training case
(wrong result, trap, out of fuel, memory or time) has fitness 0.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..evolve.evaluation import Evaluation, Status, score
from ..evolve.worker import run_training
from ..fitness import Measurement, energy_estimate
from ..genetics import Genome, GeneticsError
from ..oracle import Oracle
from ..wasm import WasmError, decode
from .linking import LinkedSandbox
from .pair import Pair



def caller_genome(wasm: bytes, function: str) -> Genome:
    """The caller as operators see it: the defined functions reachable from the pair's entry point."""
    return Genome.from_bytes(wasm, function)


def callee_genome(wasm: bytes, functions: Sequence[str]) -> Genome:
    """The callee as operators see it: the defined functions reachable from any export the caller imports.

    Raises WasmError for bytes that do not decode and GeneticsError when an export is missing."""
    module = decode(bytes(wasm))
    exports = module.exported_functions()
    missing = [f for f in functions if f not in exports]
    if missing:
        raise GeneticsError(f"the callee exports no function {missing[0]!r}")
    imported = module.num_imported_funcs
    reachable: set[int] = set()
    for name in functions:
        reachable |= module.reachable_functions(exports[name]) | {exports[name]}
    targets = tuple(sorted(f - imported for f in reachable
                           if f >= imported and not module.bodies[f - imported].opaque))
    return Genome(bytes(wasm), module, targets)


def pair_energy(genomes: Sequence[Genome], fuel: int) -> float:
    """Modelled energy of a run of `fuel`, from the evolved bodies of both modules (plain fuel if unreadable)."""
    try:
        bodies = [g.decoded().bodies[i] for g in genomes for i in g.targets]
        return energy_estimate(bodies, fuel)
    except (WasmError, IndexError):
        return float(fuel)


def evaluate_pair(sandbox: LinkedSandbox, pair: Pair, function: str, oracle: Oracle,
                  baseline: Measurement | None, genomes: Sequence[Genome]) -> Evaluation:
    """Run `pair` on the oracle's training cases (stopping at the first failure) and score it against
    `baseline` (no fitness when None). `genomes` are the caller's and the callee's, for the energy model."""
    size = pair.size
    ran = run_training(sandbox, pair, function, oracle, size)
    if isinstance(ran, Evaluation):
        return ran
    fuel, peak = ran
    energy = pair_energy(genomes, fuel)
    if baseline is None:
        return Evaluation(Status.OK, fuel=fuel, peak_pages=peak, size=size, energy=energy)
    measurement = Measurement(fuel=fuel, peak_pages=peak, code_size=size, energy=energy)
    fit, metrics = score(measurement, baseline)
    return Evaluation(Status.OK, fuel=fuel, peak_pages=peak, size=size, energy=energy, fitness=fit, metrics=metrics)
