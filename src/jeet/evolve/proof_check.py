"""The gate's proof: a candidate is adopted only when an SMT check says it behaves as the original.

`ProofCheck` runs `jeet.prove.prove(original, candidate)` after the held-out cases (they are cheaper
and already passed). It runs only on promotion candidates (the gate checks contenders, never the
offspring the workers evaluate), remembers each verdict by content hash, and in an evolution runs in a
niced child process with a hard wall-clock limit: a proof started in one promotion round is answered
in the next, so the search never waits for the solver (the final check does).

What each answer does (`judge`, shared with the swarm node and the runtime):

* `proved`, or `bounded(k')` with k' >= the configured k: accepted.
* `refuted`: rejected and blacklisted; the counterexample, when it reproduces on a fresh instance,
  joins the training set.
* `unknown` because the semantics does not cover something (floats, SIMD, memory.grow, imports...):
  accepted as "tested only", with that reason — held-out testing is then all the evidence there is.
* `unknown` because the lockstep check (`jeet.prove.lockstep`) found a loop header state on which
  the versions part: rejected whatever the tests say (such a difference hides from them), and blacklisted (the verdict
  would not change).
* `unknown` because the solver gave no answer (timeout, solver failure): rejected without
  blacklisting (not adopted this time; a proof was possible and did not finish). On code with loops
  too: tests drawn at random miss what shows only after hundreds of iterations (a running sum that
  meets its modulus exactly), and variants wrong just there did pass every held-out case.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass

import psutil

from ..errors import JeetError
from ..lifeline import exit_with
from ..memory import give_back
from ..oracle import Case
from ..prove import DIFFERS, ProveError, Verification, loop_free, prove
from ..wasm import WasmError, decode
from .gate import Candidate, GateResult

# a check's wall-clock limit, in per-query timeouts
PROOF_LIMIT_FACTOR = 3.0
VIA = 4  # accepted variants kept as lockstep references
PROVER_NICE = 5  # CFS weight 335 against the workers' 1024: about a quarter of a core while both are busy
# the prover child is stopped when it holds more than this during a check (its resident set; a fresh one
# holds about 120 MB, most of it shared with the other processes), checked every WATCH_S
PROVER_MEMORY_CAP = 240 * 2**20
WATCH_S = 0.05

# reasons of an `unknown` that mean "the solver did not answer", not "the semantics cannot say"
_SOLVER_MARKS = ("no answer within", "(limit ", "timeout", "failed:", "internal error", "did not replay",
                 "no counterexample with short loops")


@dataclass(frozen=True, slots=True)
class Judgement:
    """What a gate does with one `Verification`: adopt it, condemn it, and how to say so."""

    accepted: bool
    blacklist: bool
    status: str      # "proved" | "bounded" | "tested only" | "refuted" | "not adopted"
    reason: str


def solver_gave_up(v: Verification) -> bool:
    """An `unknown` the solver caused (a timeout or failure), as opposed to uncovered features."""
    return v.result == "unknown" and any(m in v.reason for m in _SOLVER_MARKS)


def judge(v: Verification, bound: int) -> Judgement:
    """The gate's policy for one answer (see the module docstring)."""
    if v.accepts(bound):
        if v.result == "proved":
            return Judgement(True, False, "proved", "equal on every input")
        return Judgement(True, False, "bounded", f"equal on every input whose loops run at most {v.bound} iterations")
    if v.result == "refuted":
        return Judgement(False, True, "refuted", "refuted by the solver: differs from the original on a counterexample")
    if v.result == "unknown" and DIFFERS in v.reason:
        # the difference would be found again: blacklisted, so the search does not keep offering it (it
        # ranks well on tests that never reach that state)
        return Judgement(False, True, "not adopted", f"no proof: {v.reason} (held-out tests cannot settle that)")
    if v.result == "bounded":  # a smaller bound than the gate asks for
        return Judgement(False, False, "not adopted", f"only bounded({v.bound}), the gate asks for {bound}")
    if solver_gave_up(v):
        return Judgement(False, False, "not adopted", f"no proof: {v.reason} (not adopted this time)")
    return Judgement(True, False, "tested only",
                     f"tested only: {v.reason} (no proof; held-out cases are the evidence)")


def has_loops(original: bytes, variant: bytes, function: str) -> bool:
    """Whether either version's call tree has a loop (then proofs are bounded)."""
    for data in (original, variant):
        try:
            m = decode(bytes(data))
            f = m.export_func(function)
        except WasmError:
            return True
        if f is None or not loop_free(m, f):
            return True
    return False


def identical() -> Verification:
    """The answer for a candidate that is the original itself (nothing to prove)."""
    return Verification("identical", "proved", None, 0.0, None, "the output is the input module")


