"""Co-evolution of a caller population and a callee population, judged as linked pairs.

Each generation every side breeds offspring from its best members with jeet's operators (an
operator varies only the module it is given: a caller's child differs from its parent in the
caller's own functions, a callee's child in the functions the caller imports). Each child meets
`partners` members of the other side: first the partner its parent did best with, then — only
if that pair is correct, since a child wrong with its parent's best partner is most likely
broken — random others.
Every pair evaluated goes into the pair-fitness table (`PairTable`), fitness 0 included. A
module's standing is its best pair's fitness ("optimistic" credit: a module is as good as the
best partnership it has shown), and each side keeps its `population` best of parents and
children, always including the champion pair's two members.

Correctness is a hard gate, as in the core loop: a pair must compute the oracle's results on
every training case to score above 0, and it becomes champion — or is kept as a strong pair —
only after passing every held-out case (at least `held_out_factor` times as many). A pair that
fails one is never adopted: it is marked bad, its failing case joins the training set, and the
table is re-scored on the grown set.

Every `keep_every` generations, and once more at the end (`finish`), the strong pairs (symbiosis
score at least `symbiosis_threshold` with `min_observations` other partners on both sides; see
`jeet.symbiosis.table`) that also beat `keep_min_fitness` (0.5 by default: better than the
original pair) are verified on the held-out cases, and the best `keep_pairs` that pass are kept:
their members survive selection, like the champion's, so the partnership propagates together.
`kept_pairs()` gives them with their figures; `jeet.symbiosis.keep.persist_pairs` writes them to
a specimen store and `jeet.symbiosis.bundle.PairBundle` packs them for gossip.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Iterator

from ..address import content_address
from ..evolve.algorithm import tournament
from ..evolve.driver import Progress, drive, stop_reason
from ..evolve.evaluation import Evaluation
from ..evolve.gate import Blacklist, Candidate, Gate, HeldOutCheck, Verdict, Verification
from ..fitness import Measurement
from ..genetics import Genome, Operator, OperatorLedger, operator_set
from ..oracle import Case, Oracle
from ..wasm import WasmError
from ..errors import SymbiosisError
from .config import CoevolveConfig
from .evaluation import callee_genome, caller_genome, evaluate_pair
from .linking import LinkedSandbox
from .pair import Pair
from .problem import PairProblem
from .table import PairTable, Symbiosis

SIDES = ("caller", "callee")
Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Individual:
    """One module of one side, with the genome operators work on and where it came from."""

    side: str
    sha256: str
    wasm: bytes
    genome: Genome
    parents: tuple[str, ...] = ()
    operator: str | None = None
    generation: int = 0


@dataclass(frozen=True, slots=True)
class ScoredPair:
    """A pair with its training evaluation and, when checked, its held-out verification and symbiosis."""

    caller: Individual
    callee: Individual
    evaluation: Evaluation
    verification: Verification | None = None
    symbiosis: Symbiosis | None = None

    @property
    def key(self) -> Key:
        return (self.caller.sha256, self.callee.sha256)

    @property
    def pair(self) -> Pair:
        return Pair(self.caller.wasm, self.callee.wasm)

    @property
    def fitness(self) -> float:
        return self.evaluation.fitness


@dataclass(frozen=True, slots=True)
class GenerationStats:
    generation: int
    evaluations: int
    best_fitness: float
    best_fuel: int
    champion_fitness: float
    champion_fuel: int
    correct_pairs: int
    pairs: int
    strong: int
    seconds: float


@dataclass
class _State(Progress):
    extra_train: list[Case] = field(default_factory=list)  # the gate's learned cases (the same list)


class Coevolution:
    """Co-evolve `problem`'s caller and callee under `config`; `start`, then `step` or `run`."""

    def __init__(self, problem: PairProblem, config: CoevolveConfig) -> None:
        self.problem = problem
        self.config = config
        self.rng = random.Random(config.seed)
        try:
            ops = operator_set(config.operators)
        except ValueError as exc:
            raise SymbiosisError(str(exc)) from None
        self.mutators: list[Operator] = [o for o in ops if o.arity == 1]
        self.crossovers: list[Operator] = [o for o in ops if o.arity == 2]
        if not self.mutators:
            raise SymbiosisError(f"operator set {config.operators!r} has no mutation operator")
        self.sandbox = LinkedSandbox(problem.limits)
        self.table = PairTable()
        self.ledgers = {side: OperatorLedger() for side in SIDES}
        self.state = _State()
        self.callers: list[Individual] = []
        self.callees: list[Individual] = []
        self.baseline: Measurement | None = None
        self.original: ScoredPair | None = None
        self.champion: ScoredPair | None = None
        self.started = time.monotonic()
        self.history: dict[str, Individual] = {}  # every module that joined a population, by hash
        self._evals: dict[Key, Evaluation] = {}
        # the one correctness gate; its blacklist holds the pairs that failed a check (by key), and it
        # remembers the pairs that passed every check
        self.gate = Gate([HeldOutCheck(self.sandbox, problem.oracle, problem.function)],
                         base_train=problem.oracle.train, blacklist=Blacklist(), memo=True, on_reject=self._rejected)
        self.gate.learned = self.state.extra_train
        self._bad_modules: set[str] = set()  # modules that cannot be linked or compiled
        self._kept: dict[Key, ScoredPair] = {}
        self._train_oracle: Oracle | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        self.sandbox.close()

    def __enter__(self) -> "Coevolution":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def train(self) -> tuple[Case, ...]:
        return self.gate.train

    def training_oracle(self) -> Oracle:
        """The oracle pairs are judged by: the problem's, with the current (possibly grown) training set."""
        if self._train_oracle is None:
            self._train_oracle = replace(self.problem.oracle, train=self.train)
        return self._train_oracle

    def start(self) -> None:
        """Measure the original pair (the baseline), verify it, and seed both populations with it."""
        p = self.problem
        try:
            a = self._individual("caller", p.caller)
            b = self._individual("callee", p.callee)
        except (WasmError, ValueError) as exc:
            raise SymbiosisError(f"cannot evolve the pair: {exc}") from None
        self._measure_baseline(a, b)
        self.callers, self.callees = [a], [b]
        self.history[a.sha256], self.history[b.sha256] = a, b
        evaluation = self._evaluate(a, b)
        if not evaluation.correct:
            raise SymbiosisError(f"the original pair fails its own training cases ({evaluation.status.value}: "
                                 f"{evaluation.message})")
        v = self.verify(Pair(a.wasm, b.wasm))
        if v.failures:
            raise SymbiosisError("the original pair fails its own held-out cases (is it deterministic?)")
        self.original = self.champion = ScoredPair(a, b, evaluation, v)
        # the first populations: the originals plus mutants of them, each met by the other original
        for side, pop, other in (("caller", self.callers, b), ("callee", self.callees, a)):
            parent = pop[0]
            tries = 0
            while len(pop) < self.config.population and tries < 20 * self.config.population:
                tries += 1
                child = self._mutant(parent, self.rng.choice(self.mutators))
                if child is None or any(m.sha256 == child.sha256 for m in pop):
                    continue
                pair = (child, other) if side == "caller" else (other, child)
                self._evaluate(*pair)
                pop.append(child)
                self.history[child.sha256] = child
        self.callers = self._rank(self.callers, "caller")
        self.callees = self._rank(self.callees, "callee")

    def _measure_baseline(self, a: Individual, b: Individual) -> None:
        ev = evaluate_pair(self.sandbox, Pair(a.wasm, b.wasm), self.problem.function, self.training_oracle(), None,
                           (a.genome, b.genome))
        if not ev.correct:
            raise SymbiosisError(f"the original pair fails its own training cases ({ev.status.value}: {ev.message})")
        self.baseline = ev.measurement()

    def done(self) -> str | None:
        return stop_reason(self.config, self.state, self.started)

    def run(self, on_generation: Callable[["Coevolution", GenerationStats], None] | None = None) -> str:
        """Evolve until `done()`; returns the stop reason. The champion is verified throughout."""
        if self.champion is None:
            self.start()
        return drive(self, on_generation)

    def finish(self, reason: str | None = None) -> None:
        """The last keep round: verify strong pairs until `keep_pairs` are kept (or candidates run out)."""
        self._keep_strong(max(self.config.verify_per_round, 3 * self.config.keep_pairs))

    # --- pairs from elsewhere ------------------------------------------------------------

    def immigrate(self, pairs: Iterable[Pair], source: str = "migration") -> list[ScoredPair]:
        """Let pairs from elsewhere (a peer's `PairBundle`, another run) join; returns those let in.

        Nothing is taken on trust: each pair is re-scored here on the current training set, and only
        a correct one enters the table, its two members joining their populations (where selection
        keeps them only if they rank). Like any pair, it becomes champion or is kept only after
        passing every held-out case."""
        if self.champion is None:
            raise SymbiosisError("immigrate() needs a started run")
        readable: list[tuple[Individual, Individual]] = []
        for pair in pairs:
            try:
                a = replace(self._individual("caller", pair.caller), operator=source,
                            generation=self.state.generation)
                b = replace(self._individual("callee", pair.callee), operator=source,
                            generation=self.state.generation)
            except (WasmError, ValueError):
                continue
            readable.append((self.history.get(a.sha256, a), self.history.get(b.sha256, b)))
        passed = self.gate.screen(readable, lambda ab: (ab[0].sha256, ab[1].sha256), lambda ab: self._evaluate(*ab),
                                  skip=lambda k: k[0] in self._bad_modules or k[1] in self._bad_modules,
                                  blacklist_failures=False)
        let_in: list[ScoredPair] = []
        for (a, b), ev in passed:
            self.history.setdefault(a.sha256, a)
            self.history.setdefault(b.sha256, b)
            let_in.append(ScoredPair(a, b, ev))
        if let_in:
            self.callers = self._select(self.callers + [sp.caller for sp in let_in], "caller")
            self.callees = self._select(self.callees + [sp.callee for sp in let_in], "callee")
        return let_in

    @property
    def rejected_pairs(self) -> frozenset[Key]:
        """Pairs that were correct on the training cases but failed a held-out case: never champion, never kept."""
        return frozenset(self.gate.blacklist)

    # --- one generation -----------------------------------------------------------------

    def step(self) -> GenerationStats:
        t0 = time.monotonic()
        before = self.state.evaluations
        self.state.generation += 1
        kids = {side: self._offspring(side) for side in SIDES}
        pools = {"caller": self.callers + kids["caller"], "callee": self.callees + kids["callee"]}
        for side in SIDES:
            other = "callee" if side == "caller" else "caller"
            for kid in kids[side]:
                parent_best = self._parent_standing(kid)
                for i, partner in enumerate(self._partners_for(kid, pools[other])):
                    pair = (kid, partner) if side == "caller" else (partner, kid)
                    ev = self._evaluate(*pair)
                    if i == 0 and not ev.correct:
                        break  # wrong with its parent's best partner: most likely broken, spend no more on it
                standing = self.standing(kid.sha256, side)
                ev_any = [self._evals.get(k) for k in self._keys_of(kid)]
                valid = any(e is not None and e.valid for e in ev_any)
                self.ledgers[side].record(kid.operator or "?", valid=valid, correct=standing > 0,
                                          improving=standing > parent_best)
                if not valid:  # not a module at all (or not linkable): no evidence about its partners
                    self._bad_modules.add(kid.sha256)
                    for a, b in self._keys_of(kid):
                        self.table.discard(a, b)
                        self._evals.pop((a, b), None)
                else:
                    self.history.setdefault(kid.sha256, kid)
        self.callers = self._select(pools["caller"], "caller")
        self.callees = self._select(pools["callee"], "callee")
        self._forget_dead()
        improved = self._promote()
        if self.state.generation % self.config.keep_every == 0:
            self._keep_strong(self.config.verify_per_round)
        self.state.stagnant = 0 if improved else self.state.stagnant + 1
        if improved:
            self.state.improved()
        return self._stats(t0, before)

    def _offspring(self, side: str) -> list[Individual]:
        pop = self.callers if side == "caller" else self.callees
        n_keep = max(1, round(len(pop) * self.config.keep_fraction)) if pop else 0
        elite = pop[:max(1, n_keep)]
        n_kids = max(1, self.config.population - n_keep)
        seen = {m.sha256 for m in pop} | self._bad_modules
        kids: list[Individual] = []
        for _ in range(3 * n_kids):
            if len(kids) >= n_kids:
                break
            if self.crossovers and len(elite) >= 2 and self.rng.random() < self.config.crossover_fraction:
                a = self._pick(elite)
                b = self._pick(elite)
                child = None if a.sha256 == b.sha256 else self._crossover(a, b, self.rng.choice(self.crossovers))
            else:
                child = self._mutant(self._pick(elite), self.rng.choice(self.mutators))
            if child is None or child.sha256 in seen:
                continue
            seen.add(child.sha256)
            kids.append(child)
        return kids

    def _pick(self, ranked: list[Individual]) -> Individual:
        return tournament(self.rng, ranked, self.config.tournament)

    def _mutant(self, parent: Individual, op: Operator) -> Individual | None:
        child = _apply(op, random.Random(self.rng.getrandbits(63)), [parent.genome])
        return None if child is None else self._child(parent.side, child, (parent.sha256,), op.name)

    def _crossover(self, a: Individual, b: Individual, op: Operator) -> Individual | None:
        child = _apply(op, random.Random(self.rng.getrandbits(63)), [a.genome, b.genome])
        return None if child is None else self._child(a.side, child, (a.sha256, b.sha256), op.name)

    def _child(self, side: str, genome: Genome, parents: tuple[str, ...], operator: str) -> Individual:
        return Individual(side, content_address(genome.wasm), genome.wasm, genome, parents, operator, self.state.generation)

    def _individual(self, side: str, wasm: bytes) -> Individual:
        genome = caller_genome(wasm, self.problem.function) if side == "caller" else \
            callee_genome(wasm, self.problem.plan.functions)
        return Individual(side, content_address(wasm), wasm, genome)

    def _partners_for(self, kid: Individual, others: list[Individual]) -> list[Individual]:
        """The partner the kid's (first) parent did best with, then random members of the other side."""
        chosen: list[Individual] = []
        best = self._best_partner(kid.parents[0], kid.side) if kid.parents else None
        if best is not None and best.sha256 not in self._bad_modules:
            chosen.append(best)
        taken = {m.sha256 for m in chosen}
        rest = [m for m in others if m.sha256 not in taken]
        self.rng.shuffle(rest)
        chosen.extend(rest[:max(0, self.config.partners - len(chosen))])
        return chosen

    def _best_partner(self, sha: str, side: str) -> Individual | None:
        best = self.table.best_of_caller(sha) if side == "caller" else self.table.best_of_callee(sha)
        return self.history.get(best[0]) if best is not None else None

    def _parent_standing(self, kid: Individual) -> float:
        return max((self.standing(p, kid.side) for p in kid.parents), default=0.0)

    def standing(self, sha: str, side: str) -> float:
        """A module's standing: the best fitness of any pair it was part of (0 if none)."""
        best = self.table.best_of_caller(sha) if side == "caller" else self.table.best_of_callee(sha)
        return best[1] if best is not None else 0.0

    def _keys_of(self, ind: Individual) -> list[Key]:
        if ind.side == "caller":
            return [(ind.sha256, b) for b in self.table.partners_of_caller(ind.sha256)]
        return [(a, ind.sha256) for a in self.table.partners_of_callee(ind.sha256)]

    def _evaluate(self, a: Individual, b: Individual) -> Evaluation:
        key = (a.sha256, b.sha256)
        ev = self._evals.get(key)
        if ev is None:
            ev = evaluate_pair(self.sandbox, Pair(a.wasm, b.wasm), self.problem.function, self.training_oracle(),
                               self.baseline, (a.genome, b.genome))
            self.state.evaluations += 1
            self._evals[key] = ev
        self.table.record(a.sha256, b.sha256, 0.0 if key in self.gate.blacklist else ev.fitness)
        return ev

    def _rank(self, members: list[Individual], side: str) -> list[Individual]:
        def key(m: Individual) -> tuple:
            best = self.table.best_of_caller(m.sha256) if side == "caller" else self.table.best_of_callee(m.sha256)
            fit = best[1] if best is not None else 0.0
            fuel = self._pair_fuel(m, best[0]) if best is not None else 0
            return (-fit, fuel, len(m.wasm), m.sha256)
        return sorted(members, key=key)

    def _pair_fuel(self, m: Individual, partner: str) -> int:
        key = (m.sha256, partner) if m.side == "caller" else (partner, m.sha256)
        ev = self._evals.get(key)
        return ev.fuel if ev is not None else 0

    def _select(self, pool: list[Individual], side: str) -> list[Individual]:
        """The side's `population` best by standing; the members of the champion and of kept pairs
        (at most half the population) survive whatever their rank."""
        unique = list({m.sha256: m for m in pool if m.sha256 not in self._bad_modules}.values())
        ranked = self._rank(unique, side)
        protected: list[Individual] = []
        for sp in [self.champion, *self._kept.values()]:
            member = sp.caller if side == "caller" else sp.callee  # type: ignore[union-attr]
            if all(m.sha256 != member.sha256 for m in protected):
                protected.append(member)
        protected = protected[:max(1, self.config.population // 2)]
        chosen = {m.sha256 for m in protected}
        rest = [m for m in ranked if m.sha256 not in chosen]
        return self._rank(protected + rest[:self.config.population - len(protected)], side)

    def _forget_dead(self) -> None:
        """Drop table entries neither of whose members is alive (nor part of the champion or a kept pair)."""
        alive = {m.sha256 for m in self.callers + self.callees}
        for sp in [self.champion, *self._kept.values()]:
            alive.update(sp.key)  # type: ignore[union-attr]
        for a, b in [(a, b) for (a, b) in self.table if a not in alive and b not in alive]:
            self.table.discard(a, b)
            self._evals.pop((a, b), None)

    # --- verification, champion, strong pairs ---------------------------------------------

    def verify(self, pair: Pair) -> Verification:
        """Run every held-out case on the linked pair; stop at the first failure (remembered if it passes)."""
        return self.gate.judge(Candidate(pair.key, pair)).verification

    def _scored(self, key: Key) -> ScoredPair | None:
        a, b = self.history.get(key[0]), self.history.get(key[1])
        ev = self._evals.get(key)
        if a is None or b is None or ev is None:
            return None
        v = self.gate.judge(Candidate(key, Pair(a.wasm, b.wasm))).verification if self.gate.is_verified(key) else None
        return ScoredPair(a, b, ev, v, self.table.symbiosis(*key) if key in self.table else None)

    def _rejected(self, verdict: Verdict) -> None:
        """The gate rejected a pair (it is blacklisted, its counterexample learned): score it 0, and re-score
        the table on the grown training set."""
        key = verdict.candidate.key
        if verdict.rejection.blacklist:
            self.table.record(key[0], key[1], 0.0)
        if verdict.rejection.counterexample is not None:
            self._train_oracle = None
            self._retrain()

    def _promote(self, attempts: int = 4) -> bool:
        """Make the best training-correct pair champion if it passes the gate.

        A candidate that fails is rejected (which re-scores the table on the grown training set) and
        the next best is tried, up to `attempts` tries."""
        assert self.champion is not None
        champ = self.champion
        promotion = self.gate.promote(Candidate(champ.key, champ.pair, champ.fitness, champ),
                                      self._contenders(attempts))
        if promotion.champion is None:
            return False
        self.champion = replace(promotion.champion.item, verification=promotion.verdict.verification)
        return True

    def _contenders(self, attempts: int) -> Iterator[Candidate]:
        """The best pair better than the champion, recomputed after each rejection (the table changed)."""
        skip: set[Key] = set()
        for _ in range(attempts):
            unseen = [(k, f) for k, f in self.table.items() if f > self.champion.fitness
                      and k not in self.gate.blacklist and k not in skip and k != self.champion.key]
            if not unseen:
                return
            key = min(unseen, key=lambda kf: (-kf[1], self._evals[kf[0]].fuel if kf[0] in self._evals else 0,
                                              kf[0]))[0]
            cand = self._scored(key)
            if cand is None:
                skip.add(key)
                continue
            yield Candidate(key, cand.pair, cand.fitness, cand)

    def _keep_strong(self, budget: int) -> None:
        """Re-rank the strong pairs on the current table and keep the best `keep_pairs` that pass the gate,
        checking at most `budget` pairs not checked before."""
        c = self.config
        if c.keep_pairs == 0:
            return
        kept: dict[Key, ScoredPair] = {}
        for s in self.table.strongest(c.symbiosis_threshold, c.min_observations,
                                      exclude=frozenset(self.gate.blacklist)):
            if len(kept) >= c.keep_pairs:
                break
            key = (s.caller, s.callee)
            if s.fitness <= c.keep_min_fitness:
                continue
            cand = self._scored(key)
            if cand is None:
                continue
            if not self.gate.is_verified(key):
                if budget <= 0:
                    continue
                budget -= 1
            verdict = self.gate.admit(Candidate(key, cand.pair, cand.fitness, cand))
            if not verdict.accepted:
                return  # the table was re-scored: the remaining candidates are stale
            kept[key] = replace(cand, verification=verdict.verification, symbiosis=s)
        self._kept = kept

    def _retrain(self) -> None:
        """The training set grew: re-measure the original pair and re-score every pair still of interest."""
        assert self.original is not None
        self._measure_baseline(self.original.caller, self.original.callee)
        keys = [k for k in self.table if k not in self.gate.blacklist]
        self._evals.clear()
        self.table.clear()
        for k in keys:
            a, b = self.history.get(k[0]), self.history.get(k[1])
            if a is not None and b is not None:
                self._evaluate(a, b)
        for k in self.gate.blacklist:
            if k[0] in self.history and k[1] in self.history:
                self.table.record(k[0], k[1], 0.0)
        self.original = self._rescored(self.original)
        self.champion = self._rescored(self.champion)  # type: ignore[arg-type]
        self._kept = {k: self._rescored(sp) for k, sp in self._kept.items()}
        self.callers = self._rank(self.callers, "caller")
        self.callees = self._rank(self.callees, "callee")

    def _rescored(self, sp: ScoredPair) -> ScoredPair:
        return replace(sp, evaluation=self._evaluate(sp.caller, sp.callee))

    # --- results ---------------------------------------------------------------------------

    def symbiosis_of(self, sp: ScoredPair) -> Symbiosis | None:
        return self.table.symbiosis(*sp.key) if sp.key in self.table else None

    def kept_pairs(self) -> list[ScoredPair]:
        """The strong pairs kept by the last keep round (verified on every held-out case), strongest first."""
        return list(self._kept.values())

    def strongest(self, limit: int = 5) -> list[Symbiosis]:
        """The strongest pairs on the current table, verified or not (for reports)."""
        c = self.config
        return self.table.strongest(c.symbiosis_threshold, c.min_observations, limit=limit,
                                    exclude=frozenset(self.gate.blacklist))

    def lineage(self, sha: str, limit: int = 64) -> list[str]:
        """`sha` and its first-parent ancestors in this run, newest first."""
        out = [sha]
        while len(out) < limit:
            ind = self.history.get(out[-1])
            if ind is None or not ind.parents:
                break
            out.append(ind.parents[0])
        return out

    def ancestry(self, sha: str) -> list[Individual]:
        """Every ancestor of `sha` recorded in this run (all parents, transitively), `sha` included."""
        seen: dict[str, Individual] = {}
        todo = [sha]
        while todo:
            s = todo.pop()
            ind = self.history.get(s)
            if ind is None or s in seen:
                continue
            seen[s] = ind
            todo.extend(ind.parents)
        return list(seen.values())

    def _stats(self, t0: float, before: int) -> GenerationStats:
        assert self.champion is not None
        items = self.table.items()
        correct = [(k, f) for k, f in items if f > 0]
        best_key, best_fit = max(correct, key=lambda kf: kf[1]) if correct else (None, 0.0)
        best_ev = self._evals.get(best_key) if best_key is not None else None
        return GenerationStats(
            generation=self.state.generation,
            evaluations=self.state.evaluations - before,
            best_fitness=best_fit,
            best_fuel=best_ev.fuel if best_ev is not None else 0,
            champion_fitness=self.champion.fitness,
            champion_fuel=self.champion.evaluation.fuel,
            correct_pairs=len(correct),
            pairs=len(items),
            strong=len(self._kept),
            seconds=time.monotonic() - t0,
        )




def _apply(op: Operator, rng: random.Random, parents: list[Genome]) -> Genome | None:
    try:
        return op.apply(rng, parents)
    except Exception:  # an operator bug must not end the run; count it as not applicable
        return None
