"""Persistence of a run: specimens, lineage and a checkpoint per generation, and resuming from one.

A checkpoint holds what cannot be recomputed (the generator's state, the counters, the learned
training cases, operator rates, the population's hashes and lineage); the specimens' bytes live in
the store. On resume the population is re-scored on the restored training set (nothing stored is
trusted blindly) and the champion re-verified through the gate; if it fails, the original is the
champion again.
"""

from __future__ import annotations

import random
from typing import Protocol

from ..genetics import OperatorLedger
from ..oracle import Case
from ..store import Store
from .algorithm import GeneticAlgorithm
from .evaluation import Evaluation
from .gate import Gate, Verification
from .logbook import GenerationRow, Logbook
from .pool import Evaluator
from .population import Member
from .problem import Problem
from .rates import OperatorRates
from .state import RunState
from .worker import Context, Task


class Run(Protocol):
    """What a checkpoint saves from and restores into a run (`jeet.evolve.loop.Evolution` is one)."""

    problem: Problem
    store: Store | None
    run_id: int | None
    state: RunState
    rng: random.Random
    algorithm: GeneticAlgorithm
    population: list[Member]
    stored: set[str]  # specimens this run has already written to the store
    champion: Member | None
    champion_evidence: Verification | None
    gate: Gate
    evaluator: Evaluator
    logbook: Logbook

    @property
    def rates(self) -> dict[str, OperatorRates]: ...

    @property
    def ledger(self) -> OperatorLedger: ...

    def measure_original(self) -> Member: ...

    def context(self) -> Context: ...

    def verify(self, wasm: bytes) -> Verification: ...


def save(evo: Run) -> None:
    """Store the population's new specimens and this generation's checkpoint."""
    store = evo.store
    if store is None or evo.run_id is None:
        return
    population = evo.population
    fresh = [m for m in population if m.sha256 not in evo.stored]
    if store.caps.max_specimens or store.caps.max_store_mb:
        # forgetting may have removed a specimen this run stored before and has now bred again:
        # store it again, or its children would name a parent without bytes
        known = [m.sha256 for m in population if m.sha256 in evo.stored]
        gone = store.missing(known) if known else set()
        fresh += [m for m in population if m.sha256 in gone]
    if fresh:
        store.put_many([specimen_row(evo, m) for m in fresh])
        evo.stored.update(m.sha256 for m in fresh)
    s = evo.state
    state = {
        "generation": s.generation,
        "evaluations": s.evaluations,
        "offspring_made": s.offspring_made,
        "offspring_valid": s.offspring_valid,
        "stagnant": s.stagnant,
        "distinct": s.distinct,
        "repeats": s.repeats,
        "improved_generation": s.improved_generation,
        "rng": rng_state(evo.rng),
        "population": [m.sha256 for m in population],
        "lineage": {m.sha256: [list(m.parents), m.operator, m.generation] for m in population},
        "champion": evo.champion.sha256 if evo.champion else None,
        "extra_train": [case_dict(c) for c in evo.state.extra_train],
        "ledger": evo.ledger.to_dict(),
        "operator_rates": {pool: r.to_state() for pool, r in evo.rates.items()},
    }
    store.save_checkpoint(evo.run_id, s.generation, state)


def specimen_row(evo: Run, m: Member) -> dict:
    return dict(wasm=m.wasm, function=evo.problem.function, fuel=m.evaluation.fuel, fitness=m.fitness,
                metrics=eval_dict(m.evaluation), parents=m.parents, operator=m.operator, generation=m.generation,
                run_id=evo.run_id)


def restore(evo: Run, run_id: int) -> bool:
    """Continue run `run_id` from its last checkpoint; False when it has none."""
    cp = evo.store.load_checkpoint(run_id)
    if cp is None:
        return False
    _, st = cp
    s = evo.state
    s.generation, s.evaluations = st["generation"], st["evaluations"]
    s.offspring_made, s.offspring_valid, s.stagnant = st["offspring_made"], st["offspring_valid"], st["stagnant"]
    s.distinct, s.repeats = st.get("distinct", 0), st.get("repeats", 0)
    s.improved_generation = st.get("improved_generation", s.generation)
    evo.gate.learned[:] = [case_from(d, evo.problem.oracle.env) for d in st["extra_train"]]
    evo.rng.setstate(rng_from(st["rng"]))
    evo.algorithm.ledger = OperatorLedger.from_dict(st["ledger"])
    for pool, saved in st.get("operator_rates", {}).items():
        if pool in evo.rates:
            evo.rates[pool].restore(saved)
    original = evo.measure_original()
    tasks, meta = [], []
    for sha in st["population"]:
        data = evo.store.get_specimen(sha)
        if data is None:
            continue
        tasks.append(Task(None, (data,), 0))
        meta.append(st["lineage"].get(sha, [[], None, 0]))
    results = evo.evaluator.run(tasks, evo.context())
    members = [original]
    for r, (parents, op, gen) in zip(results, meta):
        if r.evaluation is not None and r.evaluation.correct and r.sha256 != original.sha256:
            members.append(Member(r.sha256, r.wasm, r.evaluation, tuple(parents), op, gen))
    evo.population = evo.algorithm.rank(members)
    champ_sha = st.get("champion")
    champ = next((m for m in evo.population if m.sha256 == champ_sha), original)
    evo.champion, evo.champion_evidence = champ, evo.verify(champ.wasm)
    if evo.champion_evidence.failures:
        evo.champion, evo.champion_evidence = original, evo.verify(original.wasm)
    evo.logbook = Logbook(rows_from(evo.store.logbook(run_id)))
    return True


def rows_from(rows: list[dict]) -> list[GenerationRow]:
    fields = GenerationRow.__dataclass_fields__
    return [GenerationRow(**{k: r[k] for k in fields}) for r in rows if all(k in r for k in fields)]


def eval_dict(ev: Evaluation) -> dict:
    return {"status": ev.status.value, "fuel": ev.fuel, "peak_pages": ev.peak_pages, "size": ev.size,
            "energy": ev.energy, "fitness": ev.fitness}


def rng_state(rng: random.Random) -> list:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def rng_from(data: list) -> tuple:
    return (data[0], tuple(data[1]), data[2])


def case_dict(c: Case) -> dict:
    return {"args": list(c.args), "expect": None if c.expect is None else list(c.expect),
            "memory": [[o, b.hex()] for o, b in c.memory], "trap": c.trap, "poison": c.poison}


def case_from(d: dict, env=None) -> Case:
    """A saved case, starting from the same memory again (its effects digest was keyed by the old oracle)."""
    return Case(args=tuple(d["args"]), expect=None if d["expect"] is None else tuple(d["expect"]),
                memory=tuple((o, bytes.fromhex(h)) for o, h in d["memory"]), trap=d["trap"],
                env=env, poison=d.get("poison", 0))
