"""Make and judge offspring; the unit of work a process-pool worker runs.

A task carries its parents' bytes, an operator name and its own seed, so the offspring it yields
does not depend on which worker runs it: a run is reproducible from the master seed alone.

A converged population breeds mostly repeats: children identical to a specimen the run has already
judged. Every worker holds the run's set of seen content hashes (sent by the main process with each
chunk, the same set whichever worker runs the task), and when a child is a repeat it takes one more
random mutation, up to `novelty_retries` times, with seeds derived from the task's own, so the budget
goes to new candidates instead.

A chunk's children are all made before any is judged: those that differ only in their bodies then
share one compile (`jeet.evolve.batch`), which was about half the cost of judging one alone.
"""

from __future__ import annotations

import random
import time
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from ..address import content_address
from ..fitness import Measurement, energy_estimate, predicted_ns, static_mix
from ..fitness.native import EMPTY_MIX
from ..genetics import Genome, Operator, operator_set
from ..oracle import Oracle
from ..sandbox import CompiledModule, ExecutionResult, Limits, Outcome, Sandbox
from .batch import BATCH, BATCH_BYTES, merge, shape_key
from .evaluation import Evaluation, Status, score
from .gate import KnownBad

_FAIL_STATUS = {
    Outcome.TRAP: Status.TRAP,
    Outcome.OUT_OF_FUEL: Status.OUT_OF_FUEL,
    Outcome.TIMEOUT: Status.TIMEOUT,
    Outcome.OUT_OF_MEMORY: Status.OUT_OF_MEMORY,
    Outcome.INVALID: Status.INVALID,
}


@dataclass(frozen=True, slots=True)
class WorkerSetup:
    """What every worker needs once: the function, the limits, the operators and known-bad hashes."""

    function: str
    limits: Limits
    operators: str
    known_bad: KnownBad | frozenset[str] = frozenset()  # the store's blacklist as the run began
    novelty_retries: int = 0  # new tries when a child repeats a specimen the run has seen
    batch: int = BATCH  # children judged with one compile (see jeet.evolve.batch); 1: each alone
    max_child_bytes: int | None = None  # a larger child counts as not applicable (see `growth_cap`)


GROWTH_FACTOR = 8
GROWTH_BYTES = 16384


def growth_cap(input_bytes: int) -> int:
    """The largest child a run on an input of `input_bytes` evaluates. Unrolling and vectorizing grow code a
    few times over; splicing one body's head onto another's whole body doubles it and can stay correct,
    and such children cost nothing under a predictor that counts only what runs: without a cap, gcd's
    population grew to 400 KB modules in five generations, and each evaluation took seconds."""
    return max(GROWTH_FACTOR * input_bytes, input_bytes + GROWTH_BYTES)


@dataclass(frozen=True, slots=True)
class Task:
    operator: str | None  # None: evaluate parents[0] as it is
    parents: tuple[bytes, ...]
    seed: int
    home: int | None = None  # the worker that already holds parents[0] decoded, if known
    chain: tuple[str, ...] = ()  # further mutations applied to the child in turn (a bigger step)
    alternatives: tuple[str, ...] = ()  # operators tried in turn when `operator` does not apply


@dataclass(frozen=True, slots=True)
class Context:
    """Per-generation facts sent with each chunk: the current training set and baseline."""

    oracle: Oracle  # its `train` is the current training set; `held_out` stays in the main process
    baseline: Measurement
    blacklist_delta: Sequence[str] = ()  # hashes blacklisted since the worker's setup
    seen_delta: Sequence[int] = ()  # seen_key()s of specimens the run has judged, since the worker's setup
    seen_epoch: int = 0  # bumped when the run starts its seen set afresh (it is bounded): forget the old one
    retries: int | None = None  # this generation's novelty retries (None: the setup's)
    # calls each specimen has served (a runtime's usage counts), for usage_frequency; unlisted: the baseline's
    usage: Mapping[str, int] = field(default_factory=dict)
    # the run's end, time.monotonic() (one clock for every process on the host): tasks not begun by then are
    # handed back unevaluated, so a generation of a huge module cannot carry the run past its budget
    deadline: float | None = None
    # ns per execution of each instruction class (jeet.timing.costs): execution_speed from predicted native
    # time; None: from fuel (objective fuel)
    costs: tuple[tuple[str, float], ...] | None = None


