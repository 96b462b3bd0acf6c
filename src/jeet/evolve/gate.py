"""The correctness gate: the one place that decides whether a candidate may become champion.

The search itself only ever sees the training cases. Before a candidate is adopted it must pass
every check of the gate, in order (cheapest first): today the held-out cases; a proof of
equivalence or a native-time measurement plug in as further `Check`s, and a race among several
accepted candidates as the gate's `Selector`, without touching the loops that use the gate.

A rejected candidate is blacklisted (never adopted, never evaluated again) and, when the check
found a counterexample, that case joins the training set, so the search cannot come back to the
same mistake. Both genetic algorithms (`jeet.evolve.Evolution` for one module,
`jeet.symbiosis.Coevolution` for a linked pair) judge through this gate.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from dataclasses import dataclass, field, replace
from typing import Callable, Hashable, Iterable, Mapping, Protocol, Sequence, TypeVar

from ..oracle import Case, Oracle
from .evaluation import Evaluation

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Candidate:
    """What the gate judges: a content address, the thing a sandbox runs, and its training fitness.

    `key` is a module's sha256 (or a pair's (caller, callee) hashes); `subject` is the module bytes
    (or a `Pair` for a `LinkedSandbox`); `item` is the caller's own record (a Member, a ScoredPair),
    handed back untouched."""

    key: Hashable
    subject: object
    fitness: float = 0.0
    item: object = None


@dataclass(frozen=True, slots=True)
class GateResult:
    """One check's answer. `counterexample`: a case the candidate gets wrong (it joins the training set);
    `evidence`: what the check measured, for reports and evidence files (JSON-ready values);
    `blacklist`: whether a rejection condemns the candidate for good (a wrong module) or only keeps it
    from being adopted now (say, not measurably faster)."""

    accepted: bool
    check: str
    reason: str = ""
    counterexample: Case | None = None
    evidence: Mapping[str, object] = field(default_factory=dict)
    blacklist: bool = True


class Check(Protocol):
    """One correctness (or do-no-harm) check of the gate."""

    name: str

    def check(self, candidate: Candidate) -> GateResult:
        """Judge `candidate`; must not change any state the search depends on."""
        ...


class Selector(Protocol):
    """Chooses the champion among candidates that passed every check (a native-time race plugs in here).

    The gate collects up to `wants` accepted contenders, best training fitness first, then asks
    `choose`; returning the incumbent means "no change". With `quiet`, the gate first calls its
    `settle` hook, which lets the loop finish the generation its workers are evaluating (the results
    are kept), so a timing race does not share the cores with them. A selector may also have
    `ready()`: while it says False (a race whose timing budget is spent) `choose` could only keep the
    incumbent, so the gate checks just the best contender (to learn its counterexample, if any)."""

    wants: int
    quiet: bool

    def choose(self, incumbent: Candidate, accepted: Sequence[Candidate]) -> Candidate:
        ...


@dataclass(frozen=True, slots=True)
class Verification:
    """The held-out evidence for a candidate: how many cases it ran and how many it failed."""

    cases: int
    failures: int
    first_failure: int | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """Everything the gate found about one candidate, in check order (it stops at the first rejection)."""

    candidate: Candidate
    results: tuple[GateResult, ...]

    @property
    def accepted(self) -> bool:
        return all(r.accepted for r in self.results)

    @property
    def rejection(self) -> GateResult | None:
        return next((r for r in self.results if not r.accepted), None)

    @property
    def verification(self) -> Verification | None:
        """The held-out figures, when the held-out check ran."""
        r = next((r for r in self.results if r.check == HeldOutCheck.name), None)
        if r is None:
            return None
        e = r.evidence
        return Verification(int(e["cases"]), int(e["failures"]), e.get("first_failure"))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Promotion:
    """The outcome of one promotion round: the new champion (None: keep the incumbent) and every verdict."""

    champion: Candidate | None
    verdict: Verdict | None
    rejected: tuple[Verdict, ...] = ()


class HeldOutCheck:
    """Every held-out case, stopping at the first failure, which is returned as the counterexample."""

    name = "held_out"

    def __init__(self, sandbox, oracle: Oracle, function: str) -> None:
        self.sandbox, self.oracle, self.function = sandbox, oracle, function
        # keys that passed (the held-out set does not change during a run): a contender that waits for a
        # later check (a proof running in the background) is not run through every case again each round
        self._passed: dict[object, GateResult] = {}

    def check(self, candidate: Candidate) -> GateResult:
        known = self._passed.get(candidate.key)
        if known is not None:
            return known
        held = self.oracle.held_out
        v = self.oracle.verify(self.sandbox, candidate.subject, self.function, held,  # type: ignore[arg-type]
                               stop_at_first_failure=True)
        failures = 0 if v.ok else max(1, v.failed)
        first = v.first_failure
        evidence = {"cases": len(held), "failures": failures, "first_failure": first}
        if not failures:
            self._passed[candidate.key] = out = GateResult(True, self.name, evidence=evidence)
            return out
        cx = held[first] if first is not None and 0 <= first < len(held) else None
        return GateResult(False, self.name, "fails a held-out case", cx, evidence)


class FirstAccepted:
    """The default selector: the best-ranked contender that passes every check."""

    wants = 1
    quiet = False

    def choose(self, incumbent: Candidate, accepted: Sequence[Candidate]) -> Candidate:
        return accepted[0]


class KnownBad:
    """The hashes a store had blacklisted when a run began, compactly: the first 64 bits of each, sorted
    (8 bytes an entry, where a set of hex strings takes about 150; every worker holds a copy). Two hashes
    agreeing on 64 bits are, for a blacklist, the same."""

    def __init__(self, prefixes: Iterable[int] = ()) -> None:
        self._keys = array("Q", sorted(set(prefixes)))

    @classmethod
    def of(cls, store) -> "KnownBad":
        return cls(store.blacklisted_prefixes() if store is not None else ())

    def __contains__(self, sha: object) -> bool:
        if not isinstance(sha, str) or len(sha) < 16:
            return False
        try:
            key = int(sha[:16], 16)
        except ValueError:
            return False
        i = bisect_left(self._keys, key)
        return i < len(self._keys) and self._keys[i] == key

    def __len__(self) -> int:
        return len(self._keys)


class Blacklist:
    """Keys never to adopt or evaluate again; module hashes also go to the store's persistent blacklist.

    `known` holds what was bad before the run (a `KnownBad`, or any keys); `delta` lists what was added
    during this run, in order, so evaluation workers can be told only what they have not heard yet."""

    def __init__(self, store=None, known: KnownBad | Iterable[Hashable] = ()) -> None:
        self.store = store
        self._known = known if isinstance(known, KnownBad) else frozenset(known)
        self._keys: set[Hashable] = set()
        self.delta: list[Hashable] = []

    def __contains__(self, key: object) -> bool:
        return key in self._keys or key in self._known

    def __len__(self) -> int:
        """How many keys this run added."""
        return len(self._keys)

    def __iter__(self):
        """The keys this run added (those known before it are kept only in a form to look up)."""
        return iter(self._keys)

    def add(self, key: Hashable, reason: str) -> None:
        """Record `key`, once (a module hash also in the store, with `reason`)."""
        if key in self:
            return
        self._keys.add(key)
        self.delta.append(key)
        if self.store is not None and isinstance(key, str):
            self.store.blacklist(key, reason)


class Gate:
    """Held-out verification, promotion, blacklist and learned training cases, with pluggable checks.

    `checks` run in order and stop at the first rejection. `on_reject(verdict)` lets the loop react
    at once to a rejection (drop the candidate, re-score on the grown training set). With `memo`, an
    accepted verdict is remembered by key (the checks are deterministic), so a pair checked for a
    keep round is not checked again when it contends for champion.

    Where more checks plug in: `gate.checks.append(ProofCheck(...))` (or build the list in
    `Evolution.__init__` / `Coevolution.__init__`), and `gate.selector = NativeTimeRace(...)`; nothing
    else changes: promotion, blacklisting, learning counterexamples and the final check go through here."""

    def __init__(self, checks: Sequence[Check], *, base_train: Sequence[Case] = (), blacklist: Blacklist | None = None,
                 selector: Selector | None = None, memo: bool = False,
                 on_reject: Callable[[Verdict], None] | None = None) -> None:
        self.checks: list[Check] = list(checks)
        self.blacklist = blacklist if blacklist is not None else Blacklist()
        self.selector: Selector = selector or FirstAccepted()
        self.on_reject = on_reject
        self.settle: Callable[[], None] | None = None  # see Selector.quiet
        self.base_train = tuple(base_train)
        self.learned: list[Case] = []  # counterexamples found by the checks, in order
        self._memo: dict[Hashable, Verdict] | None = {} if memo else None

    # --- the training set the gate has taught the search ------------------------------------

    @property
    def train(self) -> tuple[Case, ...]:
        return self.base_train + tuple(self.learned)

    def learn(self, case: Case) -> None:
        self.learned.append(case)

    # --- judging -------------------------------------------------------------------------------

    def judge(self, candidate: Candidate) -> Verdict:
        """Run the checks without side effects (no blacklist, no learning)."""
        if self._memo is not None and candidate.key in self._memo:
            return replace(self._memo[candidate.key], candidate=candidate)
        results: list[GateResult] = []
        for c in self.checks:
            r = c.check(candidate)
            results.append(r)
            if not r.accepted:
                break
        verdict = Verdict(candidate, tuple(results))
        if self._memo is not None and verdict.accepted:
            self._memo[candidate.key] = verdict
        return verdict

    def is_verified(self, key: Hashable) -> bool:
        """Whether `key` already passed every check (with `memo`)."""
        return self._memo is not None and key in self._memo

    def admit(self, candidate: Candidate) -> Verdict:
        """Judge `candidate`; a rejected one is blacklisted, its counterexample learned, `on_reject` told."""
        verdict = self.judge(candidate)
        bad = verdict.rejection
        if bad is not None:
            if bad.blacklist:
                self.blacklist.add(candidate.key, bad.reason or bad.check)
            if bad.counterexample is not None:
                self.learn(bad.counterexample)
            if self.on_reject is not None:
                self.on_reject(verdict)
        return verdict

    def promote(self, incumbent: Candidate, contenders: Iterable[Candidate]) -> Promotion:
        """Admit `contenders` (best first; the caller yields only those better than the incumbent, and may
        recompute them lazily after a rejection) until the selector has what it wants; then let it choose."""
        accepted: list[Verdict] = []
        rejected: list[Verdict] = []
        ready = getattr(self.selector, "ready", None)
        ready = ready() if ready is not None else True
        for cand in contenders:
            v = self.admit(cand)
            (accepted if v.accepted else rejected).append(v)
            if len(accepted) >= (self.selector.wants if ready else 1):
                break
        if not accepted or not ready:
            return Promotion(None, None, tuple(rejected))
        if getattr(self.selector, "quiet", False) and self.settle is not None:
            self.settle()
        chosen = self.selector.choose(incumbent, [v.candidate for v in accepted])
        if chosen.key == incumbent.key:
            return Promotion(None, None, tuple(rejected))
        verdict = next(v for v in accepted if v.candidate.key == chosen.key)
        return Promotion(chosen, verdict, tuple(rejected))

    def confirm(self, candidates: Iterable[Candidate], fallback: Hashable, note: str = "on the final check"
                ) -> Verdict | None:
        """The final check: the first candidate that passes every check, or the one keyed `fallback` (the
        original) whatever it shows. A candidate that fails here is blacklisted (it passed before, so this
        means a non-deterministic module); nothing is learned. None if neither is found."""
        for cand in candidates:
            verdict = self.judge(cand)
            if verdict.accepted or cand.key == fallback:
                return verdict
            bad = verdict.rejection
            if bad.blacklist:
                self.blacklist.add(cand.key, f"{bad.reason or bad.check} {note}")
        return None

    # --- what comes from elsewhere ----------------------------------------------------------------

    def screen(self, arrivals: Iterable[T], key: Callable[[T], Hashable | None],
               evaluate: Callable[[T], Evaluation], *, skip: Callable[[Hashable], bool] = lambda k: False,
               blacklist_failures: bool = True) -> list[tuple[T, Evaluation]]:
        """Nothing from elsewhere (another island, a peer, a runtime) is taken on trust: each arrival not
        known bad (nor `skip`ped) is re-scored here on the current training set and only the correct ones
        are returned, with their evaluations. `key` returning None drops an arrival (it cannot be read)."""
        out: list[tuple[T, Evaluation]] = []
        taken: set[Hashable] = set()
        for item in arrivals:
            k = key(item)
            if k is None or k in taken or k in self.blacklist or skip(k):
                continue
            ev = evaluate(item)
            if blacklist_failures and ev.status.blacklists:
                self.blacklist.add(k, ev.status.value)
            if ev.correct:
                taken.add(k)
                out.append((item, ev))
        return out
