"""`jeet simulate`: the gossip protocol at scale in one process, against flooding and push gossip."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from ..errors import JeetError
from . import checks
from .errors import user_errors

_PARALLEL_WORK = 100_000  # node-rounds from which `--jobs 0` uses every core


@user_errors
def simulate(
    nodes: int = typer.Option(..., "--nodes", help="Number of simulated nodes."),
    rounds: int = typer.Option(10, "--rounds", help="Rounds (heartbeats) reported after the injection."),
    degree: int = typer.Option(6, "--degree", help="Mesh degree D (kept within [2D/3, 2D])."),
    loss: float = typer.Option(0.0, "--loss", help="Probability that a message is lost."),
    latency: float = typer.Option(100.0, "--latency", help="Mean one-way latency in ms (jitter x0.5..x1.5)."),
    churn: float = typer.Option(0.0, "--churn", help="Per-round probability that a node goes down."),
    malicious: float = typer.Option(0.0, "--malicious", help="Fraction of lying nodes."),
    seed: int = typer.Option(0, "--seed"),
    verify_ms: float = typer.Option(100.0, "--verify-ms", help="Time of one local verification."),
    seeds: int = typer.Option(1, "--seeds", help="Run this many seeds (seed, seed+1, ...) and aggregate."),
    no_baselines: bool = typer.Option(False, "--no-baselines", help="Skip flooding and push gossip."),
    jobs: int = typer.Option(0, "--jobs", help="Processes: the baselines run beside the protocol and seeds "
                                               "spread over them (0: one per core for large runs; 1: none)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write a PNG of coverage over rounds."),
) -> None:
    """Simulate N nodes running the real protocol code; inject a better specimen and report its spread."""
    from ..sim import SimConfig, SimError, plot_coverage, simulate_many

    if seeds < 1 or seeds > 10_000:
        raise JeetError(f"--seeds must be between 1 and 10000, got {seeds}")
    if jobs < 0 or jobs > 256:
        raise JeetError(f"--jobs must be between 0 and 256, got {jobs}")
    if plot is not None:
        if plot.is_dir():
            raise JeetError(f"--plot {plot} is a folder; give a file name such as {plot / 'coverage.png'}")
        if not plot.suffix:
            plot = plot.with_suffix(".png")  # what the plotting library writes anyway: say so
        checks.writable(plot, "--plot")
    for name, value in (("--loss", loss), ("--churn", churn), ("--malicious", malicious)):
        checks.fraction(name, value)
    checks.positive("--latency", latency, 3_600_000.0, " ms", zero=True)
    checks.positive("--verify-ms", verify_ms, 3_600_000.0, " ms", zero=True)
    checks.count("--seed", seed, 0, checks.MAX_SEED - 10_000)
    try:
        configs = [SimConfig(nodes=nodes, rounds=rounds, degree=degree, loss=loss, latency_ms=latency,
                             churn=churn, malicious=malicious, seed=seed + k, verify_ms=verify_ms)
                   for k in range(seeds)]
    except SimError as exc:
        raise JeetError(str(exc)) from None
    if jobs == 0:  # worker processes take a fraction of a second to start: worth it for large runs only
        jobs = (os.cpu_count() or 1) if seeds * nodes * (rounds + configs[0].warmup) >= _PARALLEL_WORK else 1
    t0 = time.perf_counter()
    reports = simulate_many(configs, baselines=not no_baselines, jobs=jobs)
    wall = time.perf_counter() - t0
    if plot is not None:
        try:
            plot_coverage(reports[0], plot)
        except OSError as exc:
            raise JeetError(f"--plot: cannot write {plot}: {exc.strerror}") from None
    doc = reports[0] if seeds == 1 else _aggregate(reports, wall)
    if json_out:
        sys.stdout.write(json.dumps(doc) + "\n")
    elif seeds == 1:
        _print_report(doc)
    else:
        _print_aggregate(doc)
    if plot is not None:
        print(f"wrote {plot}", file=sys.stderr)


def _aggregate(reports: list[dict], wall: float) -> dict:
    """Figures over many seeds: how often 99 % coverage came within 6 rounds, and the worst cases; `seconds`
    is the wall time of all runs (they may overlap)."""
    r99 = [r["rounds_to_99"] for r in reports]
    bdi = [r["bad_deliveries_until_ignored"] for r in reports if r["bad_deliveries_until_ignored"] is not None]
    return {
        "config": {k: v for k, v in reports[0]["config"].items() if k != "seed"},
        "seeds": [r["config"]["seed"] for r in reports],
        "runs": len(reports),
        "rounds_to_99": r99,
        "within_6": sum(1 for x in r99 if x is not None and x <= 6),
        "min_final_coverage": min(r["final_coverage"] for r in reports),
        "max_payload_copies_per_node": max(r["payload_copies_per_node"] for r in reports),
        "max_duplicate_overhead": max(r["duplicate_overhead"] for r in reports),
        "bad_adopted": sum(r["bad_adopted"] for r in reports),
        "honest_ignored": sum(r["honest_ignored"] for r in reports),
        "max_bad_deliveries_until_ignored": max(bdi) if bdi else None,
        "seconds": round(wall, 3),
    }


def _fmt(x) -> str:
    return "never" if x is None else str(x)


def _print_report(doc: dict) -> None:
    cfg = doc["config"]
    base = doc.get("baselines", {})
    print(f"{cfg['nodes']} nodes ({doc['malicious_nodes']} malicious), degree {cfg['degree']}, loss {cfg['loss']}, "
          f"latency {cfg['latency_ms']:g} ms, churn {cfg['churn']}, seed {cfg['seed']}; round = {doc['round_ms']} ms")
    head = f"{'round':>5} {'coverage':>9} {'copies/node':>11} {'control/node':>12} {'dup':>6} {'bad':>4} {'ign':>4}"
    if base:
        head += f" | {'flood cov':>9} {'copies':>7} | {'push cov':>8} {'copies':>7}"
    print(head)
    for k, row in enumerate(doc["per_round"]):
        line = (f"{row['round']:>5} {100 * row['coverage']:>8.2f}% {row['payload_copies_per_node']:>11.3f} "
                f"{row['control_per_node']:>12.2f} {row['duplicate_overhead']:>6.3f} {row['bad_adopted']:>4} "
                f"{row['honest_ignored']:>4}")
        if base:
            f, p = base["flooding"]["per_round"][k], base["push"]["per_round"][k]
            line += (f" | {100 * f['coverage']:>8.2f}% {f['payload_copies_per_node']:>7.2f}"
                     f" | {100 * p['coverage']:>7.2f}% {p['payload_copies_per_node']:>7.2f}")
        print(line)
    rows = [("jeet gossip", doc)] + [(name, b) for name, b in base.items()]
    for name, s in rows:
        print(f"{name:>12}: 99% after {_fmt(s['rounds_to_99'])} rounds, final {100 * s['final_coverage']:.2f}%, "
              f"{s['payload_copies_per_node']:.3f} copies/node, duplicate overhead {s['duplicate_overhead']:.3f}, "
              f"{s['control_messages_per_node']:.1f} control msgs/node, wrong adopted {s['bad_adopted']}, "
              f"honest ignored {s['honest_ignored']}, " + _liars(s['bad_deliveries_until_ignored'], doc))
    print(f"{doc['seconds']:.2f} s")


def _liars(worst: int | None, doc: dict) -> str:
    if not doc["malicious_nodes"]:
        return "no liars"
    return "liars never ignored" if worst is None else f"liars ignored after <= {worst} bad deliveries"


def _print_aggregate(doc: dict) -> None:
    print(f"{doc['runs']} seeds: 99% within 6 rounds in {doc['within_6']}; rounds to 99%: {doc['rounds_to_99']}")
    print(f"min final coverage {100 * doc['min_final_coverage']:.2f}%, max copies/node "
          f"{doc['max_payload_copies_per_node']:.3f}, max duplicate overhead {doc['max_duplicate_overhead']:.3f}, "
          f"wrong adopted {doc['bad_adopted']}, honest ignored {doc['honest_ignored']}, liars ignored after <= "
          f"{_fmt(doc['max_bad_deliveries_until_ignored'])} bad deliveries; {doc['seconds']:.1f} s")