@dataclass(frozen=True, slots=True)
class Offspring:
    operator: str | None
    parents: tuple[str, ...]
    wasm: bytes | None  # None when the operator was not applicable
    sha256: str | None
    evaluation: Evaluation | None
    evaluated: bool  # False for a cache hit or a blacklisted hash: no sandbox run
    worker: int = 0  # the worker that made it, and holds it decoded: its children go there
    # mutations that changed the child after `operator` did (a chain, or a novelty retry's bigger step)
    steps: tuple[str, ...] = ()
    late: bool = False  # not begun: it would have ended past the run's deadline (no offspring, no credit)
    skipped: tuple[str, ...] = ()  # the task's operators tried before `operator` that did not apply

    @property
    def made_by(self) -> str | None:
        """Who made the child: the operator, or the operator and its further steps ("unroll+const_perturb").
        A child with further steps is theirs together: a semantics-preserving operator is not
        answerable for what a random mutation after it did."""
        if self.operator is None or not self.steps:
            return self.operator
        return "+".join((self.operator, *self.steps))


sha256 = content_address  # the name the loop's modules use


def seen_key(sha: str) -> int:
    """The short form of a content hash workers keep in their seen set (64 bits are plenty to tell repeats)."""
    return int(sha[:16], 16)


_RETRY_STRIDE = 0x9E3779B97F4A7C15  # seeds of successive retries, spread over the 64-bit range
# a worker's caches: children are nearly all new, so compiled modules are rarely asked for again (a few
# percent of compiles hit); genomes come back as parents of the next generations, a population's worth
MODULE_CACHE = 32
GENOME_CACHE = 256