def _prover_init(parent: int) -> None:
    """The prover child: somewhat below the evaluation workers on the CPU (a share of a core while they are
    busy, not none: a starved proof would hold back every promotion), and gone when its parent goes (a
    killed node or run must not leave a solver running)."""
    os.nice(PROVER_NICE)
    exit_with(parent)


class ProverProcess:
    """`prove` in a child process of its own, one check at a time, with hard limits: a specimen whose
    translation or queries run long (a hostile one, say) costs `limit_s`, one whose queries grow past
    `memory_cap` bytes (a bit-blasted chain of 64-bit remainders takes gigabytes) is stopped there; either
    way the child is replaced. `start` does not wait, so the search goes on while the child proves."""

    def __init__(self, limit_s: float, memory_cap: int = PROVER_MEMORY_CAP) -> None:
        self.limit_s = limit_s
        self.memory_cap = memory_cap
        self._pool: ProcessPoolExecutor | None = None
        self.pending: tuple[str, bytes, object, float] | None = None  # key, wasm, future, started
        self.over_memory = False  # the last check was stopped for its memory
        self._watchdog: threading.Thread | None = None

    def start(self, key: str, wasm: bytes, *args, **kw) -> None:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver"),
                                             initializer=_prover_init, initargs=(os.getpid(),))
        self.over_memory = False
        self.pending = (key, wasm, self._pool.submit(_prove_and_give_back, *args, **kw), time.monotonic())
        if self._watchdog is None or not self._watchdog.is_alive():
            self._watchdog = threading.Thread(target=self._watch, name="jeet-prover-watchdog", daemon=True)
            self._watchdog.start()

    def _watch(self) -> None:
        """While a check runs, stop the child once it holds more than `memory_cap` (the solver libraries'
        own memory limits do not cover bit-blasting, and their calls hold the child's interpreter, so
        the watch is from here)."""
        while (pending := self.pending) is not None:
            if self._resident() > self.memory_cap and pending is self.pending:
                self.over_memory = True
                self._kill()
                return
            time.sleep(WATCH_S)

    def collect(self, wait: bool) -> tuple[str, bytes, Verification | None] | None:
        """The pending check's (key, wasm, answer) once it is done (waiting for it with `wait`); answer
        None when it overran its limits (`over_memory` says which) or the child died. None while it
        still runs."""
        if self.pending is None:
            return None
        key, wasm, fut, t0 = self.pending
        left = self.limit_s - (time.monotonic() - t0)
        if not wait and not fut.done() and left > 0:
            return None
        try:
            answer = fut.result(timeout=max(0.0, left))
        except (FutureTimeout, BrokenProcessPool):
            self.close(kill=True)
            return key, wasm, None
        self.pending = None
        return key, wasm, answer

    def _resident(self) -> int:
        """The child's resident memory (0 when there is none or it cannot be read)."""
        total = 0
        for proc in list((getattr(self._pool, "_processes", None) or {}).values()):
            try:
                total += psutil.Process(proc.pid).memory_info().rss
            except (psutil.Error, ValueError):
                pass
        return total

    def _kill(self) -> None:
        for proc in list((getattr(self._pool, "_processes", None) or {}).values()):
            proc.kill()

    def close(self, kill: bool = False) -> None:
        pool, self._pool, self.pending = self._pool, None, None
        if pool is None:
            return
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            proc.kill()
        pool.shutdown(wait=False, cancel_futures=True)


def _prove_and_give_back(*args, **kw) -> Verification:
    """`prove` in the child, which then returns the solver's freed memory to the system (else the child
    keeps the most any check took)."""
    try:
        return prove(*args, **kw)
    finally:
        give_back()


