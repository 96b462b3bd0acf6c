"""One island of an archipelago: the messages it exchanges with the archipelago and the process that
runs its `Evolution` from migration boundary to migration boundary (see `jeet.evolve.islands`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

from ..errors import JeetError
from ..fitness import Measurement
from ..oracle import Case
from ..store import Store
from .config import EvolveConfig
from .gate import Verification
from .logbook import GenerationRow
from .loop import Evolution
from .population import Member
from .problem import Problem

# --- messages between the archipelago and its island processes ------------------------------


@dataclass(frozen=True, slots=True)
class IslandSetup:
    index: int
    problem: Problem
    config: EvolveConfig  # the island's own: its seed, workers=1, no budget/evaluation/stagnation caps
    store: Store | None   # pickles as its location; the island opens its own connection
    resume: bool
    interval: int
    rate: int
    emigrate: bool        # whether anyone listens (topology and K): random emigrants draw from the rng
    emigrant_policy: str
    replacement_policy: str
    t0: float             # the archipelago's start, time.monotonic() (one clock for all processes on a host)
    deadline: float | None
    evaluation_cap: int | None


@dataclass(frozen=True, slots=True)
class ChampionChange:
    """An island adopted a new (held-out verified) champion: when, and what."""

    island: int
    generation: int
    at_s: float  # seconds since the archipelago started
    sha256: str
    fuel: int    # on the island's training set at the time
    evaluations: int  # the island's evaluations so far
    wasm: bytes


@dataclass(frozen=True, slots=True)
class Go:
    immigrants: tuple[tuple[int, tuple[bytes, ...]], ...]  # (source island, specimens), by source
    stop: str | None = None


@dataclass(frozen=True, slots=True)
class IslandReport:
    island: int
    generation: int
    evaluations: int
    stagnant: int
    started_at: float  # the island's Evolution clock origin, seconds since the archipelago started
    rows: tuple[GenerationRow, ...]          # logbook rows since the previous report
    champions: tuple[ChampionChange, ...]    # champion changes since the previous report
    emigrants: tuple[bytes, ...]             # sent at this boundary (empty off a boundary)
    accepted: int                            # immigrants let in at the start of this interval


@dataclass(frozen=True, slots=True)
class IslandFinal:
    report: IslandReport
    reason: str
    champion: Member
    evidence: Verification
    baseline: Measurement
    extra_train: tuple[Case, ...]
    ledger: dict
    offspring_made: int
    offspring_valid: int
    run_id: int | None
    distinct: int = 0
    repeats: int = 0


# --- the island process -------------------------------------------------------------------------


def island_main(conn: Connection, setup: IslandSetup) -> None:
    evo = None
    try:
        evo = Evolution(setup.problem, setup.config, store=setup.store, resume=setup.resume, deadline=setup.deadline)
        conn.send(("ready", None))  # every island has read the persistent blacklist before any writes to it
        if conn.recv() != "start":
            return
        _IslandRunner(evo, setup, conn).run()
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        pass
    except JeetError as exc:
        _send_quietly(conn, ("error", str(exc)))
    except Exception as exc:  # a bug on one island: report it and let the others go on
        _send_quietly(conn, ("crash", f"{type(exc).__name__}: {exc}"))
    finally:
        if evo is not None:
            evo.close()
        if setup.store is not None:
            setup.store.close()


def _send_quietly(conn: Connection, msg) -> None:
    try:
        conn.send(msg)
    except (OSError, ValueError):
        pass


class _IslandRunner:
    """Drives one island's Evolution from boundary to boundary and reports to the archipelago."""

    def __init__(self, evo: Evolution, setup: IslandSetup, conn: Connection) -> None:
        self.evo, self.setup, self.conn = evo, setup, conn
        self.sent_rows = 0
        self.champions: list[ChampionChange] = []
        self.champion_sha: str | None = None
        self.accepted = 0  # immigrants let in since the last report

    def run(self) -> None:
        evo, s = self.evo, self.setup
        evo.start()
        self._note_champion()
        while True:
            reason = self._stop_reason()
            if reason is not None:
                self._finish(reason)
                return
            self.conn.send(("report", self._report()))
            go = self.conn.recv()
            if not isinstance(go, Go):
                return
            if go.stop is not None:
                self._finish(go.stop)
                return
            self._let_in(go.immigrants)
            target = (evo.state.generation // s.interval + 1) * s.interval
            while evo.state.generation < target and self._stop_reason() is None:
                evo.step()
                self._note_champion()

    def _stop_reason(self) -> str | None:
        s, evo = self.setup, self.evo
        reason = evo.done()  # the island's config bounds only generations
        if reason is not None:
            return reason
        if s.evaluation_cap is not None and evo.state.evaluations >= s.evaluation_cap:
            return "evaluations"
        if s.deadline is not None and time.monotonic() >= s.deadline:
            return "budget"
        return None

    def _let_in(self, immigrants) -> None:
        for source, specimens in immigrants:
            joined = self.evo.immigrate(list(specimens), source=f"island-{source}",
                                        policy=self.setup.replacement_policy)
            self.accepted += len(joined)

    def _note_champion(self) -> None:
        champ = self.evo.champion
        if champ is not None and champ.sha256 != self.champion_sha:
            self.champion_sha = champ.sha256
            self.champions.append(ChampionChange(self.setup.index, self.evo.state.generation,
                                                 time.monotonic() - self.setup.t0, champ.sha256,
                                                 champ.evaluation.fuel, self.evo.state.evaluations, champ.wasm))

    def _report(self, final: bool = False) -> IslandReport:
        evo, s = self.evo, self.setup
        at_boundary = evo.state.generation % s.interval == 0
        emigrants = ()
        if at_boundary and s.emigrate and s.rate > 0 and not final:
            emigrants = tuple(m.wasm for m in evo.emigrants(s.rate, s.emigrant_policy))
        rows = tuple(evo.logbook.rows[self.sent_rows:])
        self.sent_rows = len(evo.logbook.rows)
        champions, self.champions = tuple(self.champions), []
        accepted, self.accepted = self.accepted, 0
        return IslandReport(s.index, evo.state.generation, evo.state.evaluations, evo.state.stagnant,
                            evo.started - s.t0, rows, champions, emigrants, accepted)

    def _finish(self, reason: str) -> None:
        evo = self.evo
        # Evolution has no public "finish now": its run() ends only on its own stop conditions.
        evo.finish(reason)
        self._note_champion()
        st = evo.state
        final = IslandFinal(self._report(final=True), reason, evo.champion, evo.champion_evidence, evo.baseline,
                            tuple(st.extra_train), evo.ledger.to_dict(), st.offspring_made, st.offspring_valid,
                            evo.run_id, st.distinct, st.repeats)
        self.conn.send(("final", final))
