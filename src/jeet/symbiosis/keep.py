"""Keeping pairs in the specimen store: both members, their lineage, and what binds them.

Each member is stored under a function label of its own (`symbiosis:caller:F`,
`symbiosis:callee:G`): a member alone is not a drop-in replacement for anything — the caller
needs a partner, the callee may be right only for this caller — so it must not be mistaken for a
single-module specimen of F. Its metrics list every partnership written in the same call (one
module may belong to several kept pairs): partner, pair fuel and fitness, symbiosis score,
held-out evidence and why it was kept; its fuel and fitness columns are those of its best pair.
Its ancestors from the run are stored too, so `Store.ancestry` reaches back to the original
module, and both members are pinned (`Store.pin`), which keeps them and their ancestry out of
the store's garbage collection.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..store import SpecimenRecord, Store
from .coevolve import Individual, ScoredPair


@dataclass(frozen=True, slots=True)
class Persisted:
    """One pair as `persist_pairs` wrote it: the members' hashes and their pin reasons (caller's, callee's)."""

    caller: str
    callee: str
    reason: str
    pins: tuple[str, str]


def member_function(role: str, function: str) -> str:
    """The store's function label of a pair member: `symbiosis:<role>:<function>`."""
    return f"symbiosis:{role}:{function}"


def persist_pairs(store: Store, pairs: Sequence[tuple[ScoredPair, str]], *, function: str,
                  callee_functions: Iterable[str], ancestors: Iterable[Individual] = (),
                  run_id: int | None = None) -> list[Persisted]:
    """Store the members of every (pair, reason) and their `ancestors` in one transaction; pin the members."""
    labels = {"caller": member_function("caller", function),
              "callee": member_function("callee", ",".join(callee_functions))}
    members: dict[str, Individual] = {}
    partnerships: dict[str, list[dict]] = {}
    for sp, reason in pairs:
        ev, v = sp.evaluation, sp.verification
        for me, partner in ((sp.caller, sp.callee), (sp.callee, sp.caller)):
            members[me.sha256] = me
            partnerships.setdefault(me.sha256, []).append({
                "partner": partner.sha256, "pair_fuel": ev.fuel, "pair_fitness": ev.fitness,
                "symbiosis": sp.symbiosis.score if sp.symbiosis is not None else None,
                "held_out_cases": v.cases if v is not None else None,
                "held_out_failures": v.failures if v is not None else None,
                "kept_because": reason})
    records: dict[str, SpecimenRecord] = {}
    for ind in ancestors:
        if ind.sha256 not in members:
            records[ind.sha256] = SpecimenRecord(ind.wasm, labels[ind.side], parents=ind.parents,
                                                 operator=ind.operator, generation=ind.generation, run_id=run_id)
    for sha, me in members.items():
        best = max(partnerships[sha], key=lambda p: p["pair_fitness"])
        metrics = {"role": me.side, "entry_point": function, "partners": partnerships[sha]}
        records[sha] = SpecimenRecord(me.wasm, labels[me.side], fuel=best["pair_fuel"], fitness=best["pair_fitness"],
                                      metrics=metrics, parents=me.parents, operator=me.operator,
                                      generation=me.generation, run_id=run_id)
    store.put_many(list(records.values()))
    out = []
    for sp, reason in pairs:
        pins = (f"symbiosis {reason}: caller of pair with callee {sp.callee.sha256[:16]}",
                f"symbiosis {reason}: callee of pair with caller {sp.caller.sha256[:16]}")
        store.pin(sp.caller.sha256, pins[0])
        store.pin(sp.callee.sha256, pins[1])
        out.append(Persisted(sp.caller.sha256, sp.callee.sha256, reason, pins))
    return out
