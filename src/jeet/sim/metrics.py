"""Per-round figures of one protocol in one run, and their summary (the JSON shape of `jeet simulate`)."""

from __future__ import annotations

from itertools import compress
from operator import and_


class Recorder:
    """Counts what the transport and the hosts see; `end_round` snapshots one reported round.

    Plain lists rather than arrays: the simulators update single entries in their inner loops.
    """

    def __init__(self, honest: list[bool]) -> None:
        self.honest = honest
        self.n = len(honest)
        self.n_honest = sum(honest)
        self.holders = [False] * self.n     # holds the injected specimen
        self.got = [False] * self.n         # received at least one copy of it
        self.payload_copies = 0             # copies of the injected specimen delivered to honest nodes
        self.duplicates = 0                 # ... to nodes that had already received one
        self.control = 0                    # control messages sent since the injection (all nodes)
        self.bad_adopted = 0
        self.honest_ignored: set[int] = set()
        self.liars_ignored: set[int] = set()
        self.ignore_counts: list[int] = []  # bad deliveries verified when a liar got ignored
        self.rounds: list[dict] = []
        self._control_mark = 0

    def end_round(self, index: int, online: list[bool]) -> None:
        live = list(map(and_, self.honest, online))  # bools: honest and online
        n_live = sum(live)
        coverage = sum(compress(self.holders, live)) / n_live if n_live else 0.0
        useful = sum(compress(self.got, self.honest))
        self.rounds.append({
            "round": index,
            "coverage": round(coverage, 6),
            "payload_copies_per_node": round(self.payload_copies / self.n_honest, 6),
            "control_per_node": round((self.control - self._control_mark) / self.n, 6),
            "duplicate_overhead": round(self.duplicates / useful, 6) if useful else 0.0,
            "bad_adopted": self.bad_adopted,
            "honest_ignored": len(self.honest_ignored),
        })
        self._control_mark = self.control

    def summary(self, seconds: float, bad_deliveries_until_ignored: int | None) -> dict:
        """payload copies are per honest node; control messages per node of the whole network."""
        rounds_to_99 = next((r["round"] for r in self.rounds if r["coverage"] >= 0.99), None)
        last = self.rounds[-1] if self.rounds else {}
        return {
            "rounds_to_99": rounds_to_99,
            "final_coverage": last.get("coverage", 0.0),
            "payload_copies_per_node": last.get("payload_copies_per_node", 0.0),
            "control_messages_per_node": round(self.control / self.n, 4),
            "duplicate_overhead": last.get("duplicate_overhead", 0.0),
            "bad_adopted": self.bad_adopted,
            "honest_ignored": len(self.honest_ignored),
            "liars_ignored": len(self.liars_ignored),
            "bad_deliveries_until_ignored": bad_deliveries_until_ignored,
            "seconds": round(seconds, 3),
            "per_round": self.rounds,
        }
