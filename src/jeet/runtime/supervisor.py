"""The runtime's background thread: everything slow or stateful happens here, never on a call.

It owns the specimen store, the verification sandbox and the champion records (none of them is
thread-safe), builds each hot function's oracle, starts and polls evolution processes,
re-checks every champion they hand over on the held-out cases in its own sandbox before the
swap, and persists champions, blacklist entries and usage counts. Work reaches it as callables
on a queue (`post` for fire-and-forget, `call` to wait for the answer).
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..oracle import Case, OracleError, differential_oracle, fresh_seed, tests_oracle
from .. import wasm as codec
from ..sandbox import Limits, Sandbox
from ..wasm.abi import state_writes
from ..store import Store, StoreError
from .config import RuntimeConfig
from ..errors import JeetRuntimeError, TimingError
from ..timing import judge
from .expressed import ExpressionTable
from .job import EvolutionJob, JobSpec
from .records import ChampionRecord, RecordBook
from .variant import Serving, Variant

if TYPE_CHECKING:  # pragma: no cover
    from .function import Function

RUNTIME_DIR = "runtime"


class Supervisor:
    """One per `Runtime`; `close()` stops evolution, persists everything and ends the thread."""

    def __init__(self, data_dir: Path, config: RuntimeConfig, serving: Serving) -> None:
        self.data_dir = Path(data_dir)
        self.config = config
        self.serving = serving
        self.channel = SupervisorChannel(self)
        self.limits = Limits(fuel=config.fuel, memory_bytes=config.memory_bytes, deadline_s=config.deadline_s)
        self.functions: list[Function] = []
        self.jobs: dict[Function, EvolutionJob] = {}
        self.pending: deque[Function] = deque()
        self.errors: list[str] = []
        self._stored: set[str] = set()  # champions this session already wrote to the store
        self._proofs: dict[Function, object] = {}  # each function's ProofCheck (verdicts cached by hash)
        self._queue: queue.Queue = queue.Queue()
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._stopping = False
        self._stopped = False
        self._thread = threading.Thread(target=self._main, name="jeet-runtime", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            raise JeetRuntimeError(str(self._failure)) from None

    # --- plumbing -------------------------------------------------------------------------

    def post(self, work: Callable[[Supervisor], Any]) -> None:
        """Run `work(self)` in the supervisor thread, later; errors are recorded, not raised."""
        if not self._stopped:
            self._queue.put((work, None))

    def call(self, work: Callable[[Supervisor], Any], timeout: float | None = None) -> Any:
        """Run `work(self)` in the supervisor thread and return its result (or raise its error)."""
        if self._stopped or self._stopping:
            raise JeetRuntimeError("the runtime is closed")
        future: Future = Future()
        self._queue.put((work, future))
        return future.result(timeout)

    @property
    def busy(self) -> bool:
        return bool(self.jobs or self.pending)

    def _main(self) -> None:
        try:
            self.store = Store(self.data_dir)
            (self.data_dir / RUNTIME_DIR).mkdir(parents=True, exist_ok=True)
            self.sandbox = Sandbox(self.limits, cache_dir=self.data_dir / "compiled")
            self.records = RecordBook(self.data_dir / RUNTIME_DIR)
        except (StoreError, OSError) as exc:
            self._failure = exc
            self._stopped = True
            self._ready.set()
            return
        self._ready.set()
        while not self._stopped:
            try:
                item = self._queue.get(timeout=0.05 if self.jobs else 0.5)
            except queue.Empty:
                item = None
            if item is not None:
                work, future = item
                try:
                    result = work(self)
                except BaseException as exc:  # a failure here must never end the thread
                    if future is not None:
                        future.set_exception(exc)
                    else:
                        self.errors.append(f"{type(exc).__name__}: {exc}")
                else:
                    if future is not None:
                        future.set_result(result)
            if self.jobs:
                self._poll_jobs()
        # anything still queued after the shutdown: fail the waiters
        while True:
            try:
                _, future = self._queue.get_nowait()
            except queue.Empty:
                break
            if future is not None:
                future.set_exception(JeetRuntimeError("the runtime is closed"))

    # --- functions ------------------------------------------------------------------------

    def register(self, fn: Function) -> None:
        """A newly loaded function: check the user's tests and its state (statically), then start from a
        stored champion if any."""
        r = fn.record
        if r.tests is not None:
            try:
                tests_oracle(self.sandbox, fn.original.wasm, fn.function, r.tests, seed=self.config.seed,
                             train_size=len(r.tests), held_out_factor=1)
            except OracleError as exc:
                raise JeetRuntimeError(str(exc)) from None
        reasons = state_writes(codec.decode(fn.original.wasm), fn.function)  # the static half of the contract
        r.state = reasons[0] if reasons else None
        self.functions.append(fn)
        saved = self.records.load(fn.original.sha256, fn.function)
        if saved is None:
            return
        r.rounds = saved.rounds
        r.usage_base = dict(saved.usage)
        if saved.champion_sha256:
            wasm = self.store.get_specimen(saved.champion_sha256)
            if wasm is not None and self.adopt(fn, wasm, source="restored", require_better=False):
                self._tier(fn, "evolved")
                return
        if saved.settled and r.pinned is None:
            self._tier(fn, "settled")

    def _tier(self, fn: Function, tier: str) -> None:
        if fn.record.set_tier(tier, fn.calls):
            fn.refresh()

    def _pin(self, fn: Function, reason: str) -> None:
        fn.record.pinned = reason
        self._tier(fn, "pinned")

    def prepare(self, fn: Function) -> bool:
        """Build the function's oracle and baseline once; pin it (False) when it cannot be evolved."""
        r = fn.record
        if r.pinned is not None:
            return False
        if r.oracle is not None:
            return True
        if r.state is not None and not r.pure:
            self._pin(fn, f"stateful: {r.state} (declare it pure to evolve it anyway)")
            return False
        cfg, wasm = self.config, fn.original.wasm
        held_out_seed = fresh_seed(f"runtime:{fn.function}@{fn.original.sha256}")  # its own cases, every start
        t0 = time.perf_counter()
        try:
            if r.tests is not None:
                oracle = tests_oracle(self.sandbox, wasm, fn.function, r.tests, seed=cfg.seed,
                                      train_size=cfg.train_size, held_out_factor=cfg.held_out_factor,
                                      held_out_seed=held_out_seed)
            else:
                oracle = differential_oracle(self.sandbox, wasm, fn.function, seed=cfg.seed,
                                             train_size=cfg.train_size, held_out_factor=cfg.held_out_factor,
                                             held_out_seed=held_out_seed)
        except OracleError as exc:
            self._pin(fn, f"no oracle: {exc}")
            return False
        if r.learned:
            learned = tuple(r.learned)
            oracle = replace(oracle, train=oracle.train + learned, held_out=oracle.held_out + learned)
        fresh = self.sandbox.run(wasm, fn.function, oracle.held_out, fresh_instance_per_case=True)
        if len(fresh) != len(oracle.held_out) or not all(map(oracle.check, oracle.held_out, fresh)):
            self._pin(fn, "stateful: its results depend on earlier calls")
            return False
        verdict = oracle.verify(self.sandbox, wasm, fn.function, oracle.held_out)
        r.oracle_s += time.perf_counter() - t0
        if not verdict.ok:
            self._pin(fn, f"nondeterministic: the original does not reproduce its own answers ({verdict.message})")
            return False
        r.oracle = oracle
        r.baseline_fuel = verdict.fuel
        r.held_out_cases = len(oracle.held_out)
        if r.champion_fuel is None:
            r.champion_fuel = verdict.fuel
        return True

    def heat(self, fn: Function) -> None:
        """The function got hot: queue a round of evolution for it (or settle it)."""
        if fn in self.jobs or fn in self.pending or self._stopping:
            return
        if fn.record.rounds >= self.config.rounds:
            self._tier(fn, "settled")
            self.save(fn)
            return
        if not self.prepare(fn):
            return
        if len(self.jobs) >= self.config.max_parallel:
            self.pending.append(fn)
            return
        self._start(fn)

    def _start(self, fn: Function) -> None:
        from ..evolve import (  # the evolution stack loads only when something gets hot
            EvolveConfig,
            Problem,
        )

        cfg = self.config
        problem = Problem(name=f"{fn.function}@{fn.original.sha256[:12]}", wasm=fn.original.wasm,
                          function=fn.function, oracle=fn.record.oracle, limits=self.limits)
        config = EvolveConfig(population=cfg.population, budget_s=cfg.budget_s, generations=cfg.generations,
                              seed=cfg.seed + fn.record.rounds, workers=cfg.workers, verify_every=cfg.verify_every,
                              use_wasm_opt=cfg.use_wasm_opt, train_size=cfg.train_size,
                              held_out_factor=cfg.held_out_factor, fuel=cfg.fuel, memory_bytes=cfg.memory_bytes,
                              deadline_s=cfg.deadline_s, objective="time" if cfg.native_gate else "fuel",
                              prove=cfg.prove, prove_bound=cfg.prove_bound, prove_timeout_s=cfg.prove_timeout_s)
        champion = fn.champion
        seeds = () if champion is fn.original else (champion.wasm,)
        spec = JobSpec(problem, config, str(self.data_dir), fn.usage(), seeds)
        try:
            self.jobs[fn] = EvolutionJob(spec, self.records.root / "evolution.log")
        except (OSError, ValueError) as exc:
            fn.record.error = f"cannot start an evolution process: {exc}"
            self._tier(fn, "settled")
            return
        self._tier(fn, "evolving")

    def _poll_jobs(self) -> None:
        for fn, job in list(self.jobs.items()):
            self._handle(fn, job.messages())
            if fn in self.jobs and not job.alive():
                self._handle(fn, job.drain())  # its last words, or the pipe's end
                if fn in self.jobs:
                    self._finish(fn, None, f"the evolution process exited ({job.process.exitcode})")

    def _handle(self, fn: Function, messages: list[tuple]) -> None:
        for message in messages:
            kind = message[0]
            if kind == "champion":
                self.adopt(fn, message[1], source="evolution")
            elif kind == "done":
                self._finish(fn, message[1], None)
            elif kind == "error":
                self._finish(fn, None, message[1])

    def _finish(self, fn: Function, reason: str | None, error: str | None) -> None:
        job = self.jobs.pop(fn, None)
        if job is not None:
            job.close()
        completed = error is None and reason not in (None, "stopped")
        r = fn.record
        if completed:
            r.rounds += 1
        if error is not None:
            r.error = error
        if r.tier in ("evolving", "hot", "demoted"):
            if fn.champion is not fn.original:
                self._tier(fn, "evolved")
            elif completed or error is not None:
                self._tier(fn, "settled")
            else:  # stopped by close(): still hot, it evolves again in a later session
                self._tier(fn, "hot")
        self.save(fn)
        while self.pending and len(self.jobs) < self.config.max_parallel and not self._stopping:
            nxt = self.pending.popleft()
            self._start(nxt)

    # --- champions ----------------------------------------------------------------------------

    def _verified(self, fn: Function, wasm: bytes, sha: str) -> tuple[Variant, int] | None:
        """The variant with its held-out fuel if it passes every held-out case (compiled once); else
        None, and it is blacklisted when it failed."""
        r = fn.record
        if sha == fn.original.sha256:
            return fn.original, r.baseline_fuel or 0
        if sha in r.blacklist or self.store.is_blacklisted(sha):
            return None
        known = r.verified.get(sha)
        if known is not None:
            return known
        if not self.prepare(fn):
            return None
        oracle = r.oracle
        t0 = time.perf_counter()
        verdict = oracle.verify(self.sandbox, wasm, fn.function, oracle.held_out)
        r.verify_s += time.perf_counter() - t0
        if not verdict.ok:
            self._blacklist(fn, sha, f"failed the runtime's held-out re-check: {verdict.message}")
            return None
        if not self._proved(fn, wasm, sha):
            return None
        try:
            variant = Variant(self.serving, wasm, fn.function, (fn.params, fn.results))
        except JeetRuntimeError as exc:
            self._blacklist(fn, sha, f"cannot be served: {exc}")
            return None
        r.verified[sha] = (variant, verdict.fuel)
        return variant, verdict.fuel

    def _proved(self, fn: Function, wasm: bytes, sha: str) -> bool:
        """The runtime's own proof against the original (an evolution process's claim is not trusted):
        refuted -> blacklisted; a solver that gave no answer on loop-free code -> not swapped this time."""
        if not self.config.prove:
            return True
        from ..evolve.proof_check import PROOF_LIMIT_FACTOR, ProofCheck  # the solver stack loads only when a swap is due

        proof = self._proofs.get(fn)
        if proof is None:
            c = self.config
            proof = self._proofs[fn] = ProofCheck(fn.original.wasm, fn.function, bound=c.prove_bound,
                                                  timeout_s=c.prove_timeout_s, sandbox=self.sandbox,
                                                  limit_s=PROOF_LIMIT_FACTOR * c.prove_timeout_s)
        t0 = time.perf_counter()
        v, judgement = proof.verify(wasm, sha)
        fn.record.verify_s += time.perf_counter() - t0
        if judgement.blacklist:
            self._blacklist(fn, sha, f"the runtime's proof: {judgement.reason}")
        return judgement.accepted

    def adopt(self, fn: Function, wasm: bytes, *, source: str, require_better: bool = True) -> bool:
        """Make `wasm` the champion if it passes every held-out case here (and, with `require_better`,
        runs on less fuel than the current champion); persist it. True when it was installed."""
        sha = hashlib.sha256(wasm).hexdigest()
        r = fn.record
        if r.pinned is not None or not self.prepare(fn):
            return False
        found = self._verified(fn, wasm, sha)
        if found is None:
            return False
        variant, fuel = found
        current = r.champion_fuel
        if require_better and current is not None and fuel >= current:
            return False
        if require_better and variant is not fn.original and not self._faster_natively(fn, wasm):
            return False
        with r.lock:
            if not fn.install(variant):
                return False
            r.champion_fuel = fuel
        if variant is not fn.original and sha not in self._stored:
            self._stored.add(sha)
            self.store.put_specimen(wasm, function=fn.function, fuel=fuel,
                                    metrics={"held_out_fuel": fuel, "held_out_cases": r.held_out_cases,
                                             "baseline_fuel": r.baseline_fuel, "source": source})
        self.save(fn)
        return True

    def _faster_natively(self, fn: Function, wasm: bytes) -> bool:
        """Do no harm where a variant takes effect: `wasm` must beat the serving champion in native time
        on the held-out cases, with confidence (`jeet.timing.judge`). A pair that cannot be timed
        natively falls back to the fuel comparison already made."""
        if not self.config.native_gate:
            return True
        r = fn.record
        t0 = time.perf_counter()
        try:
            verdict = judge(fn.champion.wasm, wasm, fn.function, r.oracle.held_out, min_time_s=0.3)
        except TimingError:
            return True
        finally:
            r.verify_s += time.perf_counter() - t0
        r.native = verdict.to_dict(samples=False) | {"candidate": hashlib.sha256(wasm).hexdigest()}
        return verdict.improved

    def _blacklist(self, fn: Function, sha: str, reason: str) -> None:
        fn.record.blacklist.add(sha)
        fn.record.verified.pop(sha, None)
        self.store.blacklist(sha, reason)

    def on_mismatch(self, fn: Function, sha: str, case: Case | None, reason: str) -> None:
        """A live call caught a variant: persist the blacklisting, learn the case, decide what next."""
        self.store.blacklist(sha, reason)
        r = fn.record
        r.verified.pop(sha, None)
        if case is not None:
            r.learned.append(case)
        if case is not None and r.oracle is not None:
            oracle = r.oracle
            r.oracle = replace(oracle, train=oracle.train + (case,), held_out=oracle.held_out + (case,))
            r.held_out_cases = len(r.oracle.held_out)
            r.verified.clear()  # verified against fewer cases than there are now
        if r.tier == "demoted":
            if fn in self.jobs:
                self._tier(fn, "evolving")
            elif self.config.hot and fn.calls >= self.config.hot and not self._stopping:
                self._tier(fn, "hot")
                self.heat(fn)
            else:
                self._tier(fn, "cold")
        self.save(fn)

    def verify_expression(self, fn: Function, expression: Any) -> ExpressionTable:
        variants: dict[str, Variant] = {}
        rejected: dict[str, str] = {}
        ready = self.prepare(fn)
        for sha, wasm in dict(expression.variants).items():
            if not isinstance(wasm, (bytes, bytearray, memoryview)):
                rejected[str(sha)] = "not wasm bytes"
                continue
            wasm = bytes(wasm)
            if hashlib.sha256(wasm).hexdigest() != sha:
                rejected[str(sha)] = "the key is not the sha256 of its bytes"
            elif sha == fn.original.sha256:
                variants[sha] = fn.original
            elif not ready:
                rejected[sha] = f"cannot be verified: {fn.record.pinned}"
            else:
                found = self._verified(fn, wasm, sha)
                if found is None:
                    rejected[sha] = "failed verification or is blacklisted"
                else:
                    variants[sha] = found[0]
        observe = getattr(expression, "observe", None)
        return ExpressionTable(expression, variants, observe if callable(observe) else None, rejected)

    # --- persistence and shutdown --------------------------------------------------------------

    def save(self, fn: Function) -> None:
        champion, r = fn.champion, fn.record
        self.records.save(ChampionRecord(
            module_sha256=fn.original.sha256, function=fn.function,
            champion_sha256=None if champion is fn.original else champion.sha256,
            champion_fuel=r.champion_fuel, baseline_fuel=r.baseline_fuel,
            held_out_cases=r.held_out_cases, rounds=r.rounds, settled=r.tier == "settled",
            usage=fn.usage()))

    def flush(self) -> None:
        for fn in self.functions:
            self.save(fn)

    def shutdown(self) -> None:
        """Stop every round (cleanly, then by force after `stop_timeout_s`), take in what they
        finished, persist everything and end the thread."""
        self._stopping = True
        self.pending.clear()
        for job in self.jobs.values():
            job.request_stop()
        deadline = time.monotonic() + self.config.stop_timeout_s
        while self.jobs and time.monotonic() < deadline:
            self._poll_jobs()
            time.sleep(0.02)
        for fn, job in list(self.jobs.items()):
            job.kill()
            self._finish(fn, "stopped", None)
        try:
            self.flush()
        finally:
            self.store.close()
            self.sandbox.close()
            for proof in self._proofs.values():
                proof.close()
            self._stopped = True

    def close(self) -> None:
        """Ask the thread to shut down and wait for it (from any other thread)."""
        if self._stopped:
            return
        future: Future = Future()
        self._queue.put((lambda sup: sup.shutdown(), future))
        try:
            future.result()
        finally:
            self._thread.join(timeout=self.config.stop_timeout_s + 5)


class SupervisorChannel:
    """The `Channel` a `Function` holds: the few things the call path asks of the supervisor."""

    __slots__ = ("_sup",)

    def __init__(self, supervisor: Supervisor) -> None:
        self._sup = supervisor

    def heat(self, fn: Function) -> bool:
        r = fn.record
        with r.lock:
            if r.tier != "cold":
                return False
            r.set_tier("hot", fn.calls)
        self._sup.post(lambda sup: sup.heat(fn))
        return True

    def demoted(self, fn: Function, sha: str, case: Case | None, reason: str, champion: bool) -> None:
        r = fn.record
        if champion:
            with r.lock:
                r.champion_fuel = r.baseline_fuel
                r.tier = "demoted"  # even from "demoted": the history shows each demotion
                r.history.append(("demoted", fn.calls))
        self._sup.post(lambda sup: sup.on_mismatch(fn, sha, case, reason))

    def verify_expression(self, fn: Function, expression: Any) -> ExpressionTable:
        return self._sup.call(lambda sup: sup.verify_expression(fn, expression))

    def offer(self, fn: Function, wasm: bytes, require_better: bool) -> bool:
        return self._sup.call(lambda sup: sup.adopt(fn, wasm, source="offered", require_better=require_better))