class ProofCheck:
    """The gate's equivalence check against `original` (see the module docstring).

    `learnable(case)` (optional) says whether a counterexample reproduces on the original as a
    training case would run it; only those join the training set. `runs`, `refuted` and `solver_s`
    count the work done, for the evidence."""

    name = "proof"

    def __init__(self, original: bytes, function: str, *, bound: int = 16, timeout_s: float = 10.0,
                 solver: str = "bitwuzla", sandbox=None, learnable=None, limit_s: float | None = None,
                 background: bool = False, reproducible: bool = True) -> None:
        if bound < 1:
            raise JeetError(f"the proof bound must be at least 1, got {bound}")
        if timeout_s <= 0:
            raise JeetError(f"the proof timeout must be positive, got {timeout_s:g}")
        self.original, self.function = bytes(original), function
        self.bound, self.timeout_s, self.solver, self.sandbox = bound, timeout_s, solver, sandbox
        self.learnable = learnable
        self.original_sha = hashlib.sha256(self.original).hexdigest()
        self._cache: dict[str, tuple[Verification, Judgement]] = {}
        self.runs = 0
        self.refuted = 0
        self.counterexamples_learned = 0
        self.solver_s = 0.0
        # `limit_s`: a hard wall-clock limit per check (prove then runs in a child process); with
        # `background`, the gate does not wait for the child: a check still running is "not adopted" for
        # now (not blacklisted) and asked again later; `final()` waits again
        self.limit_s = limit_s
        self.background = background and limit_s is not None
        self.reproducible = reproducible
        self.wall_s = 0.0  # time this process spent waiting for answers
        self.deferred = 0
        self._process = ProverProcess(limit_s) if limit_s is not None else None
        self.round = 0
        self._started_round: dict[str, int] = {}
        self._ready: dict[str, bytes] = {}  # started in a process that cannot have children: proved inline
        self._known_only = False
        # the latest accepted variants of loop code: a contender that shares one's skeleton is compared with
        # it in lockstep (`jeet.prove.prove`'s `via`), so a tweak on top of a restructured loop is caught too
        self._via: list[tuple[bytes, Verification]] = []

    def verify(self, wasm: bytes, key: str | None = None, wait: bool = True) -> tuple[Verification, Judgement]:
        """The verification of `wasm` and the gate's judgement of it (cached by content hash).

        With `background` and not `wait`, a check not yet answered starts in the child process (when it
        is free) and the answer is "not adopted" for now; a call in a later round collects it."""
        key = key if isinstance(key, str) else hashlib.sha256(wasm).hexdigest()
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        if key == self.original_sha:
            self._cache[key] = out = (identical(), Judgement(True, False, "proved", "the output is the input"))
            return out
        if self._known_only and not wait:
            v = Verification(f"smt:{self.solver}", "unknown", None, 0.0, None, "not proved before the run ended")
            return v, Judgement(False, False, "not adopted", "not proved before the run ended")
        inline = self._process is None or multiprocessing.current_process().daemon  # a daemon has no children
        if wait or not self.background:
            if inline:
                return self._record(key, wasm, lambda: prove(self.original, wasm, self.function,
                                                             sandbox=self.sandbox, **self._kw()))
            self._collect_pending()
            if key not in self._cache:
                self._process.start(key, wasm, self.original, wasm, self.function, **self._kw())
                self._collect_pending()
            return self._cache[key]
        # in the background: with `reproducible`, a proof started in one round is answered in the next
        # (`next_round`; waiting for it if need be), the same way whatever the machine's speed, so a seed
        # makes the same run; without (a budgeted run), an answer is taken when it is in, never waited for
        earlier = self._started_round.get(key, self.round) < self.round
        if self.reproducible and earlier:
            self._collect_pending()
        elif not self.reproducible:
            if earlier:
                self._ready_inline()
            if self._process is not None and self._process.pending is not None:
                self._collect(wait=False)  # an answer already in; a finished proof frees the child
        if key in self._cache:
            return self._cache[key]
        if key not in self._started_round and not self.busy:  # one proof at a time, in either mode
            self._started_round[key] = self.round
            if inline:
                self._ready[key] = wasm
            else:
                self._process.start(key, wasm, self.original, wasm, self.function, **self._kw())
        self.deferred += 1
        v = Verification(f"smt:{self.solver}", "unknown", None, 0.0, None, "proof running")
        return v, Judgement(False, False, "not adopted", "proof running in the background: asked again later")

    def answer(self, key: str) -> Judgement | None:
        """The judgement of `key` when its answer is in (answers are kept for the run), else None."""
        hit = self._cache.get(key)
        return None if hit is None else hit[1]

    def accepted(self, key: str) -> bool:
        j = self.answer(key)
        return j is not None and j.accepted

    @property
    def busy(self) -> bool:
        """Whether a proof is under way (a contender is waiting for its answer)."""
        return bool(self._ready) or (self._process is not None and self._process.pending is not None)

    def next_round(self) -> None:
        """A new promotion round: proofs started before it are answered when next asked."""
        self.round += 1

    def _collect_pending(self) -> None:
        self._ready_inline()
        if self._process is not None and self._process.pending is not None:
            self._collect(wait=True)

    def _kw(self) -> dict:
        return dict(bound=self.bound, timeout_s=self.timeout_s, solver=self.solver, via=tuple(self._via))

    def _collect(self, wait: bool) -> None:
        done = self._process.collect(wait)
        if done is None:
            return
        key, wasm, v = done
        limit = (f"{self._process.memory_cap >> 20} MB" if self._process.over_memory else
                 f"{self.limit_s:g} s")
        self._record(key, wasm, lambda: v if v is not None else Verification(
            f"smt:{self.solver}", "unknown", None, self.limit_s, None,
            f"no answer within the check's limit of {limit} (timeout)"))

    def _record(self, key: str, wasm: bytes, answer) -> tuple[Verification, Judgement]:
        t0 = time.monotonic()
        try:
            v = answer()
        except ProveError as exc:  # the candidate changed what the function is: not the same function
            v = Verification(f"smt:{self.solver}", "unknown", None, 0.0, None, f"cannot compare: {exc}")
            self._cache[key] = out = (v, Judgement(False, True, "refuted", f"cannot compare: {exc}"))
            return out
        finally:
            self.wall_s += time.monotonic() - t0
        self.runs += 1
        self.solver_s += v.solver_s
        loops = has_loops(self.original, wasm, self.function)
        out = (v, judge(v, self.bound))
        if out[1].accepted and loops and key != self.original_sha:
            self._via = [(bytes(wasm), v)] + self._via[:VIA - 1]
        if v.refuted:
            self.refuted += 1
        self._cache[key] = out
        return out

    def final(self, grace_s: float | None = None) -> None:
        """The search is over; from now on a check waits for its answer (the output must be checked, however
        long that takes; it almost always is already, since a champion is promoted only once proved).

        The proof still running is waited for: fully when `grace_s` is None (a run bounded by generations
        stays reproducible), else at most `grace_s` seconds, then abandoned (its candidate is simply not
        adopted), so the solver cannot hold a budgeted run much past its budget."""
        self.background = False
        self._ready_inline()
        if self._process is None or self._process.pending is None:
            return
        if grace_s is None:
            self._collect(wait=True)
            return
        fut, deadline = self._process.pending[2], time.monotonic() + max(0.0, grace_s)
        while not fut.done() and time.monotonic() < deadline:
            time.sleep(0.02)
        self._collect(wait=False)
        if self._process.pending is not None:
            self._process.close(kill=True)

    @contextmanager
    def known_only(self):
        """Within: a candidate whose proof is not known yet is not adopted, and no new proof starts (the end
        of a budgeted run: only answers already in may promote a contender)."""
        self._known_only = True
        try:
            yield
        finally:
            self._known_only = False

    def _ready_inline(self) -> None:
        """Proofs queued to run inline (a process that cannot have children) run now."""
        for key, wasm in list(self._ready.items()):
            self._ready.pop(key)
            self._record(key, wasm, lambda: prove(self.original, wasm, self.function, sandbox=self.sandbox,
                                                  **self._kw()))

    def close(self) -> None:
        if self._process is not None:
            self._process.close()

    def check(self, candidate: Candidate) -> GateResult:
        v, j = self.verify(candidate.subject, candidate.key, wait=False)  # type: ignore[arg-type]
        evidence = evidence_of(v, j)
        if j.accepted:
            return GateResult(True, self.name, j.reason, evidence=evidence)
        case = self._case(v)
        return GateResult(False, self.name, j.reason, case, evidence, blacklist=j.blacklist)

    def _case(self, v: Verification) -> Case | None:
        """The counterexample as a training case, if it reproduces on a fresh instance of the original."""
        cx = v.counterexample
        if cx is None or (cx.globals and not cx.globals_at_init):  # needs globals a fresh instance lacks
            return None
        case = cx.to_case()
        if self.learnable is not None and not self.learnable(case):
            return None
        self.counterexamples_learned += 1
        return case

    def summary(self, wasm: bytes, key: str | None = None) -> dict:
        """The `verification` block of the evidence file and `--json` for the output `wasm`."""
        v, j = self.verify(wasm, key, wait=True)
        return evidence_of(v, j) | {"proofs_run": self.runs, "refuted_during_run": self.refuted,
                                   "counterexamples_fed_back": self.counterexamples_learned,
                                   "solver_s_total": round(self.solver_s, 3),
                                   "configured_bound": self.bound, "timeout_s": self.timeout_s}


def evidence_of(v: Verification, j: Judgement) -> dict:
    """A verification as JSON, with what the gate made of it (`status`, `reason`)."""
    plain = not v.reason or j.status == "tested only" or v.reason in j.reason or j.reason.startswith(v.reason)
    return v.to_json() | {"status": j.status, "reason": j.reason if plain else f"{j.reason} ({v.reason})"}


def proof_off() -> dict:
    """The `verification` block when proofs are turned off (`--no-prove`)."""
    return {"method": "none", "result": "off", "status": "tested only", "bound": None, "solver_s": 0.0,
            "counterexample": None,
            "reason": "tested only: proof turned off (--no-prove); held-out cases are the evidence"}
