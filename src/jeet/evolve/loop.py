"""The evolution of one module: the genetic algorithm, the gate, the store and the workers, composed.

`GeneticAlgorithm` (algorithm.py) breeds and ranks; the evaluator's workers judge offspring on the
training cases (a hard gate: fitness 0 when wrong); the `Gate` (gate.py) decides what may become
champion — every held-out case must pass, and a candidate that fails one is blacklisted and the
failing case joins the training set; checkpoint.py persists and resumes; driver.py pipelines the
generations and decides when to stop. This class owns the run's state and the steps that need all
of them: measuring the original, re-scoring after the training set grew, the logbook.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, replace
from itertools import takewhile
from typing import Callable, Mapping

from ..errors import JeetError
from ..fitness import Measurement, hypervolume
from ..genetics import Genome, OperatorLedger
from ..genetics.forms import forms
from ..oracle import Case, Oracle
from ..sandbox import Sandbox
from ..store import Store
from ..timing import CostStore, Judgement, UntimeableError
from . import checkpoint
from .algorithm import GeneticAlgorithm
from .config import EvolveConfig
from .driver import Pipeline, drive, stop_reason
from .gate import Blacklist, Candidate, FirstAccepted, Gate, HeldOutCheck, KnownBad, Verification
from .logbook import GenerationRow, Logbook
from .pool import Evaluator
from .proof_check import PROOF_LIMIT_FACTOR, ProofCheck
from .population import Member, first_front, rank_weighted
from .race import FINAL_MIN_TIME_S, NativeTimeRace, final_judgement, native_costs, probe
from .problem import Problem
from .seeding import wasm_opt_seeds
from .state import RunState
from .evaluation import Status
from .worker import Context, Offspring, Task, WorkerSetup, evaluate_candidate, growth_cap, seen_key, sha256
from ..wasm.analysis import loop_count

__all__ = ["Evolution", "RunState", "Verification"]

CONTENDERS = 4  # members offered to the gate per promotion round, best first
LOOP_SHAPE_ODDS = 0.25  # a member whose loops do not pair up with the input's: its proof's odds, scaled
OFFERED_CAP = 64  # members offered lately, remembered until their proof is in
MAIN_MODULE_CACHE = 128  # compiled contenders and champions in this process (re-checked across rounds)
# How many judged specimens a run remembers as "seen" (tens of MB in each process); a long run (a node, a
# runtime) then starts its seen set afresh, so memory stays bounded and only old repeats slip through.
SEEN_CAP = 250_000
WASM_OPT_TIMEOUT_S = 60.0  # the wasm-opt seeds, at most (and never past the run's deadline)
# At the end of a budgeted run the proof still running gets this share of the budget (at most the cap) to
# answer; what is not proved by then is not adopted, so the solver keeps the run near its budget.
PROOF_GRACE_SHARE = 0.1
PROOF_GRACE_MAX_S = 5.0


class Evolution:
    """Evolve `problem` under `config`; `store` (optional) persists specimens, lineage and checkpoints.

    `usage` (optional) maps specimen hashes to how often a runtime has served them; it feeds the
    usage_frequency term of the fitness (a specimen not in it counts as often as the original)."""

    def __init__(self, problem: Problem, config: EvolveConfig, *, store: Store | None = None,
                 evaluator: Evaluator | None = None, resume: bool = False,
                 usage: Mapping[str, int] | None = None, deadline: float | None = None) -> None:
        self.started = time.monotonic()  # the budget covers building the run (workers, sandbox, prover) too
        # when the run must be over (time.monotonic()): the caller's (an archipelago's), else the budget's
        self.deadline = deadline if deadline is not None or config.budget_s is None else self.started + config.budget_s
        self.problem = problem
        self.config = config
        self.store = store
        self.algorithm = GeneticAlgorithm(config)
        self.rng = self.algorithm.rng
        self.limits = problem.limits
        self.usage = dict(usage or {})
        known_bad = KnownBad.of(store)
        setup = WorkerSetup(function=problem.function, limits=self.limits, operators=config.operators,
                            known_bad=known_bad, novelty_retries=config.novelty_retries,
                            max_child_bytes=growth_cap(len(problem.wasm)))
        self._own_evaluator = evaluator is None
        self.evaluator = evaluator or Evaluator(setup, config.workers)
        self.pipeline = Pipeline(self.evaluator)
        # champions and resumed populations compile once and then come from the store's module cache
        self.sandbox = Sandbox(self.limits, cache_dir=store.root / "compiled" if store is not None else None,
                               cache_size=MAIN_MODULE_CACHE)
        self.state = RunState()
        self.proof = self._proof_check() if config.prove else None
        checks = [HeldOutCheck(self.sandbox, problem.oracle, problem.function)] + ([self.proof] if self.proof else [])
        self.gate = Gate(checks, base_train=problem.oracle.train, blacklist=Blacklist(store, known_bad))
        self.past_champions: list[Member] = []  # earlier champions, the final check's fallbacks (newest last)
        # members offered to the gate lately: one whose proof comes in after selection dropped it still races
        self._offered: dict[str, Member] = {}
        self._tallied: set[str] = set()  # offered members whose proof answer is counted in _proof_tally
        self._proof_tally: dict[str, tuple[int, int]] = {}  # operator -> (accepted, answered)
        self._loops: dict[str, int | None] = {}  # sha256 -> loops in the function (None: undecodable)
        self._forms: dict[str, list[Member]] = {}  # champion sha256 -> its correct forms (jeet.genetics.forms)
        self.gate.learned = self.state.extra_train
        self.gate.settle = self.pipeline.settle
        self.logbook = Logbook()
        self.champion: Member | None = None
        self.champion_evidence: Verification | None = None
        self.run_id: int | None = None
        self.final_check_s = 0.0
        self.baseline: Measurement | None = None
        self.stored: set[str] = set()  # specimens this run has already written to the store
        self._resume = resume
        self._restored = self._populated = False
        self._late = False  # a worker declined a task that would have ended past the deadline
        self._best_seen = 0.0
        # every specimen this run has judged (seen_key()s; the last SEEN_CAP of them), in a set and in order
        self.seen: set[int] = set()
        self._seen_keys: list[int] = []
        self._seen_epoch = 0
        self._retries = config.novelty_retries
        # native time (objective "time"): the race that picks champions, the do-no-harm verdict, notices
        self.race: NativeTimeRace | None = None
        self.judgement: Judgement | None = None
        self.improved: bool | None = None
        self.notices: list[str] = []
        # objective "time": ns per execution of each instruction class, so execution_speed compares predicted
        # native time (jeet.fitness.native); None while fuel decides
        self.costs: tuple[tuple[str, float], ...] | None = None

    # --- the parts, under the names callers know --------------------------------------------

    @property
    def population(self) -> list[Member]:
        return self.algorithm.population

    @population.setter
    def population(self, members: list[Member]) -> None:
        self.algorithm.population = members

    @property
    def rates(self):
        return self.algorithm.rates

    @property
    def ledger(self) -> OperatorLedger:
        return self.algorithm.ledger

    @property
    def mutators(self) -> list[str]:
        return self.algorithm.mutators

    @property
    def crossovers(self) -> list[str]:
        return self.algorithm.crossovers

    @property
    def operator_probabilities(self) -> dict[str, float]:
        return self.algorithm.operator_probabilities

    @property
    def train(self) -> tuple[Case, ...]:
        return self.gate.train

    def training_oracle(self) -> Oracle:
        """The oracle workers judge by: the current training set, without the (large) held-out set."""
        return replace(self.problem.oracle, train=self.train, held_out=())

    def fingerprint(self) -> str:
        c = self.config
        key = f"{self.problem.sha256}|{self.problem.function}|{c.seed}|{c.population}|{c.operators}|{c.objectives}|{c.train_size}"
        return sha256(key.encode())

    # --- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        self.sandbox.close()
        if self.proof is not None:
            self.proof.close()
        if self._own_evaluator:
            self.evaluator.close()

    def __enter__(self) -> "Evolution":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        """Measure the original, then build (or restore) the first population (`measure`, `populate`)."""
        self.measure()
        self.populate()

    def measure(self) -> None:
        """What any answer needs: the objective, the run's row in the store, and the original measured
        and checked against its held-out cases, or the run restored from its checkpoint. A host with a
        budget bounds this part itself (it cannot stop half-way and still answer)."""
        if self.champion is not None:
            return
        self._choose_objective()
        if self.store is not None:
            fp = self.fingerprint()
            run_id = self.store.find_resumable_run(fp) if self._resume else None
            if run_id is not None and checkpoint.restore(self, run_id):
                self.run_id = run_id
                self._best_seen = max((m.fitness for m in self.population), default=0.0)
                self.state.improved()
                self._restored = True
                return
            self.run_id = self.store.start_run(fp, {"config": self.config.to_dict(), "function": self.problem.function,
                                                    "input_sha256": self.problem.sha256, "name": self.problem.name})
        original = self.measure_original()
        self.population = [original]
        self.champion = original
        self.champion_evidence = self.verify(original.wasm)
        if self.champion_evidence.failures:
            raise JeetError("the original fails its own held-out cases (is it deterministic?)")

    def populate(self) -> None:
        """The first population: the original, its wasm-opt builds and mutants of it (a restored run has
        its own). It counts against the deadline like the search does: once that has passed, what is
        left (the wasm-opt builds, evaluations not begun) is skipped and the population is what was made
        by then, at the least the original, so the run stops at once with the input as its answer."""
        self.measure()
        if self._restored or self._populated:
            return
        self._populated = True
        original = self.champion
        seeds = [Task(None, (v,), 0) for v in self._extra_seeds()] if self._time_left() > 0 else []
        n_fill = self.config.population - 1 - len(seeds)
        tasks = seeds + [self.algorithm.mutation_task([original]) for _ in range(max(0, n_fill) * 2)]
        results = self.evaluator.run(tasks, self.context()) if self._time_left() > 0 else []
        # seeds descend from the original through wasm-opt; say so in their lineage
        results = [replace(r, operator="wasm-opt", parents=(original.sha256,)) if t.operator is None and r.wasm else r
                   for t, r in zip(tasks, results)]
        self._absorb(results)
        self._best_seen = max(m.fitness for m in self.population)
        self.state.improved()
        self._log(self.population, [])

    def _choose_objective(self) -> None:
        """Under objective "time", race champions natively, unless the input cannot be timed (then fuel decides)."""
        if self.config.objective != "time" or self.race is not None:
            return
        t0 = time.monotonic()
        why = probe(self.problem.wasm, self.problem.function, self.problem.oracle.held_out)
        if why is not None:
            self.notices.append(f"{self.problem.function} cannot be timed natively ({why}); using the fuel objective")
            return
        costs = CostStore(self.store.root) if self.store is not None else None
        self.race = NativeTimeRace(self.problem.function, self.problem.oracle.held_out, seed=self.config.seed,
                                   share=self.config.timing_share, started=self.started, costs=costs)
        self.costs = native_costs(costs)
        self.race.seconds += time.monotonic() - t0
        if isinstance(self.gate.selector, FirstAccepted):  # a selector the caller chose stays
            self.gate.selector = self.race

    def measure_original(self) -> Member:
        """The original on the current training set: the baseline every fitness is relative to."""
        p = self.problem
        ev = evaluate_candidate(self.sandbox, p.function, p.wasm, self.training_oracle(), None, costs=self.costs)
        if not ev.correct:
            raise JeetError(f"the original does not pass its own training cases ({ev.status.value}: {ev.message})")
        self.baseline = replace(ev.measurement(), calls=self.usage.get(sha256(p.wasm), 0))
        ev = evaluate_candidate(self.sandbox, p.function, p.wasm, self.training_oracle(), self.baseline, costs=self.costs)
        return Member(sha256(self.problem.wasm), self.problem.wasm, ev, (), None, 0)

    def _extra_seeds(self) -> list[bytes]:
        if not self.config.use_wasm_opt:
            return []
        return wasm_opt_seeds(self.problem.wasm, self.problem.function,
                              timeout_s=min(WASM_OPT_TIMEOUT_S, self._time_left()))

    def _time_left(self) -> float:
        """Seconds until the deadline (infinite without one; 0 once it has passed)."""
        return float("inf") if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def context(self) -> Context:
        # every hash blacklisted during this run; the evaluator sends each worker only what it lacks
        return Context(oracle=self.training_oracle(), baseline=self.baseline,
                       blacklist_delta=self.gate.blacklist.delta, seen_delta=self._seen_keys,
                       seen_epoch=self._seen_epoch, retries=self._retries, usage=self.usage, deadline=self.deadline,
                       costs=self.costs)

    def _proof_check(self) -> ProofCheck:
        """The gate's proof; a counterexample is learned only if it reproduces on a fresh original."""
        p, oracle = self.problem, self.problem.oracle

        def learnable(case: Case) -> bool:
            return oracle.verify(self.sandbox, p.wasm, p.function, [case]).ok

        c = self.config
        return ProofCheck(p.wasm, p.function, bound=c.prove_bound, timeout_s=c.prove_timeout_s, sandbox=self.sandbox,
                          learnable=learnable, limit_s=PROOF_LIMIT_FACTOR * c.prove_timeout_s, background=True,
                          reproducible=c.budget_s is None)

    # --- ask / tell ------------------------------------------------------------------------------

    def ask(self) -> list[Task]:
        return self.algorithm.ask(idle=self.idle)

    @property
    def idle(self) -> int:
        """Generations since anything last improved."""
        return self.state.generation - self.state.improved_generation

    def tell(self, offspring: list[Offspring]) -> None:
        """Selection first; then, while the next generation (if any) is already out, the bookkeeping."""
        self._absorb(offspring)
        if self.done() is None and not self.pipeline.busy:
            self.pipeline.submit(self.ask(), self.context())
        self.promote()
        self._note_progress()
        self._log(self.population, offspring)
        checkpoint.save(self)

    def step(self) -> GenerationRow:
        """One generation. Its offspring were handed out at the end of the previous step, so the
        workers evaluate them while this process verifies champions and writes the store."""
        results = self.pipeline.collect(self.ask, self.context)
        self.state.generation += 1
        self.tell(results)
        return self.logbook.rows[-1]

    def done(self) -> str | None:
        """Why the run should stop now, or None."""
        reason = stop_reason(self.config, self.state, self.started)
        if reason == "patience" and self.proof is not None and self.proof.busy:
            reason = None  # a contender is waiting for its proof: something may yet improve (the budget still ends it)
        if reason is None and self.deadline is not None and (self._late or time.monotonic() >= self.deadline):
            return "budget"  # the deadline came, or a worker had no time left for a task
        return reason

    def run(self, on_generation: Callable[["Evolution", GenerationRow], None] | None = None) -> str:
        if not self.population:
            self.start()
        return drive(self, on_generation)

    def _absorb(self, offspring: list[Offspring]) -> None:
        self._late = self._late or any(o.late for o in offspring)
        told = self.algorithm.tell(offspring, self.state.generation)
        s = self.state
        s.evaluations += told.evaluated
        s.offspring_made += told.made
        s.offspring_valid += told.valid
        for sha, why in told.bad:
            self.gate.blacklist.add(sha, why)
        judged = repeats = 0
        for off in offspring:
            if off.sha256 is None or off.evaluation is None or off.evaluation.status is Status.BLACKLISTED:
                continue
            if seen_key(off.sha256) in self.seen:
                s.repeats += 1
                repeats += 1
            else:
                s.distinct += 1
                self._see(off.sha256)
            judged += 1
        # retries that mostly fail mean the neighbourhood is exhausted: spend less on them (the widening
        # of a stalled search, and patience, take over); a count, so the run stays reproducible
        full = self.config.novelty_retries
        self._retries = min(full, 1) if judged and repeats * 2 > judged else full
        for m in self.population:  # the original and resumed members count as seen, not as new candidates
            if seen_key(m.sha256) not in self.seen:
                self._see(m.sha256)

    def _see(self, sha: str) -> None:
        if len(self._seen_keys) >= SEEN_CAP:  # a run that goes on for hours: start afresh (workers too)
            self.seen, self._seen_keys, self._seen_epoch = set(), [], self._seen_epoch + 1
        key = seen_key(sha)
        self.seen.add(key)
        self._seen_keys.append(key)

    def _note_progress(self) -> None:
        best = max((m.fitness for m in self.population), default=0.0)
        if best > self._best_seen + 1e-12 or self.state.stagnant == 0:
            self.state.improved()
        self._best_seen = max(self._best_seen, best)

    def _drain(self) -> None:
        self.state.evaluations += sum(r.evaluated for r in self.pipeline.drain())

    # --- migration (islands) -----------------------------------------------------------------

    def emigrants(self, count: int, policy: str = "best") -> list[Member]:
        """Specimens to send to other islands (see `GeneticAlgorithm.emigrants`)."""
        return self.algorithm.emigrants(count, policy)

    def immigrate(self, specimens: list[bytes], source: str = "migration", policy: str = "fair") -> list[Member]:
        """Let specimens from another island (or a peer) join the population.

        Nothing is taken on trust: the gate re-scores each on this island's current training set, and
        only the correct ones are candidates. With the "fair" policy (pygmo's fair replacement) an
        immigrant replaces the worst member only if it ranks better; "worst" always replaces the worst
        members. The next round's 40/30/30 then runs over residents and immigrants together.
        Returns the members that were let in."""
        if policy not in ("fair", "worst"):
            raise JeetError(f"unknown replacement policy {policy!r}: use 'fair' or 'worst'")
        if self.baseline is None:
            raise JeetError("immigrate() needs a started run")
        resident = {m.sha256 for m in self.population}
        oracle = self.training_oracle()

        def evaluate(wasm: bytes):
            self.state.evaluations += 1
            return evaluate_candidate(self.sandbox, self.problem.function, wasm, oracle, self.baseline,
                                      calls=self.usage.get(sha256(wasm)), costs=self.costs)

        passed = self.gate.screen(specimens, sha256, evaluate, skip=resident.__contains__)
        arrivals = [Member(sha256(w), w, ev, (), source, self.state.generation) for w, ev in passed]
        return self.algorithm.merge(arrivals, policy)

    # --- the gate ----------------------------------------------------------------------------------

    def verify(self, wasm: bytes) -> Verification:
        """Run every held-out case; stop at the first failure (no side effects)."""
        return self.gate.judge(Candidate(sha256(wasm), wasm)).verification

    def _in_population(self, member: Member) -> bool:
        return any(m.sha256 == member.sha256 for m in self.population)

    def _contenders(self) -> list[Member]:
        """The members offered to the gate this round, best first. With a proof, members it already
        declined (a timeout, a loop it cannot show equal) are left out, since the answer stands for the run,
        and members it already accepted are always among them: proofs run one at a time, and in a population
        full of near-equal newcomers a proved member would otherwise never reach the race. The places that
        best-first order gives to members still waiting for a proof go to the most promising of them first:
        fitness gained times the odds that a proof accepts it."""
        ranked = rank_weighted(self.population)
        if self.proof is None:
            return ranked[:CONTENDERS]
        self._tally_proofs()
        present = {m.sha256 for m in ranked}
        dropped = [m for k, m in self._offered.items() if k not in present and k not in self.gate.blacklist]
        champ = self.champion.fitness if self.champion is not None else 0.0
        proved = sorted((m for m in ranked + dropped if self.proof.accepted(m.sha256) and m.fitness > champ),
                        key=lambda m: -m.fitness)[:CONTENDERS - 1]
        # only members better than the champion can take over: the odds (a decode each) are not needed for others
        waiting = sorted((m for m in ranked if m.fitness > champ and self.proof.answer(m.sha256) is None),
                         key=lambda m: -(m.fitness - champ) * self._proof_odds(m))[:CONTENDERS - len(proved)]
        for m in waiting:
            self._offered[m.sha256] = m
        while len(self._offered) > OFFERED_CAP:
            self._offered.pop(next(iter(self._offered)))
        # best first, except that the places of those waiting for a proof go to the most promising of them
        order = sorted(proved + waiting, key=lambda m: -m.fitness)
        queue = iter(waiting)
        return [m if self.proof.accepted(m.sha256) else next(queue) for m in order]

    def _tally_proofs(self) -> None:
        """Count, per operator, the offered members whose proof is in and how many of them it accepted."""
        for key, m in self._offered.items():
            j = self.proof.answer(key)
            if j is not None and key not in self._tallied:
                self._tallied.add(key)
                accepted, answered = self._proof_tally.get(m.operator or "?", (0, 0))
                self._proof_tally[m.operator or "?"] = (accepted + j.accepted, answered + 1)

    def _proof_odds(self, m: Member) -> float:
        """How likely a proof is to accept `m`, from its operator's record this run (Laplace's rule). One
        proof runs at a time, so a lineage whose proofs keep failing (constant tweaks of a loop) should not
        keep the prover from an operator whose rewrites prove (a remainder turned into a compare)."""
        accepted, answered = self._proof_tally.get(m.operator or "?", (0, 0))
        odds = (accepted + 1) / (answered + 2)
        # loops that pair up with the input's can be proved for every iteration count (lockstep); others only
        # by unrolling, which on a loop of remainders or multiplies seldom finishes within a check
        if self._loop_count(self.problem.sha256, self.problem.wasm) != self._loop_count(m.sha256, m.wasm):
            odds *= LOOP_SHAPE_ODDS
        return odds

    def _loop_count(self, key: str, wasm: bytes) -> int | None:
        if key not in self._loops:
            if len(self._loops) > SEEN_CAP // 100:
                self._loops.clear()
            self._loops[key] = loop_count(wasm, self.problem.function)
        return self._loops[key]

    def promote(self, force: bool = False) -> None:
        """Make the best training-correct specimen champion if it passes the gate.

        Held-out runs are the main process's largest cost, so they happen every
        `config.verify_every` generations (a count, not a clock, so runs stay reproducible);
        the final champion is always verified (`force`)."""
        assert self.champion is not None
        if not force and (self.state.generation % self.config.verify_every or self._time_left() == 0):
            self.state.stagnant += 1  # past the deadline the final check (finish) promotes instead
            return
        champ = self.champion
        if self.proof is not None:
            self.proof.next_round()
        contenders = list(takewhile(lambda m: m.fitness > champ.fitness and m.sha256 != champ.sha256,
                                    self._contenders()))
        offered = {m.sha256 for m in contenders}
        contenders[:0] = [m for m in self._form_contenders(champ) if m.sha256 not in offered]
        promotion = self.gate.promote(_candidate(champ), (_candidate(m) for m in contenders))
        for v in promotion.rejected:  # condemned: never adopt it (the gate blacklisted it)
            if v.rejection.blacklist:
                self.algorithm.drop(v.candidate.key)
        if promotion.champion is not None:
            self.past_champions.append(self.champion)
            self.champion, self.champion_evidence = promotion.champion.item, promotion.verdict.verification
            if not self._in_population(self.champion):  # raced after selection dropped it
                self.population = self.algorithm.rank(self.population + [self.champion])
            self._credit_native_win(self.champion)
        if any(v.rejection.counterexample is not None for v in promotion.rejected):
            self._retrain()  # the gate taught the search the case it got wrong
        self.state.stagnant = 0 if promotion.champion is not None else self.state.stagnant + 1

    def _form_contenders(self, champ: Member) -> list[Member]:
        """The champion's forms (its branches as selects, its selects as branches, its divisions behind
        small-quotient tests, ...: `jeet.genetics.forms`), offered to every race until each has raced the
        champion, whatever their predicted fitness: the predictor prices an instruction by how often it
        runs, not by a misprediction or a divide skipped, so only the machine can say which form is faster.
        Empty when there is no race; a form that is wrong, rejected or has lost to this champion is left out."""
        if self.race is None:
            return []
        if champ.sha256 not in self._forms:
            if len(self._forms) > OFFERED_CAP:
                self._forms.clear()
            self._forms[champ.sha256] = self._measure_forms(champ)
        out = []
        for alt in self._forms[champ.sha256]:
            if alt.sha256 in self.gate.blacklist or self.race.lost(champ.sha256, alt.sha256):
                continue
            if self.proof is not None and self.proof.answer(alt.sha256) is not None and not self.proof.accepted(alt.sha256):
                continue
            out.append(alt)
        return out

    def _measure_forms(self, champ: Member) -> list[Member]:
        p = self.problem
        try:
            found = forms(Genome.from_bytes(champ.wasm, p.function))
        except JeetError:
            return []
        out = []
        for operator, form in found:
            ev = evaluate_candidate(self.sandbox, p.function, form.wasm, self.training_oracle(), self.baseline,
                                    costs=self.costs)
            if ev.correct:
                out.append(Member(sha256(form.wasm), form.wasm, ev, (champ.sha256,), operator, self.state.generation))
        return out

    def _credit_native_win(self, champion: Member) -> None:
        """A race made `champion` champion: its operator gets the measured ratio (what it did in native time)."""
        race = self.race
        if race is not None and race.last is not None and race.last_winner == champion.sha256:
            self.ledger.record_native(champion.operator or "?", race.last.time_ratio)

    def _retrain(self) -> None:
        """The training set grew: re-measure the original and re-score the population on it."""
        self._drain()
        original = self.measure_original()
        members = self.population + ([] if self._in_population(self.champion) else [self.champion])
        others = [m for m in members if m.sha256 != original.sha256]
        results = self.evaluator.run([Task(None, (m.wasm,), 0, m.home) for m in others], self.context())
        self.state.evaluations += sum(r.evaluated for r in results)
        keep = [original] + [replace(m, evaluation=r.evaluation, home=r.worker) for r, m in zip(results, others)
                             if r.evaluation is not None and r.evaluation.correct]
        for r in results:
            if r.evaluation is not None and r.evaluation.status.blacklists:
                self.gate.blacklist.add(r.sha256, r.evaluation.status.value)
        self.population = self.algorithm.rank(keep)
        self.algorithm.forget_archive()
        self._forms.clear()  # measured on the old training set
        champ = next((m for m in self.population if m.sha256 == self.champion.sha256), None)
        self.champion = champ or original
        self._best_seen = max(m.fitness for m in self.population)

    def finish(self, reason: str) -> None:
        """End the run now (for hosts that drive `step` themselves): the final check of the champion,
        with the original as the fallback, and the run's summary in the store."""
        self._drain()
        t0 = time.monotonic()
        if self.race is not None:
            self.race.last_call = True
        if self.proof is None:
            self.promote(force=True)
        elif self.config.budget_s is None:  # bounded by generations: wait for every answer (reproducible)
            self.proof.final()
            self.promote(force=True)
        else:  # a budget: the proof running gets a short grace, then only answers already in can promote
            self.proof.final(grace_s=min(PROOF_GRACE_MAX_S, PROOF_GRACE_SHARE * self.config.budget_s))
            with self.proof.known_only():
                self.promote(force=True)
        original = sha256(self.problem.wasm)
        # the champion, else the newest earlier champion that still passes every check, else the original
        tried = [self.champion] + [m for m in reversed(self.past_champions) if m.sha256 != self.champion.sha256]
        verdict = self.gate.confirm([_candidate(m) for m in tried], original)
        if verdict is not None and verdict.candidate.key != self.champion.sha256:
            fallback = verdict.candidate.item
            self.champion = fallback if fallback.sha256 != original else self.measure_original()
        if verdict is None:
            # cannot happen for a deterministic module (the champion passed these cases before);
            # if it does, the original is the answer and the champion is never trusted again
            self.champion = self.measure_original()
            verdict = self.gate.judge(_candidate(self.champion))
        self.champion_evidence = verdict.verification
        self.final_check_s = time.monotonic() - t0  # the final check's own time, outside the search
        self._do_no_harm()
        if self.store is not None and self.run_id is not None:
            self.store.put_specimen(**checkpoint.specimen_row(self, self.champion))
            self.store.finish_run(self.run_id, {"stop": reason, "champion": self.champion.sha256, "improved": self.improved,
                                                "champion_fuel": self.champion.evaluation.fuel,
                                                "baseline_fuel": self.baseline.fuel,
                                                "held_out_failures": self.champion_evidence.failures,
                                                "distinct_candidates": self.state.distinct,
                                                "repeated_candidates": self.state.repeats,
                                                "operator_probabilities": self.operator_probabilities})

    def _do_no_harm(self) -> None:
        """Under objective "time" the output must be natively faster than the input (`final_judgement`);
        if it is not, the input is the answer. Under fuel (or untimeable), fuel decides, as before."""
        original = sha256(self.problem.wasm)
        self.improved = self.champion.sha256 != original
        if self.race is None:
            return
        t0 = time.monotonic()
        try:
            # a short run gets a shorter measurement (at least 15 rounds, and the A/A control, still decide)
            spend = min(FINAL_MIN_TIME_S, max(0.1, self.config.timing_share * (t0 - self.started)))
            self.judgement = final_judgement(self.problem.wasm, self.champion.wasm, self.problem.function,
                                             self.problem.oracle.held_out, seed=self.config.seed, min_time_s=spend)
        except UntimeableError as exc:
            self.notices.append(f"the best variant cannot be timed natively ({str(exc).splitlines()[0]}); "
                                f"the fuel objective decides")
            return
        finally:
            self.race.seconds += time.monotonic() - t0
        self.improved = self.judgement is not None and self.judgement.improved
        if not self.improved and self.champion.sha256 != original:
            self.champion = self.measure_original()
            self.champion_evidence = self.verify(self.champion.wasm)

    @property
    def timing_seconds(self) -> float:
        return round(self.race.seconds, 3) if self.race is not None else 0.0

    @property
    def valid_offspring_rate(self) -> float:
        s = self.state
        return s.offspring_valid / s.offspring_made if s.offspring_made else 0.0

    # --- the logbook ----------------------------------------------------------------------------

    def _log(self, population: list[Member], offspring: list[Offspring]) -> None:
        made = [o for o in offspring if o.wasm is not None and o.operator is not None]
        valid = [o for o in made if o.evaluation is not None and o.evaluation.valid]
        correct = [o for o in valid if o.evaluation.correct]
        fits = [m.fitness for m in population] or [0.0]
        base = self.baseline
        hv, front = 0.0, []
        if self.config.objectives == "pareto":
            front = first_front(population)
            scale = [max(x, 1e-9 if base.ns is not None and i == 0 else 1.0) for i, x in enumerate(base.objectives())]
            pts = [tuple(x / s for x, s in zip(m.evaluation.objectives(), scale)) for m in front]
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


def _candidate(m: Member) -> Candidate:
    return Candidate(m.sha256, m.wasm, m.fitness, m)
