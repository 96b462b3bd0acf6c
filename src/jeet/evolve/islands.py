"""Islands: K populations evolving side by side, one process each, exchanging specimens.

The words are pygmo's. An archipelago holds K islands; the topology says who sends to whom
("ring": each island to both neighbours, "fully_connected": to all, "unconnected": none);
every `migration_interval` generations an island sends `migration_rate` emigrants, chosen by
`emigrant_policy`, and lets in what its neighbours sent by `replacement_policy`
(`Evolution.emigrants` / `Evolution.immigrate`, which re-scores every immigrant on the receiving
island: nothing is taken on trust).

Migration is tied to generation boundaries, never to the clock: what island j sends at boundary
b (generation b·interval) is what its neighbours let in at boundary b + `lag`. With the default
lag of 1 an island may run up to one interval ahead of the others without waiting, and a run
bounded by generations or evaluations is the same from the same master seed however the
processes are scheduled. Each island runs its own `Evolution` with an in-process evaluator and its
own seed derived from the master seed, so K islands keep K cores busy while this process only
relays messages. Stop conditions apply to the archipelago: the budget is one deadline for all,
the generation cap holds on every island, the evaluation cap is split evenly, and stagnation
(no island found a better champion for N generations) is decided at a boundary and takes effect
at the next one, again so that it does not depend on timing.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import time
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from typing import Callable, Sequence

from ..errors import JeetError
from ..fitness import Measurement
from ..genetics import OperatorLedger, operator_set
from ..oracle import Case
from ..sandbox import Sandbox
from ..store import Store
from ..timing import Judgement
from .config import EvolveConfig
from .driver import Progress, describe_stop
from .gate import Blacklist, Candidate, Gate, HeldOutCheck, Verification
from .island_process import ChampionChange, Go, IslandFinal, IslandReport, IslandSetup, island_main
from .logbook import GenerationRow, Logbook, merge_logbooks
from .population import Member, rank_weighted
from .problem import Problem
from .proof_check import ProofCheck
from .race import RACE_WIDTH, NativeTimeRace, decide_output
from .result import EvolveResult, breadth, champion_lineage, native_time, verification_of
from .worker import evaluate_candidate, sha256

__all__ = ["Archipelago", "ChampionChange", "Island", "IslandReport", "island_seed", "merge_logbooks", "sources",
           "summarize_archipelago", "warm_start"]

# Island processes must not inherit the parent's threads (a sandbox's epoch ticker), so no plain fork.
_MP = mp.get_context("forkserver")
TOPOLOGIES = ("ring", "fully_connected", "unconnected")
HANG_GRACE_S = 120.0  # after the budget's deadline, how long an island may take to hand in its result


def island_seed(master: int, index: int) -> int:
    """The seed of island `index`: a hash of the master seed, so islands differ and runs repeat."""
    digest = hashlib.sha256(f"jeet-island|{master}|{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def warm_start() -> float:
    """Start the fork server island processes come from, with jeet already imported, and wait until it
    serves; returns the seconds it took (next to nothing once it runs). `Archipelago.run` calls it."""
    t0 = time.monotonic()
    _MP.set_forkserver_preload([__name__])
    proc = _MP.Process(target=_noop, daemon=True)
    proc.start()
    proc.join()
    return time.monotonic() - t0


def _noop() -> None:
    pass


def sources(topology: str, members: Sequence[int], island: int) -> tuple[int, ...]:
    """The islands whose emigrants `island` receives, among `members` (the islands still alive, in order).

    pygmo's ring is bidirectional: an island hears from the previous and the next member."""
    if topology not in TOPOLOGIES:
        raise JeetError(f"unknown topology {topology!r}: use ring, fully_connected or unconnected")
    members = list(members)
    if topology == "unconnected" or island not in members or len(members) < 2:
        return ()
    if topology == "fully_connected":
        return tuple(j for j in members if j != island)
    pos = members.index(island)
    return tuple(sorted({members[pos - 1], members[(pos + 1) % len(members)]} - {island}))


# --- the archipelago ------------------------------------------------------------------------------