class WorkerState:
    """A sandbox, the operator instances, a genome cache and an evaluation cache for one process."""

    def __init__(self, setup: WorkerSetup, index: int = 0, cache_size: int = 4096) -> None:
        self.setup = setup
        self.index = index
        self.sandbox = Sandbox(setup.limits, cache_size=MODULE_CACHE)
        self.operators: dict[str, Operator] = {op.name: op for op in operator_set("all")}
        try:  # the run's own mutations, for the extra steps of a retry
            self.mutators = [op.name for op in operator_set(setup.operators) if op.arity == 1]
        except ValueError:
            self.mutators = []
        self.known_bad = setup.known_bad
        self.blacklist: set[str] = set()  # what this run condemned
        self.seen: set[int] = set()
        self.seen_epoch = 0
        self._genomes: OrderedDict[str, Genome] = OrderedDict()
        self._evals: OrderedDict[tuple[str, int], Evaluation] = OrderedDict()
        self._cache_size = cache_size
        self._train_key = 0
        # the time per task of the last chunks here (making and judging): a task that would end past the deadline
        # (judged by the quickest of them, so a slow first chunk, which imports and compiles, does not count)
        # is not begun
        self._took: deque[float] = deque(maxlen=5)
        self._pending: dict[str, Genome | None] = {}  # children of the chunk being made, to judge

    def close(self) -> None:
        self.sandbox.close()

    def genome(self, wasm: bytes, sha: str | None = None) -> Genome:
        sha = sha or sha256(wasm)
        g = self._genomes.get(sha)
        if g is None:
            g = Genome.from_bytes(wasm, self.setup.function)
            self._remember(sha, g)
        else:
            self._genomes.move_to_end(sha)
        return g

    def _remember(self, sha: str, g: Genome) -> None:
        """Keep a genome (with its cached analyses) for when it comes back as a parent."""
        self._genomes[sha] = g
        if len(self._genomes) > GENOME_CACHE:
            self._genomes.popitem(last=False)

    def run_chunk(self, tasks: list[Task], ctx: Context) -> list[Offspring]:
        self.blacklist.update(ctx.blacklist_delta)
        if ctx.seen_epoch != self.seen_epoch:
            self.seen, self.seen_epoch = set(), ctx.seen_epoch
        self.seen.update(ctx.seen_delta)
        self._train_key = hash((ctx.oracle.train, ctx.costs))  # evaluations are cached per training set
        return [replace(off, worker=self.index) for off in self._run(tasks, ctx)]

    def run_task(self, task: Task, ctx: Context) -> Offspring:
        return self._run([task], ctx)[0]

    def _run(self, tasks: list[Task], ctx: Context) -> list[Offspring]:
        """Make every task's child first, then judge the new ones together (in batches, see `jeet.evolve.batch`).
        A child that repeats another of the same chunk is judged once: the repeat gets its evaluation
        (or BLACKLISTED, if the evaluation condemned it), unevaluated, as a later chunk would. A task is not
        begun when, at the quickest recent time per task (making and judging), it would end past
        `ctx.deadline`: it comes back `late`."""
        self._pending = {}
        t0 = time.monotonic()
        per_task = min(self._took, default=0.0)
        made: list[Offspring | _Child] = []
        for t in tasks:
            if ctx.deadline is not None and \
                    max(time.monotonic(), t0 + len(made) * per_task) + per_task >= ctx.deadline:
                made.append(Offspring(None, (), None, None, None, False, late=True))
                continue
            made.append(self._make(t, ctx))
        evals = self._judge([m for m in made if isinstance(m, _Child) and m.first], ctx)
        self._pending = {}
        begun = sum(not (isinstance(m, Offspring) and m.late) for m in made)
        if begun:
            self._took.append((time.monotonic() - t0) / begun)
        out = []
        for m in made:
            if isinstance(m, Offspring):
                out.append(m)
                continue
            ev = evals[m.sha]
            if not m.first and ev.status.blacklists:
                ev = Evaluation(Status.BLACKLISTED, size=len(m.wasm))
            out.append(Offspring(m.operator, m.parents, m.wasm, m.sha, ev, m.first, steps=m.steps, skipped=m.skipped))
        return out

    def _make(self, task: Task, ctx: Context) -> "Offspring | _Child":
        """The task's child: an Offspring when nothing needs judging (not applicable, known bad, cached),
        else the child to judge."""
        # A plain evaluation (operator None) has no parents: its bytes are the specimen itself.
        parent_shas = tuple(sha256(p) for p in task.parents) if task.operator is not None else ()
        steps: tuple[str, ...] = ()
        skipped: tuple[str, ...] = ()
        operator = task.operator
        if task.operator is None:
            child_bytes, child_genome = task.parents[0], None
            sha = sha256(child_bytes)
        else:
            try:
                parents = [self.genome(p, s) for p, s in zip(task.parents, parent_shas)]
            except Exception:  # an undecodable parent: nothing to vary
                return Offspring(task.operator, parent_shas, None, None, None, False)
            made = None
            for operator in (task.operator, *task.alternatives):
                made = self._vary(task, operator, parents)
                if made is not None:
                    break
                skipped += (operator,)
            if made is None:
                return Offspring(task.operator, parent_shas, None, None, None, False, skipped=skipped[1:])
            arity = self.operators[operator].arity
            parents, parent_shas = parents[:arity], parent_shas[:arity]
            child, steps = made
            sha = sha256(child.wasm)
            retries = self.setup.novelty_retries if ctx.retries is None else ctx.retries
            for attempt in range(1, retries + 1):
                if not self._known(sha, parent_shas):
                    break
                further = self._further(task, child, attempt)
                if further is not None:
                    child, steps, sha = further[0], (*steps, further[1]), sha256(further[0].wasm)
            child_bytes, child_genome = child.wasm, child
            cap = self.setup.max_child_bytes
            if cap is not None and len(child_bytes) > cap:
                return Offspring(operator, parent_shas, None, None, None, False, skipped=skipped)
        if sha in self.blacklist or sha in self.known_bad:
            ev = Evaluation(Status.BLACKLISTED, size=len(child_bytes))
            return Offspring(operator, parent_shas, child_bytes, sha, ev, False, steps=steps, skipped=skipped)
        cached = self._evals.get((sha, self._train_key))
        if cached is not None:
            return Offspring(operator, parent_shas, child_bytes, sha, cached, False, steps=steps, skipped=skipped)
        first = sha not in self._pending
        self._pending.setdefault(sha, child_genome)
        return _Child(operator, parent_shas, child_bytes, sha, child_genome, steps, skipped, first)

    def _judge(self, children: list["_Child"], ctx: Context) -> dict[str, Evaluation]:
        """Evaluate distinct children: those that can share a module in batches, the rest one by one."""
        evals: dict[str, Evaluation] = {}
        groups: dict[object, list[_Child]] = {}
        alone: list[_Child] = []
        for c in children:
            key = shape_key(c.genome.module, self.setup.function) if self.setup.batch > 1 and len(c.wasm) <= \
                BATCH_BYTES and c.genome is not None and c.genome.module is not None else None
            (alone if key is None else groups.setdefault(key, [])).append(c)
        for members in groups.values():
            size = max(1, min(self.setup.batch, BATCH_BYTES // max(1, len(members[0].wasm))))
            for i in range(0, len(members), size):
                part = members[i:i + size]
                merged = merge([c.genome.module for c in part], self.setup.function) if len(part) > 1 else None
                compiled = self.sandbox.compile(merged.wasm) if merged is not None else None
                if not isinstance(compiled, CompiledModule):
                    alone.extend(part)  # one of them is invalid (or alone): each is judged on its own
                    continue
                for c, export in zip(part, merged.exports):
                    evals[c.sha] = self._judged(c, self.evaluate(c.wasm, ctx, c.genome, (compiled, export)))
        for c in alone:
            evals[c.sha] = self._judged(c, self.evaluate(c.wasm, ctx, c.genome))
        return evals

    def _judged(self, c: "_Child", ev: Evaluation) -> Evaluation:
        if ev.status.blacklists:
            self.blacklist.add(c.sha)
        elif ev.correct and c.genome is not None:
            self._remember(c.sha, c.genome)
        self._evals[(c.sha, self._train_key)] = ev
        if len(self._evals) > self._cache_size:
            self._evals.popitem(last=False)
        return ev

    def _known(self, sha: str, parent_shas: tuple[str, ...]) -> bool:
        """Whether a child would teach the run nothing: a parent, a specimen the run has judged, a hash known
        to be bad, one this worker has judged on the current training set, or another child of this chunk."""
        return (seen_key(sha) in self.seen or sha in parent_shas or sha in self.blacklist or sha in self.known_bad
                or (sha, self._train_key) in self._evals or sha in self._pending)

    def _vary(self, task: Task, operator: str, parents: list[Genome]) -> tuple[Genome, tuple[str, ...]] | None:
        """`operator` (the task's, or one of its alternatives) on `parents`, then the task's chain, and the
        names of the further steps that changed the child."""
        rng = random.Random(task.seed)
        steps: list[str] = []
        try:
            child = self.operators[operator].apply(rng, parents)
            if child is None:
                return None
            for name in task.chain:
                further = self.operators[name].apply(rng, [child])
                if further is not None:
                    child = further
                    steps.append(name)
        except Exception:  # an operator bug must not kill the run; count it as not applicable
            return None
        return child, tuple(steps)

    def _further(self, task: Task, child: Genome, attempt: int) -> tuple[Genome, str] | None:
        """One more random mutation of a child that repeats a known specimen (retry `attempt`, drawn from a
        seed derived from the task's), and its name; None when the drawn one does not apply. Each retry
        moves one step further from the last, so a neighbourhood that keeps giving repeats is left by ever
        bigger steps, at one operator application per retry."""
        if not self.mutators:
            return None
        rng = random.Random((task.seed + attempt * _RETRY_STRIDE) & (2**64 - 1))
        name = rng.choice(self.mutators)
        try:
            further = self.operators[name].apply(rng, [child])
        except Exception:  # as in _vary
            return None
        return (further, name) if further is not None else None

    def evaluate(self, wasm: bytes, ctx: Context, genome: Genome | None = None,
                 compiled: tuple[CompiledModule, str] | None = None) -> Evaluation:
        return evaluate_candidate(self.sandbox, self.setup.function, wasm, ctx.oracle, ctx.baseline,
                                  genome=genome, calls=ctx.usage.get(sha256(wasm)) if ctx.usage else None,
                                  costs=ctx.costs, compiled=compiled)


@dataclass(frozen=True, slots=True)
class _Child:
    """A child made and not yet judged (`first`: the chunk's first child with these bytes)."""

    operator: str | None
    parents: tuple[str, ...]
    wasm: bytes
    sha: str
    genome: Genome | None
    steps: tuple[str, ...]
    skipped: tuple[str, ...]
    first: bool


def run_training(sandbox, subject, function: str, oracle: Oracle, size: int) -> Evaluation | tuple[int, int]:
    """Compile `subject` (a module, or a pair in a `LinkedSandbox`), check the signature and run the training
    cases, stopping at the first failure: the failing Evaluation, or (fuel, peak pages) when all pass."""
    cases = oracle.train
    compiled = sandbox.compile(subject)
    if isinstance(compiled, ExecutionResult):
        return Evaluation(Status.INVALID, size=size, message=compiled.message)
    sig = compiled.signature(function)
    if sig is None or sig.params != oracle.params or sig.results != oracle.results:
        return Evaluation(Status.INVALID, size=size, message=f"{function}: signature changed")
    results = sandbox.run(compiled, function, cases, stop_at_first_failure=True, oracle_check=oracle.check)
    fuel = peak = 0
    for i, (case, res) in enumerate(zip(cases, results)):
        fuel += res.fuel
        peak = max(peak, res.peak_pages)
        if not oracle.check(case, res):
            status = Status.WRONG if res.outcome is Outcome.OK else _FAIL_STATUS.get(res.outcome, Status.WRONG)
            message = res.message or f"training case {i} (arguments {list(case.args)}): {oracle.explain(case, res)}"
            return Evaluation(status, fuel=fuel, peak_pages=peak, size=size, failed_case=i, message=message)
    if len(results) < len(cases):
        return Evaluation(Status.WRONG, fuel=fuel, peak_pages=peak, size=size, failed_case=len(results))
    return fuel, peak


def evaluate_candidate(sandbox: Sandbox, function: str, wasm: bytes, oracle: Oracle,
                       baseline: Measurement | None, *, genome: Genome | None = None,
                       calls: int | None = None, costs: Sequence[tuple[str, float]] | None = None,
                       compiled: tuple[CompiledModule, str] | None = None) -> Evaluation:
    """Run `wasm` on the oracle's training cases (stopping at the first failure); score it against `baseline`.

    `calls` is how often the specimen has been served (usage_frequency); None counts it as the baseline's,
    so a specimen nobody has served yet scores neutral (0.5) on usage. With `costs` (ns per execution of
    each instruction class) the evaluation carries its predicted native time (`jeet.fitness.native`),
    which execution_speed then compares instead of fuel. `compiled` (a module `wasm` was compiled into, and
    the export that calls its `function`: see `jeet.evolve.batch`) saves compiling `wasm` itself."""
    size = len(wasm)
    subject, export = compiled if compiled is not None else (wasm, function)
    ran = run_training(sandbox, subject, export, oracle, size)
    if isinstance(ran, Evaluation):
        return ran
    fuel, peak = ran
    g = _genome(genome, wasm, function)
    energy = _energy(g, fuel)
    ns = _native_ns(g, fuel / max(1, len(oracle.train)), costs) if costs is not None else None
    if calls is None:
        calls = baseline.calls if baseline is not None else 0
    measurement = Measurement(fuel=fuel, peak_pages=peak, code_size=size, calls=calls, energy=energy, ns=ns)
    if baseline is None:
        return Evaluation(Status.OK, fuel=fuel, peak_pages=peak, size=size, energy=energy, ns=ns)
    fit, metrics = score(measurement, baseline)
    return Evaluation(Status.OK, fuel=fuel, peak_pages=peak, size=size, energy=energy, fitness=fit, metrics=metrics,
                      ns=ns)


def _genome(genome: Genome | None, wasm: bytes, function: str) -> Genome | None:
    if genome is not None and genome.module is not None:
        return genome
    try:
        return Genome.from_bytes(wasm, function)
    except Exception:  # an undecodable-but-valid module: costs fall back to plain fuel
        return None


def _energy(g: Genome | None, fuel: int) -> float:
    if g is None:
        return float(fuel)
    try:
        return energy_estimate([g.module.bodies[i] for i in g.targets], fuel)
    except Exception:  # an undecodable-but-valid module still has a cost: count plain fuel
        return float(fuel)


def _native_ns(g: Genome | None, fuel_per_call: float, costs: Sequence[tuple[str, float]]) -> float:
    """Predicted ns per call; without the IR (an undecodable module) fuel is priced as plain ALU work."""
    table = dict(costs)
    if g is None:
        return table.get("entry", 0.0) + fuel_per_call * table.get("int_arith", 0.0)
    mix = EMPTY_MIX
    for i in g.targets:
        mix = mix + g.memo_body("static_mix", i, lambda i=i: static_mix(g.module.bodies[i]))
    return predicted_ns(mix, fuel_per_call, table)
