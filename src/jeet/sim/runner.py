"""One simulation: the protocol under test and both baselines on the same world; the `jeet simulate` report.

With `jobs` > 1 the baselines run in a worker process while the protocol runs here (a worker rebuilds the
world from the seed, so the report is the same either way), and many seeds spread over `jobs` processes.
"""

from __future__ import annotations

import time
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_all_start_methods, get_context

from .baselines import run_baseline
from .config import SimConfig
from .gossip import run_gossip
from .world import World, build_world

BASELINES = ("flooding", "push")


def simulate(cfg: SimConfig, baselines: bool = True, jobs: int = 1) -> dict:
    """Run `cfg` and return the report: the protocol's summary at the top level (rounds_to_99, final_coverage,
    payload_copies_per_node, duplicate_overhead, bad_adopted, honest_ignored, bad_deliveries_until_ignored,
    per_round, ...), `baselines` {flooding, push} in the same shape, the configuration and `seconds` (wall
    time). `jobs` > 1 runs the baselines in a second process, alongside the protocol."""
    t0 = time.perf_counter()
    world = build_world(cfg)
    report = {"config": cfg.as_dict(), "honest_nodes": cfg.honest, "malicious_nodes": cfg.liars,
              "round_ms": cfg.round_ms}
    pool = pending = None
    if baselines and jobs > 1:
        try:
            pool = _pool(1)
            pending = pool.submit(_baselines_of, cfg)
        except (OSError, ValueError, BrokenProcessPool):  # no worker process to be had: all runs here
            pending = None
    try:
        report.update(run_gossip(world))
        if not baselines:
            report["baselines"] = {}
        else:
            result = None
            if pending is not None:
                try:
                    result = pending.result()
                except BrokenProcessPool:
                    result = None
            report["baselines"] = result if result is not None else _baselines(world)
    finally:
        if pool is not None:  # after an error here, do not wait for the baselines
            pool.shutdown(wait=pending is not None and pending.done(), cancel_futures=True)
    report["seconds"] = round(time.perf_counter() - t0, 3)
    return report


def simulate_many(configs: list[SimConfig], baselines: bool = True, jobs: int = 1) -> list[dict]:
    """`simulate` each configuration, spread over `jobs` processes; reports in the order of `configs`."""
    if jobs <= 1 or len(configs) == 1:
        return [simulate(cfg, baselines, jobs) for cfg in configs]
    try:
        pool = _pool(min(jobs, len(configs)))
    except (OSError, ValueError):
        return [simulate(cfg, baselines) for cfg in configs]
    with pool:
        return list(pool.map(simulate, configs, [baselines] * len(configs)))


def _baselines(world: World) -> dict:
    return {kind: run_baseline(world, kind) for kind in BASELINES}


def _baselines_of(cfg: SimConfig) -> dict:
    return _baselines(build_world(cfg))


def _pool(workers: int) -> Executor:
    method = "forkserver" if "forkserver" in get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context(method))