@dataclass
class Island:
    """The archipelago's view of one island process."""

    index: int
    seed: int
    status: str = "starting"  # starting, running, finished, died
    note: str = ""
    generation: int = 0
    evaluations: int = 0
    reached: int = -1  # the last boundary it reported (generation // interval)
    waiting: bool = False
    started_at: float = 0.0
    emigrants: dict[int, tuple[bytes, ...]] = field(default_factory=dict)
    stagnant: dict[int, int] = field(default_factory=dict)
    rows: list[GenerationRow] = field(default_factory=list)
    champion: ChampionChange | None = None
    final: IslandFinal | None = None
    emigrants_sent: int = 0
    immigrants_offered: int = 0
    immigrants_accepted: int = 0
    process: object = None
    conn: Connection | None = None

    def figures(self) -> dict:
        """Per-island figures for the run's summary."""
        f = self.final
        made = f.offspring_made if f else 0
        return {
            "island": self.index, "seed": self.seed, "status": self.status, "note": self.note,
            "stop_reason": f.reason if f else None, "generations": self.generation,
            "evaluations": self.evaluations,
            "champion_sha256": f.champion.sha256 if f else (self.champion.sha256 if self.champion else None),
            "champion_fuel": f.champion.evaluation.fuel if f else (self.champion.fuel if self.champion else None),
            "baseline_fuel": f.baseline.fuel if f else None,
            "valid_offspring_rate": round(f.offspring_valid / made, 4) if made else 0.0,
            "emigrants_sent": self.emigrants_sent, "immigrants_offered": self.immigrants_offered,
            "immigrants_accepted": self.immigrants_accepted, "run_id": f.run_id if f else None,
        }


