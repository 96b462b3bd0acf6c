"""One simulation: the protocol under test and both baselines on the same world; the `jeet simulate` report."""

from __future__ import annotations

import time

from .baselines import run_baseline
from .config import SimConfig
from .gossip import run_gossip
from .world import build_world


def simulate(cfg: SimConfig, baselines: bool = True) -> dict:
    """Run `cfg` and return the report: the protocol's summary at the top level (rounds_to_99, final_coverage,
    payload_copies_per_node, duplicate_overhead, bad_adopted, honest_ignored, bad_deliveries_until_ignored,
    per_round, ...), `baselines` {flooding, push} in the same shape, the configuration and `seconds`."""
    t0 = time.perf_counter()
    world = build_world(cfg)
    report = {"config": cfg.as_dict(), "honest_nodes": cfg.honest, "malicious_nodes": cfg.liars,
              "round_ms": cfg.round_ms}
    report.update(run_gossip(world))
    report["baselines"] = {kind: run_baseline(world, kind) for kind in ("flooding", "push")} if baselines else {}
    report["seconds"] = round(time.perf_counter() - t0, 3)
    return report
