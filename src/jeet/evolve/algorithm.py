"""The genetic algorithm itself, in ask/tell form: no sandbox, no store, no clock, no processes.

`ask` hands out one generation of tasks: the top `keep_fraction` of the population survives
(elitism), `mutate_fraction` of the slots get mutants and `crossover_fraction` crossover children
of tournament-selected survivors (40/30/30 by default). `tell` takes the evaluated offspring back
and forms the next population: the elite, then the best correct children, then (only if too few
children were correct) the next-best survivors. Every random choice comes from the one generator
seeded by the config, so a seeded run asks for the same tasks every time.

A converged population must not spend the budget on repeats. `ask` is told how many generations
have passed without improvement (`idle`); after `diversify_after` of them, half the mutants take a
bigger step (one more chained mutation per `diversify_after` idle generations, up to
`MAX_CHAIN`), and after twice that a third of the mutants descend from the archive: correct members
that fell out of the population, best first, which keeps other lines of descent alive as restarts.

Every task also names `ALTERNATIVES` further operators (drawn like the first) that its worker tries,
in order, when the drawn one does not apply to the parents: a crossover of single-function modules,
an idiom the code does not contain. Without them most slots of a generation came back empty, and the
generation's fixed costs (selection, held-out checks, the round trip to the workers) fell on a few children.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from itertools import accumulate
from typing import Sequence, TypeVar

from ..errors import JeetError
from ..genetics import OperatorLedger, operator_set
from ..genetics.registry import DEFAULT_WEIGHTS
from .config import EvolveConfig
from .population import Member, rank_pareto, rank_weighted
from .rates import OperatorRates
from .worker import Offspring, Task


def tournament(rng: random.Random, ranked: Sequence[T], size: int) -> T:
    """Tournament selection over a ranked pool (lower index = better): the best of `size` random draws."""
    k = min(size, len(ranked))
    return ranked[min(rng.randrange(len(ranked)) for _ in range(k))]


@dataclass(frozen=True, slots=True)
class Told:
    """What one `tell` saw: sandbox runs, operator offspring made and valid, and hashes the gate should
    blacklist (with the status that condemns them)."""

    evaluated: int
    made: int
    valid: int
    bad: tuple[tuple[str, str], ...]


T = TypeVar("T")

MAX_CHAIN = 3  # at most this many extra mutations on one child
ALTERNATIVES = 3  # operators a task falls back to, in order, when its own does not apply
ARCHIVE_SIZE = 256  # correct former members kept as restart parents


class GeneticAlgorithm:
    """Population, selection, variation and ranking for one evolving module."""

    def __init__(self, config: EvolveConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self.rng = rng or random.Random(config.seed)
        try:
            ops = operator_set(config.operators)
        except ValueError as exc:
            raise JeetError(str(exc)) from None
        self.mutators = [o.name for o in ops if o.arity == 1]
        self.crossovers = [o.name for o in ops if o.arity == 2]
        if not self.mutators:
            raise JeetError(f"operator set {config.operators!r} has no mutation operator")
        self.weights = {**DEFAULT_WEIGHTS, **config.operator_weights}
        self._cum_weights: dict[str, tuple[list[str], list[float]]] = {}
        adapt = dict(mode=config.adaptive_operators, rate=config.adaptation_rate,
                     floor=config.min_operator_probability)
        self.rates = {"mutation": OperatorRates.initial(self.mutators, self.weights, **adapt)}
        if self.crossovers:
            self.rates["crossover"] = OperatorRates.initial(self.crossovers, self.weights, **adapt)
        self.ledger = OperatorLedger()
        self.population: list[Member] = []
        self.archive: list[Member] = []  # correct members that left the population, ranked

    # --- ask ----------------------------------------------------------------------------------

    @property
    def n_keep(self) -> int:
        return max(1, round(self.config.population * self.config.keep_fraction))

    def ask(self, idle: int = 0) -> list[Task]:
        """One generation of tasks bred from the elite (wider when nothing improved for `idle` generations)."""
        c = self.config
        n_mut = round(c.population * c.mutate_fraction)
        n_cx = max(0, c.population - self.n_keep - n_mut)
        elite = self.population[:self.n_keep]
        after = c.diversify_after
        chain = min(MAX_CHAIN, idle // after) if after is not None else 0
        restart = chain >= 2 and bool(self.archive)
        tasks = []
        for i in range(n_mut):
            pool = self.archive if restart and i % 3 == 2 else elite
            task = self.mutation_task(pool)
            if chain and i % 2 == 1:
                task = replace(task, chain=tuple(self.choose_operator("mutation") for _ in range(chain)))
            tasks.append(task)
        for _ in range(n_cx):
            if self.crossovers and len(elite) >= 2:
                tasks.append(self.crossover_task(elite))
            else:
                tasks.append(self.mutation_task(elite))
        return tasks

    def pick(self, pool: list[Member]) -> Member:
        return tournament(self.rng, pool, self.config.tournament)

    def choose_operator(self, pool: str) -> str:
        if self.config.adaptive_operators != "off":
            return self.rates[pool].choose(self.rng)
        names, cum = self._static_weights(pool)
        # cumulative weights drawn as `choices(names, weights=...)` draws them: the same operator, every time
        return self.rng.choices(names, cum_weights=cum)[0] if cum[-1] > 0 else self.rng.choice(names)

    def _static_weights(self, pool: str) -> tuple[list[str], list[float]]:
        """The pool's operators and their cumulative static weights (computed once: every task draws)."""
        cached = self._cum_weights.get(pool)
        if cached is None:
            names = self.mutators if pool == "mutation" else self.crossovers
            cached = self._cum_weights[pool] = (names, list(accumulate(self.weights.get(n, 1.0) for n in names)))
        return cached

    def mutation_task(self, pool: list[Member]) -> Task:
        parent = self.pick(pool)
        op = self.choose_operator("mutation")
        return Task(op, (parent.wasm,), self.rng.getrandbits(63), parent.home,
                    alternatives=self.alternatives(op, ["mutation"] * ALTERNATIVES))

    def alternatives(self, first: str, pools: Sequence[str]) -> tuple[str, ...]:
        """One operator drawn from each of `pools` in turn (as `choose_operator` draws), skipping `first`
        and repeats (a few redraws, then the slot is left out)."""
        chosen: list[str] = []
        for pool in pools:
            for _ in range(4):
                op = self.choose_operator(pool)
                if op != first and op not in chosen:
                    chosen.append(op)
                    break
        return tuple(chosen)

    def crossover_task(self, pool: list[Member]) -> Task:
        a = self.pick(pool)
        b = self.pick(pool)
        for _ in range(3):
            if b.sha256 != a.sha256:
                break
            b = self.pick(pool)
        op = self.choose_operator("crossover")
        pools = ["crossover"] + ["mutation"] * (ALTERNATIVES - 1) if len(self.crossovers) > 1 else \
            ["mutation"] * ALTERNATIVES
        return Task(op, (a.wasm, b.wasm), self.rng.getrandbits(63), a.home, alternatives=self.alternatives(op, pools))

    @property
    def operator_probabilities(self) -> dict[str, float]:
        """The current chance of each operator within its pool (mutations, crossovers)."""
        return {name: p for rates in self.rates.values() for name, p in rates.as_dict().items()}

    # --- tell ---------------------------------------------------------------------------------

    def tell(self, offspring: list[Offspring], generation: int) -> Told:
        """Record every offspring (operator credit and ledger), then form the next population."""
        parent_fit = {m.sha256: m.fitness for m in self.population}
        variation = set(self.mutators) | set(self.crossovers)
        children: dict[str, Member] = {}
        credit: dict[str, list[int]] = {}  # operator -> [times drawn, offspring that improved]
        evaluated = made = valid = 0
        bad: list[tuple[str, str]] = []
        for off in offspring:
            evaluated += off.evaluated
            ev = off.evaluation
            for name in off.skipped:  # drawn first, not applicable: a draw without credit
                credit.setdefault(name, [0, 0])[0] += 1
            if off.operator in variation:
                # credit is per draw: an operator that was not applicable wasted its slot
                tally = credit.setdefault(off.operator, [0, 0])
                tally[0] += 1
            if off.wasm is None or ev is None:
                continue
            if off.operator in variation:
                best_parent = max((parent_fit.get(p, 0.0) for p in off.parents), default=0.0)
                made += 1
                valid += ev.valid
                improving = ev.correct and ev.fitness > best_parent
                # a child that further mutations changed after its operator is theirs together: its row is
                # "<operator>+more" (one per operator, however many combinations a run draws)
                name = off.operator + "+more" if off.steps else off.operator
                self.ledger.record(name, valid=ev.valid, correct=ev.correct, improving=improving)
                tally[1] += improving
            if ev.status.blacklists:
                bad.append((off.sha256, ev.status.value))
            if ev.correct and off.sha256 not in parent_fit and off.sha256 not in children:
                children[off.sha256] = Member(off.sha256, off.wasm, ev, off.parents, off.made_by,
                                              generation, off.worker)
        for rates in self.rates.values():
            rates.update(credit)
        size = self.config.population
        elite = self.population[:self.n_keep]
        ranked_children = self.rank(list(children.values()))
        nxt = elite + ranked_children[: size - len(elite)]
        if len(nxt) < size:
            nxt += self.population[self.n_keep: self.n_keep + size - len(nxt)]
        before = self.population
        self.population = self.rank(nxt)
        kept = {m.sha256 for m in self.population}
        self._archive([m for m in before + ranked_children[size - len(elite):] if m.sha256 not in kept])
        return Told(evaluated, made, valid, tuple(bad))

    def _archive(self, leaving: list[Member]) -> None:
        if self.config.diversify_after is None or not leaving:
            return
        known = {m.sha256 for m in self.archive}
        fresh = [m for m in leaving if m.sha256 not in known]
        if fresh:
            self.archive = rank_weighted(self.archive + fresh)[:ARCHIVE_SIZE]

    def forget_archive(self) -> None:
        """The training set changed: the archive's scores are stale (children are judged afresh anyway)."""
        self.archive = []

    def rank(self, members: list[Member]) -> list[Member]:
        return rank_pareto(members) if self.config.objectives == "pareto" else rank_weighted(members)

    def drop(self, sha: str) -> None:
        """Remove a member (the gate rejected it), from the archive too."""
        self.population = [m for m in self.population if m.sha256 != sha]
        self.archive = [m for m in self.archive if m.sha256 != sha]

    # --- migration ------------------------------------------------------------------------------

    def emigrants(self, count: int, policy: str = "best") -> list[Member]:
        """Specimens to send elsewhere: the `count` best ("best") or a random sample ("random"); the pick
        uses the run's own generator, so a seeded run migrates the same specimens every time."""
        if count <= 0 or not self.population:
            return []
        if policy == "best":
            return self.population[:count]
        if policy == "random":
            return self.rng.sample(self.population, min(count, len(self.population)))
        raise JeetError(f"unknown emigrant policy {policy!r}: use 'best' or 'random'")

    def merge(self, arrivals: list[Member], policy: str = "fair") -> list[Member]:
        """Let correct, re-scored arrivals in. "fair" (pygmo's fair replacement): an arrival replaces the
        worst member only if it ranks better; "worst": arrivals always replace the worst members.
        Returns the arrivals that got in."""
        if policy not in ("fair", "worst"):
            raise JeetError(f"unknown replacement policy {policy!r}: use 'fair' or 'worst'")
        if not arrivals:
            return []
        size = self.config.population
        if policy == "fair":
            merged = self.rank(self.population + arrivals)[:size]
        else:
            keep = max(0, size - len(arrivals))
            merged = self.rank(self.population[:keep] + arrivals)[:size]
        self.population = merged
        shas = {m.sha256 for m in arrivals}
        return [m for m in merged if m.sha256 in shas]