class Archipelago:
    """K islands evolving `problem` in parallel under `config` (its island fields), with migration.

    After `run()` it reads like a finished Evolution where the outputs need it: `champion`,
    `champion_evidence`, `baseline`, `problem`, `train`, `logbook`, `store`."""

    def __init__(self, problem: Problem, config: EvolveConfig, *, store: Store | None = None,
                 resume: bool = False, lag: int = 1,
                 on_report: Callable[["Archipelago", IslandReport], None] | None = None,
                 on_event: Callable[[str], None] | None = None) -> None:
        if config.islands < 1:
            raise JeetError("an archipelago needs at least one island")
        if config.workers not in (0, 1):
            raise JeetError("--workers does not apply to islands: each island evaluates in its own process")
        if lag < 0:
            raise JeetError("lag must be at least 0")
        try:
            operator_set(config.operators)  # the islands would each refuse it; say so once, before they start
        except ValueError as exc:
            raise JeetError(str(exc)) from None
        self.problem, self.config, self.store = problem, config, store
        self.resume, self.lag = resume, lag
        self.on_report, self.on_event = on_report, on_event
        self.islands = [Island(i, island_seed(config.seed, i)) for i in range(config.islands)]
        self.history: list[ChampionChange] = []  # every island's champion changes, in arrival order
        self.champion: Member | None = None
        self.champion_evidence: Verification | None = None
        self.baseline: Measurement | None = None
        self.train: tuple[Case, ...] = tuple(problem.oracle.train)
        self.logbook = Logbook()
        self.ledger = OperatorLedger()
        self.reason: str | None = None
        self.run_id: int | None = None
        self.t0 = 0.0
        self.deadline: float | None = None
        self._verdicts: dict[int, str | None] = {}
        self._last_checkpoint = 0.0
        # native time (objective "time"): the race that chose the output, its do-no-harm verdict, notices
        self.race: NativeTimeRace | None = None
        self.judgement: Judgement | None = None
        self.improved: bool | None = None
        self.notices: list[str] = []

    # --- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> "Archipelago":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Let finished islands exit; stop any other island process still alive (after an error or an interrupt)."""
        for isl in self.islands:
            proc = isl.process
            if proc is not None and isl.status == "finished":
                proc.join(timeout=5)
            if proc is not None and proc.is_alive():
                proc.terminate()
                proc.join(timeout=2)
                if proc.is_alive():
                    proc.kill()
                    proc.join(timeout=2)
            if isl.conn is not None:
                isl.conn.close()
                isl.conn = None

    def fingerprint(self) -> str:
        c, p = self.config, self.problem
        key = (f"islands|{p.sha256}|{p.function}|{c.seed}|{c.population}|{c.operators}|{c.objectives}|"
               f"{c.train_size}|{c.islands}|{c.topology}|{c.migration_interval}|{c.migration_rate}|"
               f"{c.emigrant_policy}|{c.replacement_policy}|{self.lag}")
        return sha256(key.encode())

    def pids(self) -> list[int | None]:
        return [isl.process.pid if isl.process is not None else None for isl in self.islands]

    def island_config(self, index: int) -> EvolveConfig:
        """What island `index` runs: the master config with its own seed and only the generation cap."""
        # islands race on fuel (no native-time races in island processes: their timing would share cores)
        return replace(self.config, seed=self.islands[index].seed, islands=1, workers=1, budget_s=None, objective="fuel",
                       max_evaluations=None, stagnation=None, patience_s=None)

    def run(self) -> str:
        """Evolve until the archipelago's stop condition; then pick and re-verify the champion."""
        c = self.config
        self.t0 = time.monotonic()
        self.deadline = self.t0 + c.budget_s if c.budget_s is not None else None
        resuming = self._open_run()
        cap = -(-c.max_evaluations // c.islands) if c.max_evaluations is not None else None
        emigrate = c.topology != "unconnected" and c.islands > 1 and c.migration_rate > 0
        warm_start()
        try:
            spawning = time.monotonic()
            for isl in self.islands:
                self._within_budget(isl.index, spawning)
                setup = IslandSetup(isl.index, self.problem, self.island_config(isl.index), self.store, resuming,
                                    c.migration_interval, c.migration_rate, emigrate, c.emigrant_policy,
                                    c.replacement_policy, self.t0, self.deadline, cap)
                parent, child = _MP.Pipe()
                isl.process = _MP.Process(target=island_main, args=(child, setup), daemon=True,
                                          name=f"jeet-island-{isl.index}")
                isl.process.start()
                child.close()
                isl.conn, isl.status = parent, "running"
            self._await_ready()
            for isl in self._running():
                self._send(isl, "start")
            self._loop()
        except BaseException:
            self.close()
            raise
        self.close()
        self._conclude()
        return self.reason

    # --- the relay ---------------------------------------------------------------------------

    def _running(self) -> list[Island]:
        return [isl for isl in self.islands if isl.status == "running"]

    def _members(self) -> list[int]:
        return [isl.index for isl in self.islands if isl.status != "died"]

    def _within_budget(self, started: int | None = None, since: float = 0.0) -> None:
        """Past the deadline before the islands could even start, no answer is possible: say so in one line
        (rather than starting a run whose every island overruns the budget). While they are being started
        (`started` of them since `since`), say so as soon as the rest clearly cannot start in time."""
        if self.deadline is None:
            return
        now, k = time.monotonic(), len(self.islands)
        doomed = now >= self.deadline
        if started is not None and started >= min(8, k):
            doomed = doomed or now + (now - since) / started * (k - started) >= self.deadline
        if doomed:
            raise JeetError(f"starting {k} island processes takes more than the {self.config.budget_s:.1f} s left "
                            f"of --budget after the set-up; give a larger --budget or fewer --islands")

    def _await_ready(self) -> None:
        pending = {isl.index for isl in self._running()}
        while pending:
            self._within_budget()
            for isl in self._wait(self._running(), until=self.deadline):
                if isl.index not in pending:
                    continue
                msg = self._recv(isl)
                if msg is not None:
                    if msg[0] != "ready":
                        self._handle(isl, msg)
                    pending.discard(isl.index)
                if isl.status != "running":
                    pending.discard(isl.index)
        if not self._running():
            raise JeetError("no island could start")

    def _loop(self) -> None:
        while self._running():
            for isl in self._wait(self._running()):
                while isl.status == "running" and isl.conn is not None:
                    msg = self._recv(isl)
                    if msg is None:
                        break
                    self._handle(isl, msg)
                    if not isl.conn.poll(0):
                        break
            self._dispatch()
            self._checkpoint()

    def _wait(self, islands: list[Island], until: float | None = None) -> list[Island]:
        """Islands with a message or a dead process; after the budget's grace, the stragglers die. With
        `until`, waiting ends then too (and nobody dies of it)."""
        handles: dict[object, Island] = {}
        for isl in islands:
            handles[isl.conn] = isl
            handles[isl.process.sentinel] = isl
        timeout = None
        if self.deadline is not None:
            timeout = max(0.0, self.deadline + HANG_GRACE_S - time.monotonic())
        if until is not None:
            timeout = max(0.0, min(timeout if timeout is not None else float("inf"), until - time.monotonic()))
        ready = wait(list(handles), timeout)
        if not ready and until is not None:
            return []
        if not ready:
            for isl in islands:
                self._bury(isl, "did not finish within the grace period after the budget")
            return []
        out: list[Island] = []
        for h in ready:
            isl = handles[h]
            if isl not in out:
                out.append(isl)
        return out

    def _recv(self, isl: Island):
        """The next message, or None when there is none; a closed pipe means the island died."""
        try:
            if isl.conn.poll(0):
                return isl.conn.recv()
        except (EOFError, OSError):
            pass
        if not isl.process.is_alive():
            isl.process.join(timeout=1)
            self._bury(isl, f"exit code {isl.process.exitcode}")
        return None

    def _handle(self, isl: Island, msg) -> None:
        tag, payload = msg
        if tag == "report":
            self._absorb(isl, payload)
            isl.waiting = True
            if self.on_report is not None:
                self.on_report(self, payload)
        elif tag == "final":
            self._absorb(isl, payload.report)
            isl.final, isl.status = payload, "finished"
        elif tag == "error":  # the same problem on every island (its input or config): stop cleanly
            raise JeetError(payload)
        elif tag == "crash":
            self._bury(isl, payload)

    def _absorb(self, isl: Island, rep: IslandReport) -> None:
        interval = self.config.migration_interval
        isl.generation, isl.evaluations, isl.started_at = rep.generation, rep.evaluations, rep.started_at
        isl.rows.extend(rep.rows)
        isl.immigrants_accepted += rep.accepted
        boundary = rep.generation // interval
        isl.reached = max(isl.reached, boundary)
        if rep.generation % interval == 0:
            isl.stagnant[boundary] = rep.stagnant
            if rep.emigrants:
                isl.emigrants[boundary] = rep.emigrants
                isl.emigrants_sent += len(rep.emigrants)
        # no neighbour can still need what this island sent more than two lags before its current boundary
        for old in [b for b in isl.emigrants if b < boundary - 2 * self.lag - 1]:
            del isl.emigrants[old]
        for ch in rep.champions:
            isl.champion = ch
            self.history.append(ch)

    def _bury(self, isl: Island, why: str) -> None:
        if isl.status in ("finished", "died"):
            return
        isl.status, isl.note, isl.waiting = "died", why, False
        if isl.process is not None and isl.process.is_alive():
            isl.process.kill()
            isl.process.join(timeout=5)
        if self.on_event is not None:
            self.on_event(f"island {isl.index} died ({why}); going on with {len(self._running())} island(s)")

    def _dispatch(self) -> None:
        """Let every waiting island go on once its neighbours have reached the boundary it needs."""
        running = self._running()
        for isl in running:
            if not isl.waiting:
                continue
            need = isl.generation // self.config.migration_interval - self.lag
            if any(o.reached < need for o in running):
                continue
            stop = self._verdict(need)
            immigrants = []
            if stop is None and need >= 0:
                for j in sources(self.config.topology, self._members(), isl.index):
                    sent = self.islands[j].emigrants.get(need)
                    if sent:
                        immigrants.append((j, sent))
                        isl.immigrants_offered += len(sent)
            isl.waiting = False
            self._send(isl, Go(tuple(immigrants), stop))

    def _verdict(self, boundary: int) -> str | None:
        """"stagnation" when, at `boundary`, no island had improved its champion for N generations."""
        n = self.config.stagnation
        if n is None or boundary < 0:
            return None
        if boundary not in self._verdicts:
            # every island that got as far as `boundary` counts, whether it has finished since or not,
            # so the verdict does not depend on when a finished island's last message arrived
            if any(boundary not in isl.stagnant for isl in self._running()):
                return None  # from before a resume: unknown
            seen = [isl.stagnant[boundary] for isl in self.islands if isl.status != "died" and boundary in isl.stagnant]
            self._verdicts[boundary] = "stagnation" if seen and min(seen) >= n else None
        return self._verdicts[boundary]

    def _send(self, isl: Island, msg) -> None:
        try:
            isl.conn.send(msg)
        except (OSError, ValueError):
            self._bury(isl, "its pipe closed")

    # --- persistence -----------------------------------------------------------------------------

    def _open_run(self) -> bool:
        """Register the archipelago's run in the store; True when resuming an interrupted one."""
        if self.store is None:
            return False
        fp = self.fingerprint()
        run_id = self.store.find_resumable_run(fp) if self.resume else None
        if run_id is not None:
            cp = self.store.load_checkpoint(run_id)
            if cp is not None:
                for isl, counts in zip(self.islands, cp[1].get("migration", [])):
                    isl.emigrants_sent, isl.immigrants_offered, isl.immigrants_accepted = counts
            self.run_id = run_id
            return True
        self.run_id = self.store.start_run(fp, {"config": self.config.to_dict(), "kind": "archipelago",
                                                "function": self.problem.function, "name": self.problem.name,
                                                "input_sha256": self.problem.sha256,
                                                "island_seeds": [isl.seed for isl in self.islands]})
        return False

    def _checkpoint(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.store is None or self.run_id is None or (not force and now - self._last_checkpoint < 2.0):
            return
        self._last_checkpoint = now
        gen = min((isl.generation for isl in self.islands), default=0)
        self.store.save_checkpoint(self.run_id, gen, {"migration": [
            [isl.emigrants_sent, isl.immigrants_offered, isl.immigrants_accepted] for isl in self.islands]})

    # --- the outcome ----------------------------------------------------------------------------

    def _conclude(self) -> None:
        finals = [isl.final for isl in self.islands if isl.final is not None]
        if not finals:
            notes = "; ".join(f"island {isl.index}: {isl.note}" for isl in self.islands)
            raise JeetError(f"every island died ({notes}); see the system log (out of memory?)")
        reasons = [f.reason for f in finals]
        self.reason = "stagnation" if "stagnation" in reasons else reasons[0]
        for f in finals:
            self.ledger = self.ledger.merge(OperatorLedger.from_dict(f.ledger))
        self.logbook = Logbook(merge_logbooks([(isl.started_at, isl.rows) for isl in self.islands]))
        self._choose_champion(finals)
        if self.store is not None and self.run_id is not None:
            self._checkpoint(force=True)
            self.store.finish_run(self.run_id, {
                "stop": self.reason, "champion": self.champion.sha256,
                "champion_fuel": self.champion.evaluation.fuel, "baseline_fuel": self.baseline.fuel,
                "held_out_failures": self.champion_evidence.failures,
                "islands": [isl.figures() for isl in self.islands]})

    def _choose_champion(self, finals: list[IslandFinal]) -> None:
        """Re-score every island's champion on one training set (the union of the islands'), take the
        best by weighted fitness, and run the held-out cases on it once more here."""
        p = self.problem
        extra: list[Case] = []
        for f in finals:
            extra.extend(c for c in f.extra_train if c not in extra and c not in p.oracle.train)
        self.train = tuple(p.oracle.train) + tuple(extra)
        oracle = replace(p.oracle, train=self.train, held_out=())
        known: dict[str, Member] = {}
        for f in finals:
            known.setdefault(f.champion.sha256, f.champion)
        for isl in self.islands:
            if isl.final is None and isl.champion is not None:  # a dead island's last champion
                known.setdefault(isl.champion.sha256, Member(isl.champion.sha256, isl.champion.wasm,
                                                             None, (), None, isl.champion.generation))
        cache = self.store.root / "compiled" if self.store is not None else None
        with Sandbox(p.limits, cache_dir=cache) as sb:
            base_ev = evaluate_candidate(sb, p.function, p.wasm, oracle, None)
            self.baseline = base_ev.measurement()
            original = Member(sha256(p.wasm), p.wasm,
                              evaluate_candidate(sb, p.function, p.wasm, oracle, self.baseline))
            scored = [original]
            for m in known.values():
                if m.sha256 == original.sha256:
                    continue
                ev = evaluate_candidate(sb, p.function, m.wasm, oracle, self.baseline)
                if ev.correct:
                    scored.append(replace(m, evaluation=ev))
            c = self.config
            self.proof = ProofCheck(p.wasm, p.function, bound=c.prove_bound, timeout_s=c.prove_timeout_s,
                                    sandbox=sb) if c.prove else None
            gate = Gate([HeldOutCheck(sb, p.oracle, p.function)] + ([self.proof] if self.proof else []),
                        blacklist=Blacklist(self.store))
            ranked = [Candidate(m.sha256, m.wasm, m.fitness, m) for m in rank_weighted(scored)]
            verdict = gate.confirm(ranked, original.sha256, "on the archipelago's final check")
            self.champion, self.champion_evidence = verdict.candidate.item, verdict.verification
            if c.objective == "time":
                self._do_no_harm(gate, verdict.candidate, ranked, Candidate(original.sha256, p.wasm, 0.0, original))

    def _do_no_harm(self, gate: Gate, champion: Candidate, ranked: list[Candidate], original: Candidate) -> None:
        """The islands search by fuel; native time picks the output: the champion and the next best island
        champions that pass every check race, and the winner must beat the input (`decide_output`)."""
        others = [cand for cand in ranked if cand.key not in (champion.key, original.key)][:RACE_WIDTH - 1]
        verified = [champion] + [cand for cand in others if gate.judge(cand).accepted]
        outcome = decide_output(original, verified, self.problem.function, self.problem.oracle.held_out,
                                seed=self.config.seed)
        self.race, self.judgement = outcome.race, outcome.judgement
        if outcome.untimeable is not None:
            self.notices.append(f"the output cannot be timed natively ({outcome.untimeable}); the fuel objective decides")
            self.race = None
            return
        self.improved = outcome.improved
        if outcome.output.key != champion.key:
            self.champion = outcome.output.item
            self.champion_evidence = gate.judge(outcome.output).verification

    # --- figures -------------------------------------------------------------------------------

    @property
    def evaluations(self) -> int:
        return sum(isl.evaluations for isl in self.islands)

    @property
    def generations(self) -> int:
        return max((isl.generation for isl in self.islands), default=0)

    @property
    def valid_offspring_rate(self) -> float:
        finals = [isl.final for isl in self.islands if isl.final is not None]
        made = sum(f.offspring_made for f in finals)
        return sum(f.offspring_valid for f in finals) / made if made else 0.0

    def figures(self) -> dict:
        """The islands section of the summary: per-island figures and migration counts."""
        isl = self.islands
        return {
            "islands": len(isl), "topology": self.config.topology,
            "migration_interval": self.config.migration_interval, "migration_rate": self.config.migration_rate,
            "emigrant_policy": self.config.emigrant_policy, "replacement_policy": self.config.replacement_policy,
            "emigrants_sent": sum(i.emigrants_sent for i in isl),
            "immigrants_offered": sum(i.immigrants_offered for i in isl),
            "immigrants_accepted": sum(i.immigrants_accepted for i in isl),
            "died": [i.index for i in isl if i.status == "died"],
            "run_id": self.run_id,
            "per_island": [i.figures() for i in isl],
        }

    def stopped(self, reason: str) -> str:
        """The stop reason in plain words."""
        if reason == "stagnation":
            return f"no island found a better champion for {self.config.stagnation} generations"
        return describe_stop(reason, self.config, Progress(self.generations, self.evaluations))

    @property
    def timing_seconds(self) -> float:
        return round(self.race.seconds, 3) if self.race is not None else 0.0

    def lineage(self) -> list[str]:
        """The operators along the champion's line of descent, across islands, as far as the store knows it."""
        return champion_lineage(self)


def summarize_archipelago(arch: Archipelago, reason: str, seconds: float, out=None) -> EvolveResult:
    """The same result record a single-island run gives (`jeet.evolve.result.summarize`)."""
    champ, base, ev = arch.champion, arch.baseline, arch.champion_evidence
    finals = [isl.final for isl in arch.islands if isl.final is not None]
    return EvolveResult(
        function=arch.problem.function, name=arch.problem.name,
        baseline_fuel=base.fuel, best_fuel=champ.evaluation.fuel,
        fuel_ratio=round(champ.evaluation.fuel / base.fuel, 4) if base.fuel else 1.0,
        baseline_size=len(arch.problem.wasm), best_size=len(champ.wasm),
        held_out_cases=ev.cases, held_out_failures=ev.failures, train_cases=len(arch.train),
        oracle=arch.problem.oracle.source, evaluations=arch.evaluations, seconds=round(seconds, 3),
        generations=arch.generations, stop_reason=reason, valid_offspring_rate=round(arch.valid_offspring_rate, 4),
        best_sha256=champ.sha256, input_sha256=arch.problem.sha256, out=str(out) if out else None,
        operators=arch.ledger.as_rows(), lineage=arch.lineage(), stopped=arch.stopped(reason), held_out_seed=arch.problem.oracle.held_out_seed,
        **breadth(sum(f.distinct for f in finals), sum(f.repeats for f in finals), len(arch.islands), seconds),
        **native_time(arch, seconds),
        verification=verification_of(arch),
    )
