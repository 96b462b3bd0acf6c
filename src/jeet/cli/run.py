"""`jeet run`: drive the embedded runtime on one function and show what it did.

Calls come from the tests file (each case's arguments, round-robin) or, without one, from the
differential oracle's input generator. The command makes `--calls` calls (the function gets
hot after `--hot` of them and evolves in the background), waits for that evolution for up to
`--budget` seconds, makes `--calls` more calls (now served by the champion, shadow-checked),
and prints the runtime's statistics.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import typer
import wasmtime
from rich.console import Console
from rich.table import Table

from ..runtime.config import MAX_CALL_TIMEOUT_S
from .checks import MAX_CALLS, check_input, check_tests, count, fraction, seconds
from .errors import user_errors

_SLACK_S = 20.0  # process start-up and the final held-out check, on top of the evolution budget


@user_errors
def run(
    module: Path = typer.Argument(..., help="Module (.wasm or .wat)."),
    function: str | None = typer.Option(None, "--function", "-f", help="Exported function to call."),
    tests: Path | None = typer.Option(None, "--tests", help="JSON Lines test cases: their arguments drive the calls."),
    calls: int = typer.Option(1000, "--calls", help="Calls before and again after the background evolution."),
    hot: int = typer.Option(100, "--hot", help="Calls after which the function evolves (0: never)."),
    budget: float = typer.Option(10.0, "--budget", help="Seconds of background evolution to wait for."),
    shadow: float = typer.Option(0.01, "--shadow", help="Fraction of champion calls also run on the original."),
    seed: int = typer.Option(0, "--seed"),
    data: Path | None = typer.Option(None, "--data", help="Data folder (specimen store); default ~/.jeet."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    call_timeout: float = typer.Option(1.0, "--call-timeout", help="Seconds one call may run (code that can loop)."),
    pure: bool = typer.Option(False, "--pure", help="Declare the function stateless: evolve it even where the "
                              "static check cannot show that it keeps no state."),
) -> None:
    """Call a function through the runtime, let it evolve while hot, and print the runtime's stats."""
    from ..evolve.problem import pick_function, read_module
    from ..runtime import Runtime

    count("--calls", calls, 1, MAX_CALLS)
    count("--hot", hot, 0, MAX_CALLS)
    seconds("--budget", budget)
    fraction("--shadow", shadow)
    seconds("--call-timeout", call_timeout, MAX_CALL_TIMEOUT_S)
    check_input(module, "module")
    check_tests(tests)
    wasm = read_module(module)
    function = pick_function(wasm, function, str(module))
    with Runtime(data, hot=hot, budget_s=budget, shadow=shadow, seed=seed, call_timeout_s=call_timeout) as rt:
        fn = rt.load(wasm, function, tests=tests, pure=pure)
        inputs = _inputs(fn.params, fn.results, tests, seed)
        first = _drive(fn, inputs, calls)
        waited = time.monotonic()
        fn.wait(budget + _SLACK_S)
        waited = time.monotonic() - waited
        second = _drive(fn, inputs, calls)
        stats = fn.stats()
    report = {**{k: stats[k] for k in ("function", "module_sha256", "tier", "history", "calls", "champion_sha256",
                                       "champion_fuel", "baseline_fuel", "speedup", "held_out_cases",
                                       "shadow_checks", "mismatches", "rounds", "pinned", "state", "instances", "timeouts", "error")},
              "waited_s": round(waited, 3), "before": first, "after": second}
    if json_out:
        sys.stdout.write(json.dumps(report) + "\n")
    else:
        _print(report, Console())


def _inputs(params: tuple[str, ...], results: tuple[str, ...], tests: Path | None, seed: int) -> list[tuple]:
    """Argument tuples as Python values: the tests' own, or generated ones (edge values, then random)."""
    from ..oracle import generate_inputs, load_tests, to_python

    if tests is not None:
        args = [c.args for c in load_tests(tests, params, results)]
    else:
        args = generate_inputs(params, random.Random(seed), 256)
    return [tuple(to_python(t, v) for t, v in zip(params, a)) for a in args] or [()]


def _drive(fn: Any, inputs: list[tuple], calls: int) -> dict:
    """`calls` calls round-robin over `inputs`; traps are counted, not fatal (the original traps there too)."""
    traps = 0
    times = []
    n = len(inputs)
    for i in range(calls):
        args = inputs[i % n]
        t0 = time.perf_counter()
        try:
            fn(*args)
        except wasmtime.Trap:
            traps += 1
        times.append(time.perf_counter() - t0)
    return {"calls": calls, "traps": traps, "median_us": round(statistics.median(times) * 1e6, 3)}


def _print(r: dict, console: Console) -> None:
    t = Table(title=f"jeet run: {r['function']}", show_header=False)
    t.add_column("")
    t.add_column("", justify="right")
    t.add_row("tier", r["tier"])
    t.add_row("history", " > ".join(r["history"]))
    t.add_row("calls", str(r["calls"]))
    base, champ = r["baseline_fuel"], r["champion_fuel"]
    fuel = "n/a" if base is None else f"{base} -> {champ}" + (f" ({r['speedup']:.3f}x)" if r["speedup"] else "")
    t.add_row("held-out fuel", fuel)
    t.add_row("champion", r["champion_sha256"][:16] + (" (the original)" if r["champion_sha256"] == r["module_sha256"] else ""))
    t.add_row("shadow checks / mismatches", f"{r['shadow_checks']} / {r['mismatches']}")
    t.add_row("median call", f"{r['before']['median_us']} -> {r['after']['median_us']} us")
    t.add_row("state", f"{r['state']}; instances {r['instances']}")
    if r["timeouts"]:
        t.add_row("calls past --call-timeout", str(r["timeouts"]))
    if r["pinned"]:
        t.add_row("pinned", r["pinned"])
    if r["error"]:
        t.add_row("evolution error", r["error"])
    console.print(t)
