"""The evolution loop, in ask/tell form.

One round keeps the top `keep_fraction` of the population (elitism), fills `mutate_fraction`
with mutants and `crossover_fraction` with crossover children of tournament-selected survivors.
Correctness on the training cases is a hard gate (fitness 0). Before any specimen becomes
champion it must also pass every held-out case; a specimen that fails one is blacklisted and the
failing case joins the training set, so the search cannot come back to the same mistake.
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Mapping

from ..errors import JeetError
from ..fitness import Measurement, hypervolume
from ..genetics import OperatorLedger, operator_set
from ..genetics.registry import DEFAULT_WEIGHTS
from ..oracle import Case, Oracle
from ..sandbox import Sandbox
from ..store import Store
from .config import EvolveConfig
from .evaluation import Evaluation
from .logbook import GenerationRow, Logbook
from .pool import Evaluator
from .population import Member, first_front, rank_pareto, rank_weighted
from .problem import Problem
from .rates import OperatorRates
from .seeding import wasm_opt_variant
from .worker import Context, Offspring, Task, WorkerSetup, evaluate_candidate, sha256


@dataclass
class Verification:
    """The evidence for a specimen: how many held-out cases it ran and how many it failed."""

    cases: int
    failures: int
    first_failure: int | None = None


@dataclass
class RunState:
    generation: int = 0
    evaluations: int = 0
    offspring_made: int = 0
    offspring_valid: int = 0
    stagnant: int = 0
    extra_train: list[Case] = field(default_factory=list)


class Evolution:
    """Evolve `problem` under `config`; `store` (optional) persists specimens, lineage and checkpoints.

    `usage` (optional) maps specimen hashes to how often a runtime has served them; it feeds the
    usage_frequency term of the fitness (a specimen not in it counts as often as the original)."""

    def __init__(self, problem: Problem, config: EvolveConfig, *, store: Store | None = None,
                 evaluator: Evaluator | None = None, resume: bool = False,
                 usage: Mapping[str, int] | None = None) -> None:
        self.problem = problem
        self.config = config
        self.store = store
        self.rng = random.Random(config.seed)
        self.limits = problem.limits
        self.usage = dict(usage or {})
        try:
            ops = operator_set(config.operators)
        except ValueError as exc:
            raise JeetError(str(exc)) from None
        self.mutators = [o.name for o in ops if o.arity == 1]
        self.crossovers = [o.name for o in ops if o.arity == 2]
        if not self.mutators:
            raise JeetError(f"operator set {config.operators!r} has no mutation operator")
        self.weights = {**DEFAULT_WEIGHTS, **config.operator_weights}
        adapt = dict(mode=config.adaptive_operators, rate=config.adaptation_rate,
                     floor=config.min_operator_probability)
        self.rates = {"mutation": OperatorRates.initial(self.mutators, self.weights, **adapt)}
        if self.crossovers:
            self.rates["crossover"] = OperatorRates.initial(self.crossovers, self.weights, **adapt)
        blacklist = frozenset(store.blacklisted_hashes()) if store else frozenset()
        setup = WorkerSetup(function=problem.function, limits=self.limits, operators=config.operators,
                            blacklist=blacklist)
        self._own_evaluator = evaluator is None
        self.evaluator = evaluator or Evaluator(setup, config.workers)
        # champions and resumed populations compile once and then come from the store's module cache
        self.sandbox = Sandbox(self.limits, cache_dir=store.root / "compiled" if store is not None else None)
        self.ledger = OperatorLedger()
        self.logbook = Logbook()
        self.state = RunState()
        self.population: list[Member] = []
        self.champion: Member | None = None
        self.champion_evidence: Verification | None = None
        self._blacklist_delta: list[str] = []
        self._known_bad: set[str] = set(blacklist)
        self.run_id: int | None = None
        self.started = time.monotonic()
        self.baseline: Measurement | None = None
        self._resume = resume
        self._inflight = None
        self._stored: set[str] = set()  # specimens this run has already written to the store

    # --- lifecycle ---------------------------------------------------------------------

    @property
    def train(self) -> tuple[Case, ...]:
        return tuple(self.problem.oracle.train) + tuple(self.state.extra_train)

    def training_oracle(self) -> Oracle:
        """The oracle workers judge by: the current training set, without the (large) held-out set."""
        return replace(self.problem.oracle, train=self.train, held_out=())

    def fingerprint(self) -> str:
        c = self.config
        key = f"{self.problem.sha256}|{self.problem.function}|{c.seed}|{c.population}|{c.operators}|{c.objectives}|{c.train_size}"
        return sha256(key.encode())

    def close(self) -> None:
        self.sandbox.close()
        if self._own_evaluator:
            self.evaluator.close()

    def __enter__(self) -> "Evolution":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        """Measure the original, then build (or restore) the first population."""
        if self.store is not None:
            fp = self.fingerprint()
            run_id = self.store.find_resumable_run(fp) if self._resume else None
            if run_id is not None and self._restore(run_id):
                self.run_id = run_id
                return
            self.run_id = self.store.start_run(fp, {"config": self.config.to_dict(), "function": self.problem.function,
                                                    "input_sha256": self.problem.sha256, "name": self.problem.name})
        original = self._measure_original()
        self.population = [original]
        self.champion = original
        self.champion_evidence = self.verify(original.wasm)
        if self.champion_evidence.failures:
            raise JeetError("the original fails its own held-out cases (is it deterministic?)")
        seeds = [Task(None, (v,), 0) for v in self._extra_seeds()]
        n_fill = self.config.population - 1 - len(seeds)
        tasks = seeds + [self._mutation_task([original]) for _ in range(max(0, n_fill) * 2)]
        results = self.evaluator.run(tasks, self._context())
        # seeds descend from the original through wasm-opt; say so in their lineage
        results = [replace(r, operator="wasm-opt", parents=(original.sha256,)) if t.operator is None else r
                   for t, r in zip(tasks, results)]
        self._absorb(results)
        self._log(self.population, [])

    def _measure_original(self) -> Member:
        ev = evaluate_candidate(self.sandbox, self.problem.function, self.problem.wasm, self.training_oracle(), None)
        if not ev.correct:
            raise JeetError(f"the original does not pass its own training cases ({ev.status.value}: {ev.message})")
        self.baseline = replace(ev.measurement(), calls=self.usage.get(sha256(self.problem.wasm), 0))
        ev = evaluate_candidate(self.sandbox, self.problem.function, self.problem.wasm, self.training_oracle(), self.baseline)
        return Member(sha256(self.problem.wasm), self.problem.wasm, ev, (), None, 0)

    def _extra_seeds(self) -> list[bytes]:
        if not self.config.use_wasm_opt:
            return []
        variant = wasm_opt_variant(self.problem.wasm)
        return [variant] if variant is not None else []

    def _context(self) -> Context:
        # every hash blacklisted during this run; the evaluator sends each worker only what it lacks
        return Context(oracle=self.training_oracle(), baseline=self.baseline,
                       blacklist_delta=tuple(self._blacklist_delta), usage=self.usage)

    # --- ask / tell --------------------------------------------------------------------

    def ask(self) -> list[Task]:
        c = self.config
        n_keep = max(1, round(c.population * c.keep_fraction))
        n_mut = round(c.population * c.mutate_fraction)
        n_cx = max(0, c.population - n_keep - n_mut)
        elite = self.population[:n_keep]
        tasks = [self._mutation_task(elite) for _ in range(n_mut)]
        for _ in range(n_cx):
            if self.crossovers and len(elite) >= 2:
                tasks.append(self._crossover_task(elite))
            else:
                tasks.append(self._mutation_task(elite))
        return tasks

    def tell(self, offspring: list[Offspring]) -> None:
        """Selection first; then, while the next generation (if any) is already out, the bookkeeping."""
        self._absorb(offspring)
        if self.done() is None and self._inflight is None:
            self._inflight = self.evaluator.submit(self.ask(), self._context())
        self._promote()
        self._log(self.population, offspring)
        self._checkpoint()

    def step(self) -> GenerationRow:
        """One generation. Its offspring were handed out at the end of the previous step, so the
        workers evaluate them while this process verifies champions and writes the store."""
        pending = self._inflight or self.evaluator.submit(self.ask(), self._context())
        self._inflight = None
        results = self.evaluator.collect(pending)
        self.state.generation += 1
        self.tell(results)
        return self.logbook.rows[-1]

    def _drain(self) -> None:
        """Collect and drop a generation in flight (its context is about to change)."""
        if self._inflight is not None:
            results = self.evaluator.collect(self._inflight)
            self._inflight = None
            self.state.evaluations += sum(r.evaluated for r in results)

    def done(self) -> str | None:
        """Why the run should stop now, or None."""
        c, s = self.config, self.state
        if c.generations is not None and s.generation >= c.generations:
            return "generations"
        if c.max_evaluations is not None and s.evaluations >= c.max_evaluations:
            return "evaluations"
        if c.budget_s is not None and time.monotonic() - self.started >= c.budget_s:
            return "budget"
        if c.stagnation is not None and s.stagnant >= c.stagnation:
            return "stagnation"
        return None

    def run(self, on_generation: Callable[["Evolution", GenerationRow], None] | None = None) -> str:
        if not self.population:
            self.start()
        while (reason := self.done()) is None:
            row = self.step()
            if on_generation:
                on_generation(self, row)
        self._finish(reason)
        return reason

    # --- migration (islands) ---------------------------------------------------------------

    def emigrants(self, count: int, policy: str = "best") -> list[Member]:
        """Specimens to send to other islands: the `count` best ("best") or a random sample ("random");
        the pick uses the run's own generator, so a seeded run migrates the same specimens every time."""
        if count <= 0 or not self.population:
            return []
        if policy == "best":
            return self.population[:count]
        if policy == "random":
            return self.rng.sample(self.population, min(count, len(self.population)))
        raise JeetError(f"unknown emigrant policy {policy!r}: use 'best' or 'random'")

    def immigrate(self, specimens: list[bytes], source: str = "migration", policy: str = "fair") -> list[Member]:
        """Let specimens from another island (or a peer) join the population.

        Nothing is taken on trust: each is re-scored here on this island's current training set, and
        only the correct ones are candidates. With the "fair" policy (pygmo's fair replacement) an
        immigrant replaces the worst member only if it ranks better; "worst" always replaces the worst
        members. The next round's 40/30/30 then runs over residents and immigrants together.
        Returns the members that were let in."""
        if policy not in ("fair", "worst"):
            raise JeetError(f"unknown replacement policy {policy!r}: use 'fair' or 'worst'")
        if self.baseline is None:
            raise JeetError("immigrate() needs a started run")
        resident = {m.sha256 for m in self.population}
        arrivals: dict[str, Member] = {}
        oracle = self.training_oracle()
        for wasm in specimens:
            sha = sha256(wasm)
            if sha in resident or sha in arrivals or sha in self._known_bad:
                continue
            ev = evaluate_candidate(self.sandbox, self.problem.function, wasm, oracle, self.baseline,
                                    calls=self.usage.get(sha))
            self.state.evaluations += 1
            if ev.status.blacklists:
                self._blacklist(sha, ev.status.value)
            if ev.correct:
                arrivals[sha] = Member(sha, wasm, ev, (), source, self.state.generation)
        if not arrivals:
            return []
        size = self.config.population
        if policy == "fair":
            merged = self._rank(self.population + list(arrivals.values()))[:size]
        else:
            keep = max(0, size - len(arrivals))
            merged = self._rank(self.population[:keep] + list(arrivals.values()))[:size]
        self.population = merged
        return [m for m in merged if m.sha256 in arrivals]

    # --- internals -----------------------------------------------------------------------

    def _pick(self, pool: list[Member]) -> Member:
        """Tournament selection over the ranked pool (lower index = better)."""
        k = min(self.config.tournament, len(pool))
        return pool[min(self.rng.randrange(len(pool)) for _ in range(k))]

    def _choose(self, pool: str) -> str:
        if self.config.adaptive_operators != "off":
            return self.rates[pool].choose(self.rng)
        names = self.mutators if pool == "mutation" else self.crossovers
        w = [self.weights.get(n, 1.0) for n in names]
        return self.rng.choices(names, weights=w)[0] if sum(w) > 0 else self.rng.choice(names)

    @property
    def operator_probabilities(self) -> dict[str, float]:
        """The current chance of each operator within its pool (mutations, crossovers)."""
        return {name: p for rates in self.rates.values() for name, p in rates.as_dict().items()}

    def _mutation_task(self, pool: list[Member]) -> Task:
        parent = self._pick(pool)
        return Task(self._choose("mutation"), (parent.wasm,), self.rng.getrandbits(63), parent.home)

    def _crossover_task(self, pool: list[Member]) -> Task:
        a = self._pick(pool)
        b = self._pick(pool)
        for _ in range(3):
            if b.sha256 != a.sha256:
                break
            b = self._pick(pool)
        return Task(self._choose("crossover"), (a.wasm, b.wasm), self.rng.getrandbits(63), a.home)

    def _absorb(self, offspring: list[Offspring]) -> None:
        """Record every offspring, then form the next population: the top `keep_fraction` of the
        current one (elitism), then the best correct children, then — only if too few children were
        correct — the next-best survivors."""
        parent_fit = {m.sha256: m.fitness for m in self.population}
        variation = set(self.mutators) | set(self.crossovers)
        children: dict[str, Member] = {}
        credit: dict[str, list[int]] = {}  # operator -> [times drawn, offspring that improved]
        for off in offspring:
            self.state.evaluations += off.evaluated
            ev = off.evaluation
            if off.operator in variation:
                # credit is per draw: an operator that was not applicable wasted its slot
                tally = credit.setdefault(off.operator, [0, 0])
                tally[0] += 1
            if off.wasm is None or ev is None:
                continue
            if off.operator in variation:
                best_parent = max((parent_fit.get(p, 0.0) for p in off.parents), default=0.0)
                self.state.offspring_made += 1
                self.state.offspring_valid += ev.valid
                improving = ev.correct and ev.fitness > best_parent
                self.ledger.record(off.operator, valid=ev.valid, correct=ev.correct, improving=improving)
                tally[1] += improving
            if ev.status.blacklists and off.sha256 not in self._known_bad:
                self._blacklist(off.sha256, ev.status.value)
            if ev.correct and off.sha256 not in parent_fit and off.sha256 not in children:
                children[off.sha256] = Member(off.sha256, off.wasm, ev, off.parents, off.operator,
                                              self.state.generation, off.worker)
        for rates in self.rates.values():
            rates.update(credit)
        size = self.config.population
        n_keep = max(1, round(size * self.config.keep_fraction))
        elite = self.population[:n_keep]
        nxt = elite + self._rank(list(children.values()))[: size - len(elite)]
        if len(nxt) < size:
            nxt += self.population[n_keep: n_keep + size - len(nxt)]
        self.population = self._rank(nxt)

    def _rank(self, members: list[Member]) -> list[Member]:
        return rank_pareto(members) if self.config.objectives == "pareto" else rank_weighted(members)

    def _blacklist(self, sha: str, reason: str) -> None:
        self._known_bad.add(sha)
        self._blacklist_delta.append(sha)
        if self.store is not None:
            self.store.blacklist(sha, reason)

    def verify(self, wasm: bytes) -> Verification:
        """Run every held-out case; stop at the first failure."""
        oracle: Oracle = self.problem.oracle
        v = oracle.verify(self.sandbox, wasm, self.problem.function, oracle.held_out, stop_at_first_failure=True)
        return Verification(len(oracle.held_out), 0 if v.ok else max(1, v.failed), v.first_failure)

    def _promote(self, force: bool = False) -> None:
        """Make the best training-correct specimen champion if it also passes every held-out case.

        Held-out runs are the main process's largest cost, so they happen every
        `config.verify_every` generations (a count, not a clock, so runs stay reproducible);
        the final champion is always verified (`force`)."""
        assert self.champion is not None
        if not force and self.state.generation % self.config.verify_every:
            self.state.stagnant += 1
            return
        best_by_fitness = rank_weighted(self.population)
        improved = False
        retrain = False
        for cand in best_by_fitness[:4]:
            if cand.fitness <= self.champion.fitness or cand.sha256 == self.champion.sha256:
                break
            v = self.verify(cand.wasm)
            if v.failures == 0:
                self.champion, self.champion_evidence, improved = cand, v, True
                break
            # A counterexample: never adopt it, and teach the search what it got wrong.
            self._blacklist(cand.sha256, "fails a held-out case")
            self.population = [m for m in self.population if m.sha256 != cand.sha256]
            self.state.extra_train.append(self.problem.oracle.held_out[v.first_failure])
            retrain = True
        if retrain:
            self._retrain()
        self.state.stagnant = 0 if improved else self.state.stagnant + 1

    def _retrain(self) -> None:
        """The training set grew: re-measure the original and re-score the population on it."""
        self._drain()
        original = self._measure_original()
        others = [m for m in self.population if m.sha256 != original.sha256]
        results = self.evaluator.run([Task(None, (m.wasm,), 0, m.home) for m in others], self._context())
        self.state.evaluations += sum(r.evaluated for r in results)
        keep = [original] + [replace(m, evaluation=r.evaluation, home=r.worker) for r, m in zip(results, others)
                             if r.evaluation is not None and r.evaluation.correct]
        for r in results:
            if r.evaluation is not None and r.evaluation.status.blacklists and r.sha256 not in self._known_bad:
                self._blacklist(r.sha256, r.evaluation.status.value)
        self.population = self._rank(keep)
        champ = next((m for m in self.population if m.sha256 == self.champion.sha256), None)
        self.champion = champ or original

    def _log(self, population: list[Member], offspring: list[Offspring]) -> None:
        made = [o for o in offspring if o.wasm is not None and o.operator is not None]
        valid = [o for o in made if o.evaluation is not None and o.evaluation.valid]
        correct = [o for o in valid if o.evaluation.correct]
        fits = [m.fitness for m in population] or [0.0]
        base = self.baseline
        hv, front = 0.0, []
        if self.config.objectives == "pareto":
            front = first_front(population)
            pts = [(m.evaluation.fuel / max(1, base.fuel), m.evaluation.peak_pages / max(1, base.peak_pages),
                    m.evaluation.size / max(1, base.code_size)) for m in front]
            hv = hypervolume(pts, (2.0, 2.0, 2.0))
        row = GenerationRow(
            generation=self.state.generation,
            best_fitness=round(max(fits), 6),
            median_fitness=round(statistics.median(fits), 6),
            best_fuel=min((m.evaluation.fuel for m in population), default=0),
            champion_fuel=self.champion.evaluation.fuel if self.champion else 0,
            offspring=len(made),
            valid_rate=round(len(valid) / len(made), 4) if made else 0.0,
            correct_rate=round(len(correct) / len(made), 4) if made else 0.0,
            evaluations=self.state.evaluations,
            seconds=round(time.monotonic() - self.started, 3),
            hypervolume=round(hv, 6),
            front_size=len(front),
        )
        self.logbook.append(row)
        if self.store is not None and self.run_id is not None:
            self.store.log_generation(self.run_id, row.generation,
                                     {**asdict(row), "operator_probabilities": self.operator_probabilities})

    # --- persistence -----------------------------------------------------------------------

    def _checkpoint(self) -> None:
        if self.store is None or self.run_id is None:
            return
        fresh = [m for m in self.population if m.sha256 not in self._stored]
        if self.store.caps.max_specimens or self.store.caps.max_store_mb:
            # forgetting may have removed a specimen this run stored before and has now bred again:
            # store it again, or its children would name a parent without bytes
            known = [m.sha256 for m in self.population if m.sha256 in self._stored]
            gone = self.store.missing(known) if known else set()
            fresh += [m for m in self.population if m.sha256 in gone]
        if fresh:
            self.store.put_many([dict(wasm=m.wasm, function=self.problem.function, fuel=m.evaluation.fuel,
                                      fitness=m.fitness, metrics=_eval_dict(m.evaluation), parents=m.parents,
                                      operator=m.operator, generation=m.generation, run_id=self.run_id)
                                 for m in fresh])
            self._stored.update(m.sha256 for m in fresh)
        state = {
            "generation": self.state.generation,
            "evaluations": self.state.evaluations,
            "offspring_made": self.state.offspring_made,
            "offspring_valid": self.state.offspring_valid,
            "stagnant": self.state.stagnant,
            "rng": _rng_state(self.rng),
            "population": [m.sha256 for m in self.population],
            "lineage": {m.sha256: [list(m.parents), m.operator, m.generation] for m in self.population},
            "champion": self.champion.sha256 if self.champion else None,
            "extra_train": [_case_dict(c) for c in self.state.extra_train],
            "ledger": self.ledger.to_dict(),
            "operator_rates": {pool: r.to_state() for pool, r in self.rates.items()},
        }
        self.store.save_checkpoint(self.run_id, self.state.generation, state)

    def _restore(self, run_id: int) -> bool:
        cp = self.store.load_checkpoint(run_id)
        if cp is None:
            return False
        _, st = cp
        self.state = RunState(generation=st["generation"], evaluations=st["evaluations"],
                              offspring_made=st["offspring_made"], offspring_valid=st["offspring_valid"],
                              stagnant=st["stagnant"], extra_train=[_case_from(d) for d in st["extra_train"]])
        self.rng.setstate(_rng_from(st["rng"]))
        self.ledger = OperatorLedger.from_dict(st["ledger"])
        for pool, saved in st.get("operator_rates", {}).items():
            if pool in self.rates:
                self.rates[pool].restore(saved)
        original = self._measure_original()
        tasks, meta = [], []
        for sha in st["population"]:
            data = self.store.get_specimen(sha)
            if data is None:
                continue
            tasks.append(Task(None, (data,), 0))
            meta.append(st["lineage"].get(sha, [[], None, 0]))
        results = self.evaluator.run(tasks, self._context())
        members = [original]
        for r, (parents, op, gen) in zip(results, meta):
            if r.evaluation is not None and r.evaluation.correct and r.sha256 != original.sha256:
                members.append(Member(r.sha256, r.wasm, r.evaluation, tuple(parents), op, gen))
        self.population = self._rank(members)
        champ_sha = st.get("champion")
        champ = next((m for m in self.population if m.sha256 == champ_sha), original)
        self.champion, self.champion_evidence = champ, self.verify(champ.wasm)
        if self.champion_evidence.failures:
            self.champion, self.champion_evidence = original, self.verify(original.wasm)
        self.logbook = Logbook(_rows_from(self.store.logbook(run_id)))
        return True

    def finish(self, reason: str) -> None:
        """End the run now (for hosts that drive `step` themselves): final held-out check of the champion,
        with the original as the fallback, and the run's summary in the store."""
        self._finish(reason)

    def _finish(self, reason: str) -> None:
        self._drain()
        self._promote(force=True)
        final = self.verify(self.champion.wasm)
        if final.failures and self.champion.sha256 != self.problem.sha256:
            # cannot happen for a deterministic module (the champion passed these cases before);
            # if it does, the original is the answer and the champion is never trusted again
            self._blacklist(self.champion.sha256, "failed a held-out case on the final check")
            self.champion = self._measure_original()
            final = self.verify(self.champion.wasm)
        self.champion_evidence = final
        if self.store is not None and self.run_id is not None:
            self.store.put_specimen(self.champion.wasm, function=self.problem.function,
                                    fuel=self.champion.evaluation.fuel, fitness=self.champion.fitness,
                                    metrics=_eval_dict(self.champion.evaluation),
                                    parents=self.champion.parents, operator=self.champion.operator,
                                    generation=self.champion.generation, run_id=self.run_id)
            self.store.finish_run(self.run_id, {"stop": reason, "champion": self.champion.sha256,
                                                "champion_fuel": self.champion.evaluation.fuel,
                                                "baseline_fuel": self.baseline.fuel,
                                                "held_out_failures": final.failures,
                                                "operator_probabilities": self.operator_probabilities})

    @property
    def valid_offspring_rate(self) -> float:
        s = self.state
        return s.offspring_valid / s.offspring_made if s.offspring_made else 0.0


def _rows_from(rows: list[dict]) -> list[GenerationRow]:
    fields = GenerationRow.__dataclass_fields__
    return [GenerationRow(**{k: r[k] for k in fields}) for r in rows if all(k in r for k in fields)]


def _eval_dict(ev: Evaluation) -> dict:
    return {"status": ev.status.value, "fuel": ev.fuel, "peak_pages": ev.peak_pages, "size": ev.size,
            "energy": ev.energy, "fitness": ev.fitness}


def _rng_state(rng: random.Random) -> list:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def _rng_from(data: list) -> tuple:
    return (data[0], tuple(data[1]), data[2])


def _case_dict(c: Case) -> dict:
    return {"args": list(c.args), "expect": None if c.expect is None else list(c.expect),
            "memory": [[o, b.hex()] for o, b in c.memory], "trap": c.trap}


def _case_from(d: dict) -> Case:
    return Case(args=tuple(d["args"]), expect=None if d["expect"] is None else tuple(d["expect"]),
                memory=tuple((o, bytes.fromhex(h)) for o, h in d["memory"]), trap=d["trap"])
