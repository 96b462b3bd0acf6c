"""The outcome of a co-evolution run and the files that carry it.

`summarize` turns a finished `Coevolution` into a `CoevolveResult` (plain data, JSON-ready);
`write_outputs` writes the champion pair's two modules, the evidence, the held-out cases with the
original pair's answers, and the champion and kept strong pairs as `PairBundle` files;
`persist_run` records the run in a specimen store with both members of every kept pair (and of
the champion) stored with their lineage and pinned.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ..errors import JeetError
from ..oracle import dump_tests
from ..store import Store
from .bundle import PairBundle
from .coevolve import Coevolution, ScoredPair
from .keep import persist_pairs


@dataclass(frozen=True)
class CoevolveResult:
    name: str
    function: str
    callee_functions: list[str]
    baseline_fuel: int
    best_fuel: int
    fuel_ratio: float
    speedup: float
    best_fitness: float
    baseline_size: int
    best_size: int
    held_out_cases: int
    held_out_failures: int
    train_cases: int
    oracle: str
    evaluations: int
    generations: int
    seconds: float
    stop_reason: str
    caller_sha256: str
    callee_sha256: str
    original_caller_sha256: str
    original_callee_sha256: str
    symbiosis: dict | None
    strong_pairs: list[dict] = field(default_factory=list)
    operators: dict = field(default_factory=dict)
    lineage: dict = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    store: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def pair_summary(co: Coevolution, sp: ScoredPair) -> dict:
    """A pair's figures for reports: hashes, fitness, fuel, symbiosis and the evidence behind it."""
    s = co.symbiosis_of(sp)
    return {
        "caller": sp.caller.sha256, "callee": sp.callee.sha256, "fitness": sp.fitness, "fuel": sp.evaluation.fuel,
        "symbiosis": None if s is None else s.score,
        "caller_partners": 0 if s is None else s.caller_partners,
        "callee_partners": 0 if s is None else s.callee_partners,
        "caller_mean": None if s is None else s.caller_mean,
        "callee_mean": None if s is None else s.callee_mean,
        "held_out_cases": None if sp.verification is None else sp.verification.cases,
        "held_out_failures": None if sp.verification is None else sp.verification.failures,
    }


def summarize(co: Coevolution, reason: str, seconds: float) -> CoevolveResult:
    champ, orig, base = co.champion, co.original, co.baseline
    assert champ is not None and orig is not None and base is not None and champ.verification is not None
    s = co.symbiosis_of(champ)
    return CoevolveResult(
        name=co.problem.name,
        function=co.problem.function,
        callee_functions=list(co.problem.plan.functions),
        baseline_fuel=base.fuel,
        best_fuel=champ.evaluation.fuel,
        fuel_ratio=round(champ.evaluation.fuel / base.fuel, 4) if base.fuel else 1.0,
        speedup=round(base.fuel / champ.evaluation.fuel, 2) if champ.evaluation.fuel else float(base.fuel),
        best_fitness=champ.fitness,
        baseline_size=orig.pair.size,
        best_size=champ.pair.size,
        held_out_cases=champ.verification.cases,
        held_out_failures=champ.verification.failures,
        train_cases=len(co.train),
        oracle=co.problem.oracle.source,
        evaluations=co.state.evaluations,
        generations=co.state.generation,
        seconds=round(seconds, 3),
        stop_reason=reason,
        caller_sha256=champ.caller.sha256,
        callee_sha256=champ.callee.sha256,
        original_caller_sha256=orig.caller.sha256,
        original_callee_sha256=orig.callee.sha256,
        symbiosis=None if s is None else {"score": s.score, "caller_mean": s.caller_mean, "callee_mean": s.callee_mean,
                                          "caller_partners": s.caller_partners, "callee_partners": s.callee_partners},
        strong_pairs=[pair_summary(co, sp) for sp in co.kept_pairs()],
        operators={side: ledger.as_rows() for side, ledger in co.ledgers.items()},
        lineage={"caller": co.lineage(champ.caller.sha256), "callee": co.lineage(champ.callee.sha256)},
    )


