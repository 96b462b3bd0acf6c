"""The outcome of a run and the files that carry it: the variant, its evidence, its test cases."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import JeetError
from ..oracle import dump_tests
from .driver import describe_stop
from .loop import Evolution
from .proof_check import ProofCheck, proof_off


@dataclass(frozen=True)
class EvolveResult:
    function: str
    name: str
    baseline_fuel: int
    best_fuel: int
    fuel_ratio: float
    baseline_size: int
    best_size: int
    held_out_cases: int
    held_out_failures: int
    train_cases: int
    oracle: str
    evaluations: int
    seconds: float
    generations: int
    stop_reason: str
    valid_offspring_rate: float
    best_sha256: str
    input_sha256: str
    out: str | None
    operators: list[dict] = field(default_factory=list)
    lineage: list[str] = field(default_factory=list)
    stopped: str = ""  # the stop reason in plain words
    # the search's breadth: candidates whose content the run had not judged before, and repeats
    distinct_candidates: int = 0
    repeated_candidates: int = 0
    cores: int = 1
    distinct_per_s_per_core: float = 0.0
    held_out_seed: int | None = None  # rebuilds the held-out cases: `jeet evolve --held-out-seed`
    # native time (objective "time"): whether the output is faster than the input (do no harm), the
    # ns per call of each, best/input with its 95 % interval, and what the timing cost of the run
    objective: str = "fuel"
    improved: bool | None = None
    baseline_ns: float | None = None
    best_ns: float | None = None
    time_ratio: float | None = None
    time_ratio_ci: list[float] | None = None
    timing_seconds: float = 0.0
    timing_share: float = 0.0
    races: int = 0
    notices: list[str] = field(default_factory=list)
    # how far the output was checked beyond testing: the proof's method, result, bound, solver time,
    # counterexample, and how many counterexamples the run fed back (see jeet.evolve.proof_check)
    verification: dict = field(default_factory=proof_off)

    def to_dict(self) -> dict:
        return asdict(self)


def breadth(distinct: int, repeats: int, cores: int, seconds: float) -> dict:
    """The figures that show whether a search spins: distinct candidates, repeats, and the rate per core."""
    return dict(distinct_candidates=distinct, repeated_candidates=repeats, cores=cores,
                distinct_per_s_per_core=round(distinct / max(seconds, 1e-9) / max(cores, 1), 1))


def summarize(evo: Evolution, reason: str, seconds: float, out: Path | None) -> EvolveResult:
    champ, base = evo.champion, evo.baseline
    ev = evo.champion_evidence
    s = evo.state
    return EvolveResult(
        function=evo.problem.function,
        name=evo.problem.name,
        baseline_fuel=base.fuel,
        best_fuel=champ.evaluation.fuel,
        fuel_ratio=round(champ.evaluation.fuel / base.fuel, 4) if base.fuel else 1.0,
        baseline_size=len(evo.problem.wasm),
        best_size=len(champ.wasm),
        held_out_cases=ev.cases,
        held_out_failures=ev.failures,
        train_cases=len(evo.train),
        oracle=evo.problem.oracle.source,
        evaluations=evo.state.evaluations,
        seconds=round(seconds, 3),
        generations=evo.state.generation,
        stop_reason=reason,
        valid_offspring_rate=round(evo.valid_offspring_rate, 4),
        best_sha256=champ.sha256,
        input_sha256=evo.problem.sha256,
        out=str(out) if out else None,
        operators=evo.ledger.as_rows(),
        lineage=champion_lineage(evo),
        stopped=describe_stop(reason, evo.config, s),
        **breadth(s.distinct, s.repeats, evo.evaluator.workers, seconds),
        held_out_seed=evo.problem.oracle.held_out_seed,
        **native_time(evo, seconds),
        verification=verification_of(evo),
    )


def native_time(evo, seconds: float) -> dict:
    """The do-no-harm figures of a finished run or archipelago (see `jeet.evolve.race`)."""
    j = evo.judgement
    improved = evo.improved if evo.improved is not None else evo.champion.sha256 != evo.problem.sha256
    d = dict(objective="time" if evo.race is not None else "fuel", improved=improved,
             timing_seconds=evo.timing_seconds, timing_share=round(evo.timing_seconds / max(seconds, 1e-9), 4),
             races=evo.race.races if evo.race is not None else 0, notices=list(evo.notices))
    if j is not None:
        d.update(baseline_ns=round(j.baseline_ns, 4), best_ns=round(j.best_ns, 4), time_ratio=round(j.time_ratio, 4),
                 time_ratio_ci=[round(x, 4) for x in j.ci])
    return d


def verification_of(evo) -> dict:
    """The output's `verification` block: from the run's own proof check, or (an archipelago, whose
    islands proved their champions in their own processes) a fresh check here; `proof_off()` when off."""
    if not evo.config.prove:
        return proof_off()
    proof = getattr(evo, "proof", None)
    if proof is None:
        p = evo.problem
        proof = ProofCheck(p.wasm, p.function, bound=evo.config.prove_bound, timeout_s=evo.config.prove_timeout_s)
    return proof.summary(evo.champion.wasm, evo.champion.sha256)


def champion_lineage(evo: Evolution) -> list[str]:
    """The operators along the champion's line of descent, as far as the store remembers it (for an
    archipelago too: anything with `store` and `champion`)."""
    if evo.store is None:
        return [evo.champion.operator] if evo.champion.operator else []
    chain, sha, seen = [], evo.champion.sha256, set()
    while sha and sha not in seen and len(chain) < 10_000:
        seen.add(sha)
        parents = evo.store.parents_of(sha)
        if not parents:
            break
        parent, op, _gen = parents[0]
        chain.append(op or "?")
        sha = parent
    return list(reversed(chain))


def write_outputs(evo: Evolution, result: EvolveResult, out: Path) -> list[Path]:
    """Write the champion, a JSON evidence file, and its held-out cases as a tests file.

    Refuses if the champion failed any held-out case: such an output would be a bug.
    """
    if result.held_out_failures:
        raise JeetError("refusing to write a variant that fails a held-out case (is the input deterministic?)")
    if not any(result.verification.get("status") == s for s in ("proved", "bounded", "tested only")):
        raise JeetError(f"refusing to write a variant the proof did not accept: {result.verification.get('reason')}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(evo.champion.wasm)
    evidence = out.with_name(out.name + ".evidence.json")
    tests = out.with_name(out.name + ".tests.jsonl")
    doc = result.to_dict()
    v = result.verification
    proof = (f"; {v['status']} by {v['method']}" + (f" (k = {v['bound']})" if v.get("bound") else "")
             if v["status"] in ("proved", "bounded") else f"; {v['reason']}")
    doc["checked_against"] = (
        f"{result.train_cases} training cases and {result.held_out_cases} held-out cases "
        f"({result.oracle} oracle), all passed{proof}"
    )
    doc["tests_file"] = tests.name
    if getattr(evo, "judgement", None) is not None:  # the timing method, inputs and samples behind `improved`
        doc["native_time"] = evo.judgement.to_dict(samples=True)
    evidence.write_text(json.dumps(doc, indent=1) + "\n")
    oracle = evo.problem.oracle
    dump_tests(tests, oracle.held_out, oracle.params, oracle.results)
    return [out, evidence, tests]
