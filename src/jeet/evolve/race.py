"""Native time decides: a race among correct contenders picks the champion, and do no harm at the end.

Fuel steers the search (cheap and deterministic); native time, as wasmtime's Cranelift runs the
code, decides what takes effect. `NativeTimeRace` is the gate's `Selector`: at a promotion the gate
hands it the best distinct contenders that passed every check, and it times them interleaved with
the incumbent and an identical copy of it (the A/A control) on the held-out cases (`jeet.timing.measure`;
successive halving when there are more than `RACE_WIDTH`); the fastest becomes champion only if
`judge_report` finds it faster than the incumbent with confidence, by more than the copy's spread. It asks the gate to let the workers finish first (`quiet`), so timing
never shares the cores with evaluation. Races are skipped while the time spent timing is above
`share` of the run, so the overhead stays bounded; `seconds` records it.

`final_judgement` is the do-no-harm rule for the output: the champion against the input with an A/A
control (`jeet.timing.judge`: 95 % confidence, at least 3 % faster), in two measurements that must agree.
`probe` tells at the start whether the input can be timed natively at all; when it cannot, the run keeps
the fuel objective.

Every race also teaches the fitness's predictor (`jeet.fitness.native`): with a `CostStore`, each
timed variant's per-class execution counts (`jeet.timing.count_classes`) and measured ns per call
are observed, and the store refits this machine's costs as they accumulate; the next run prices
instruction classes by them.

Nothing here needs checkpointing: a race's outcome is the champion (which the checkpoint holds), and
the losers it remembers only save repeating a race after a resume.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Hashable, Sequence

from ..errors import TimingError
from ..oracle import Case
from ..sandbox import Sandbox
from ..timing import (FEATURES, CostModel, CostStore, Judgement, TimingReport, count_classes, judge, judge_report,
                      measure, pick_cases)
from .gate import Candidate

RACE_WIDTH = 4          # contenders timed in one measurement; more go through successive halving
RACE_MIN_TIME_S = 0.3   # per race measurement (calibration and at least 15 rounds come on top)
FINAL_MIN_TIME_S = 0.5  # the do-no-harm judgement, per measurement
FINAL_REPLICATES = 2    # measurements that must all find the output faster (`jeet.timing.judge`)
RACE_MIN_GAIN = 0.01    # a contender must beat the incumbent's interval by this much to take over


class NativeTimeRace:
    """The gate's selector under `--objective time` (see the module docstring)."""

    wants = RACE_WIDTH
    quiet = True

    def __init__(self, function: str, cases: Sequence[Case], *, seed: int = 0, share: float = 0.15,
                 started: float | None = None, min_time_s: float = RACE_MIN_TIME_S,
                 costs: CostStore | None = None) -> None:
        self.function, self.cases, self.seed = function, tuple(cases), seed
        self.costs = costs  # where measured variants are observed (None: they are not)
        self._observed: set[Hashable] = set()
        self.share, self.min_time_s = share, min_time_s
        self.started = time.monotonic() if started is None else started
        self.seconds = 0.0   # time spent timing (races and the final judgement)
        self.races = 0
        self.skipped = 0     # promotions where the timing budget said no
        self.last: Judgement | None = None
        self.last_winner: Hashable | None = None  # the key `choose` last promoted by a race, judged by `last`
        self._lost: set[tuple[Hashable, Hashable]] = set()  # (incumbent, contender) already raced and lost
        # the run's final promotion: it races whatever the budget says, since what it picks is the output (a
        # short run whose early race lost would otherwise end without racing the contenders proved since)
        self.last_call = False

    def within_budget(self) -> bool:
        """Whether timing has so far taken at most `share` of the run (always, once `last_call` is set)."""
        return self.last_call or self.seconds <= self.share * (time.monotonic() - self.started)

    def ready(self) -> bool:
        """Whether a race would run now (the gate then checks every contender it wants, see `Selector`)."""
        return self.within_budget()

    def lost(self, incumbent: Hashable, contender: Hashable) -> bool:
        """Whether `contender` already raced `incumbent` and lost."""
        return (incumbent, contender) in self._lost

    def choose(self, incumbent: Candidate, accepted: Sequence[Candidate]) -> Candidate:
        self.last_winner = None
        fresh = [c for c in accepted if c.key != incumbent.key and not self.lost(incumbent.key, c.key)]
        if not fresh:
            return incumbent
        if not self.within_budget():
            self.skipped += 1
            return incumbent
        self.races += 1
        field = list(fresh)
        while len(field) > RACE_WIDTH:  # successive halving: a short heat, the faster half goes on
            report = self._measure([incumbent, *field], min_time_s=0.0)
            ranked = [i - 1 for i in report.ranking() if i > 0]
            field = [field[i] for i in ranked[: max(RACE_WIDTH, len(ranked) // 2)]]
            if not field:
                return incumbent
        # the incumbent twice: its identical copy is the A/A control, so timing noise alone never crowns
        # a contender (a variant is never faster than itself)
        report = self._measure([incumbent, incumbent, *field], min_time_s=self.min_time_s)
        ranked = [i for i in report.ranking() if i > 1]
        if not report.variants[0].ok or not report.variants[1].ok or not ranked or not report.agree:
            return incumbent  # incumbent untimeable here, nobody timeable, or results differ: change nothing
        best = ranked[0]
        verdict = judge_report(report, 0, best, control=1, min_gain=RACE_MIN_GAIN)
        self.last = verdict
        if verdict.improved:
            self.last_winner = field[best - 2].key
            return field[best - 2]
        self._lost.update((incumbent.key, c.key) for c in field)
        return incumbent

    def _measure(self, candidates: Sequence[Candidate], *, min_time_s: float):
        t0 = time.monotonic()
        try:
            report = measure([c.subject for c in candidates], self.function, self.cases,  # type: ignore[misc]
                             seed=self.seed + self.races, min_time_s=min_time_s)
            self._observe(candidates, report)
            return report
        finally:
            self.seconds += time.monotonic() - t0

    def _observe(self, candidates: Sequence[Candidate], report: TimingReport) -> None:
        """Hand the cost store each newly timed module's class counts and ns per call (once per module)."""
        if self.costs is None or not report.agree:
            return
        fresh: dict[Hashable, int] = {}  # key -> its first place (the incumbent comes twice: the A/A control)
        for i, c in enumerate(candidates):
            if isinstance(c.subject, bytes) and c.key not in self._observed and report.variants[i].ok:
                fresh.setdefault(c.key, i)
        if not fresh:
            return
        cases = pick_cases(self.cases, report.cases)
        with Sandbox() as sandbox:
            for key, i in fresh.items():
                self._observed.add(key)
                try:
                    counts = count_classes(candidates[i].subject, self.function, cases,  # type: ignore[arg-type]
                                           sandbox=sandbox)
                    self.costs.observe(counts, report.ns_per_call(i), save=False)
                except Exception:  # noqa: BLE001 - learning is best effort: a race never fails for it
                    continue  # a variant whose execution cannot be counted teaches nothing
        try:
            self.costs.save()
        except OSError:
            pass  # the data folder is not writable: the costs stay this run's


def probe(wasm: bytes, function: str, cases: Sequence[Case]) -> str | None:
    """None if `function` of `wasm` can be timed natively on `cases`, else why not (one line)."""
    try:
        report = measure([wasm], function, cases, min_time_s=0.0, min_rounds=1, layouts=1)
        report.variant(0)
    except TimingError as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


def final_judgement(input_wasm: bytes, best_wasm: bytes, function: str, cases: Sequence[Case], *,
                    seed: int = 0, min_time_s: float = FINAL_MIN_TIME_S) -> Judgement | None:
    """Do no harm: the best against the input, with an A/A control, in `FINAL_REPLICATES` measurements
    that must all find it faster (`jeet.timing.judge`). None when the best is the input itself (nothing to
    time: a variant is never faster than itself). Raises UntimeableError when either cannot be timed."""
    if best_wasm == input_wasm:
        return None
    return judge(input_wasm, best_wasm, function, cases, seed=seed, min_time_s=min_time_s,
                 replicates=FINAL_REPLICATES)


@dataclass
class NativeOutcome:
    """What native time made of a finished search: the output (the fastest verified candidate, or the
    input when none is faster with confidence), the do-no-harm verdict, the race that timed them, and
    why native time could not decide (None when it did)."""

    output: Candidate
    judgement: Judgement | None
    race: NativeTimeRace
    untimeable: str | None = None

    @property
    def improved(self) -> bool:
        return self.judgement is not None and self.judgement.improved


def decide_output(original: Candidate, verified: Sequence[Candidate], function: str, cases: Sequence[Case], *,
                  seed: int = 0, min_time_s: float = FINAL_MIN_TIME_S) -> NativeOutcome:
    """For a search whose candidates were ranked by fuel (an archipelago's island champions): race the
    `verified` ones (best by fuel first) natively, then hold the fastest to the do-no-harm rule against
    `original`. When the input cannot be timed, fuel decides (the best verified) and `untimeable` says why."""
    race = NativeTimeRace(function, cases, seed=seed, share=1.0, min_time_s=min_time_s)
    fresh = [c for c in verified if c.key != original.key]
    if not fresh:
        return NativeOutcome(original, None, race)
    why = probe(original.subject, function, cases)  # type: ignore[arg-type]
    if why is not None:
        return NativeOutcome(fresh[0], None, race, why)
    best = race.choose(fresh[0], fresh[1:]) if len(fresh) > 1 else fresh[0]
    t0 = time.monotonic()
    try:
        verdict = final_judgement(original.subject, best.subject, function, cases,  # type: ignore[arg-type]
                                  seed=seed, min_time_s=min_time_s)
    except TimingError as exc:
        return NativeOutcome(fresh[0], None, race, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    finally:
        race.seconds += time.monotonic() - t0
    return NativeOutcome(best if verdict is not None and verdict.improved else original, verdict, race)


def native_costs(store: CostStore | None) -> tuple[tuple[str, float], ...]:
    """ns per execution of each instruction class, for the fitness's predicted native time: this machine's
    costs fitted to native times jeet measured (`store`, kept in the data folder), or the prior without
    one (a run then scores the same wherever it runs)."""
    model = store.model if store is not None else CostModel.prior()
    return tuple(zip(FEATURES, (float(c) for c in model.costs)))