def bundle_of(co: Coevolution, sp: ScoredPair) -> PairBundle:
    """The pair as one gossip value (fitness clamped to the bundle's [0, 1], symbiosis to [-1, 1])."""
    s = co.symbiosis_of(sp)
    score = None if s is None or s.score is None else max(-1.0, min(1.0, s.score))
    return PairBundle(sp.caller.wasm, sp.callee.wasm, co.problem.function, max(0.0, min(1.0, sp.fitness)),
                      sp.evaluation.fuel, score)


def write_outputs(co: Coevolution, result: CoevolveResult, prefix: Path) -> list[Path]:
    """Write PREFIX.caller.wasm, PREFIX.callee.wasm, PREFIX.evidence.json, PREFIX.tests.jsonl, PREFIX.pair
    and PREFIX.strong-N.pair (one per kept pair). Refuses a champion that failed a held-out case."""
    champ = co.champion
    assert champ is not None
    if result.held_out_failures or champ.verification is None or champ.verification.failures:
        raise JeetError("refusing to write a pair that fails a held-out case (is the input deterministic?)")
    prefix = Path(prefix)
    try:
        return _write(co, result, prefix, champ)
    except OSError as exc:
        raise JeetError(f"cannot write the outputs at {prefix}: {exc.strerror or exc}") from None


def _write(co: Coevolution, result: CoevolveResult, prefix: Path, champ: ScoredPair) -> list[Path]:
    prefix.parent.mkdir(parents=True, exist_ok=True)

    def path(suffix: str) -> Path:
        return prefix.with_name(prefix.name + suffix)

    written = [path(".caller.wasm"), path(".callee.wasm"), path(".evidence.json"), path(".tests.jsonl"),
               path(".pair")]
    written[0].write_bytes(champ.caller.wasm)
    written[1].write_bytes(champ.callee.wasm)
    oracle = co.problem.oracle
    dump_tests(written[3], oracle.held_out, oracle.params, oracle.results)
    written[4].write_bytes(bundle_of(co, champ).to_bytes())
    for stale in prefix.parent.glob(prefix.name + ".strong-*.pair"):  # from an earlier run with more kept pairs
        stale.unlink()
    for i, sp in enumerate(co.kept_pairs(), 1):
        p = path(f".strong-{i}.pair")
        p.write_bytes(bundle_of(co, sp).to_bytes())
        written.append(p)
    doc = result.to_dict()
    doc["files"] = [p.name for p in written]
    doc["checked_against"] = (
        f"{result.train_cases} training cases and {result.held_out_cases} held-out cases "
        f"({result.oracle} oracle, the original pair as reference), all passed by the linked pair; "
        "this is testing, not a proof of equivalence")
    written[2].write_text(json.dumps(doc, indent=1) + "\n")
    return written


def persist_run(co: Coevolution, store: Store, result: CoevolveResult) -> dict:
    """Record the run and keep the champion and every kept pair (both members, lineage, pins) in `store`."""
    p = co.problem
    fingerprint = hashlib.sha256(
        f"symbiosis|{result.original_caller_sha256}|{result.original_callee_sha256}|{p.function}|"
        f"{co.config.seed}|{co.config.population}".encode()).hexdigest()
    run_id = store.start_run(fingerprint, {"config": co.config.to_dict(), "function": p.function, "name": p.name,
                                           "kind": "coevolve"})
    pairs: list[tuple[ScoredPair, str]] = [(co.champion, "champion")]  # type: ignore[list-item]
    pairs += [(sp, "strong pair") for sp in co.kept_pairs()]
    pairs = [(sp if sp.symbiosis is not None else replace(sp, symbiosis=co.symbiosis_of(sp)), why) for sp, why in pairs]
    ancestors = [ind for sp, _ in pairs for sha in sp.key for ind in co.ancestry(sha)]
    done = persist_pairs(store, pairs, function=p.function, callee_functions=p.plan.functions, ancestors=ancestors,
                         run_id=run_id)
    persisted = [{"reason": d.reason, "caller": d.caller, "callee": d.callee} for d in done]
    store.finish_run(run_id, {"stop": result.stop_reason, "best_fuel": result.best_fuel,
                              "baseline_fuel": result.baseline_fuel, "caller": result.caller_sha256,
                              "callee": result.callee_sha256, "kept_pairs": len(persisted) - 1})
    return {"root": str(store.root), "run_id": run_id, "persisted": persisted}
