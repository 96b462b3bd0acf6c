"""`jeet bench --suite bits`: the Hacker's Delight programs p01-p25 evolved from clang -O0 by fuel.

STOKE's classic test: one-line bit tricks (`x & (x - 1)`, the sign, the average without overflow, the
high word of a product) that clang -O0 spells out through stack slots. Each program is evolved from its
-O0 build with `--objective fuel` for the budget, as `jeet evolve --kernel pNN --objective fuel` would;
then fuel per call is measured on the run's held-out cases (where the -O0 build finishes: p20 traps at
0) for the -O0 build, clang -O2, clang -O2 + `wasm-opt -O3` (the yardstick) and jeet's output, which is
also checked on every held-out case and carries the run's proof status (loop-free, so `proved` is
expected). Native time of the -O0 build, the yardstick and jeet's output comes from one interleaved
measurement (`jeet.timing.measure`); a program that cannot be timed says so and keeps its fuel figures.
"""

from __future__ import annotations

import json
import shlex
import statistics
import sys
import time
from dataclasses import asdict, dataclass

from rich.console import Console

from ..evolve import EvolveConfig, Evolution, load_problem
from ..evolve.pool import default_workers
from ..evolve.result import summarize
from ..kernels import HACKER_KERNELS, Kernel, get_kernel
from ..oracle import Case
from ..sandbox import Limits, Sandbox
from ..timing import TimingError, measure, pick_cases
from .options import BenchOptions
from .report import machine

BUILDS = ("O0", "O2", "O2opt")  # clang -O0, clang -O2, clang -O2 + wasm-opt -O3 (the yardstick)
REFERENCE = "O2opt"
TIMING_CASES = 200


@dataclass
class BitsRow:
    """One program: fuel per call of each build and of jeet's output on the held-out cases the -O0 build
    finishes, jeet / yardstick, the output's proof and held-out check, and the run's figures."""

    program: str
    description: str
    fuel_O0: float
    fuel_O2: float
    fuel_O2opt: float
    fuel_jeet: float
    ratio: float                   # fuel_jeet / fuel_O2opt
    verdict: str                   # "less", "equal" or "more" fuel than the yardstick
    verification: str              # the run's proof status of the output ("proved", ...)
    held_out_cases: int
    held_out_failures: int
    evaluations: int
    generations: int
    seconds: float
    operator: str = ""             # what made the output: its last operator ("wasm-opt" for a seed)
    ns_O0: float | None = None     # native ns per call, net of an empty function; None: not timed
    ns_O2opt: float | None = None
    ns_jeet: float | None = None
    timing_note: str = ""


def verdict(jeet: float, reference: float) -> str:
    """Fuel against the yardstick, with a tolerance for float means of equal integer counts."""
    if abs(jeet - reference) < 1e-9:
        return "equal"
    return "less" if jeet < reference else "more"


def fuel_per_call(sandbox: Sandbox, wasm: bytes, function: str, cases: list[Case]) -> float:
    """Mean fuel per call; NaN when the module fails any of the cases (they are ones the input finishes)."""
    results = sandbox.run(wasm, function, cases)
    return statistics.fmean(r.fuel for r in results) if all(r.ok for r in results) else float("nan")


def evolve_program(k: Kernel, opts: BenchOptions, workers: int) -> tuple[Evolution, dict]:
    """`jeet evolve --kernel K --objective fuel --budget B` without a store: the finished run and its result."""
    cfg = EvolveConfig(budget_s=opts.budget, generations=None, stagnation=None, patience_s=None, seed=opts.seed,
                       workers=workers, objective="fuel", use_wasm_opt=opts.wasm_opt)
    problem = load_problem(None, k.function, kernel=k.name, seed=opts.seed, limits=Limits(),
                           train_size=cfg.train_size, held_out_factor=cfg.held_out_factor)
    t0 = time.monotonic()
    with Evolution(problem, cfg) as evo:
        evo.start()
        reason = evo.run()
        result = summarize(evo, reason, time.monotonic() - t0, None).to_dict()
    return evo, result


def _native(k: Kernel, variants: list[bytes], cases: list[Case], opts: BenchOptions) -> tuple[list | None, str]:
    try:
        report = measure(variants, k.function, cases, seed=opts.seed, min_rounds=opts.runs, min_time_s=0.0,
                         sample_s=0.002, max_cases=TIMING_CASES)
    except TimingError as exc:
        return None, f"not timed: {exc}"
    try:
        return [round(report.ns_per_call(i), 3) for i in range(len(variants))], ""
    except TimingError as exc:
        return None, f"not timed: {exc}"


def measure_program(k: Kernel, opts: BenchOptions, sandbox: Sandbox, workers: int) -> tuple[BitsRow, bytes]:
    """Evolve one program, then measure its builds and jeet's output on the run's held-out cases."""
    evo, result = evolve_program(k, opts, workers)
    output, oracle = evo.champion.wasm, evo.problem.oracle
    o0 = k.wasm("O0")
    finished = [c for c, r in zip(oracle.held_out, sandbox.run(o0, k.function, oracle.held_out)) if r.ok]
    fuel = {b: fuel_per_call(sandbox, k.wasm(b), k.function, finished) for b in BUILDS}
    fuel["jeet"] = fuel_per_call(sandbox, output, k.function, finished)
    check = oracle.verify(sandbox, output, k.function, oracle.held_out, stop_at_first_failure=False)
    ns, note = _native(k, [o0, k.wasm(REFERENCE), output], pick_cases(finished, TIMING_CASES), opts)
    line = result.get("lineage") or []  # without a store, the run knows only the last step
    row = BitsRow(
        program=k.name, description=k.description,
        fuel_O0=round(fuel["O0"], 3), fuel_O2=round(fuel["O2"], 3), fuel_O2opt=round(fuel[REFERENCE], 3),
        fuel_jeet=round(fuel["jeet"], 3), ratio=round(fuel["jeet"] / fuel[REFERENCE], 4),
        verdict=verdict(fuel["jeet"], fuel[REFERENCE]), verification=result["verification"]["status"],
        held_out_cases=len(oracle.held_out), held_out_failures=check.failed,
        evaluations=int(result["evaluations"]), generations=int(result["generations"]),
        seconds=float(result["seconds"]), operator=line[-1] if line else "",
        ns_O0=ns[0] if ns else None, ns_O2opt=ns[1] if ns else None, ns_jeet=ns[2] if ns else None,
        timing_note=note)
    return row, output


def summary(rows: list[BitsRow]) -> dict:
    """The target's figures: on how many programs jeet needs no more fuel than the yardstick, and strictly less."""
    return {
        "programs": len(rows),
        "no_more_fuel_than_O2opt": sum(r.verdict != "more" for r in rows),
        "less_fuel_than_O2opt": sum(r.verdict == "less" for r in rows),
        "no_more_fuel_than_O2": sum(r.fuel_jeet <= r.fuel_O2 + 1e-9 for r in rows),
        "less_fuel_than_O2": sum(r.fuel_jeet < r.fuel_O2 - 1e-9 for r in rows),
        "more_fuel_than_O2opt": [r.program for r in rows if r.verdict == "more"],
        "proved": sum(r.verification == "proved" for r in rows),
        "held_out_failures": sum(r.held_out_failures for r in rows),
        "median_ratio_to_O2opt": round(statistics.median(r.ratio for r in rows), 4) if rows else None,
    }


def _ns(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def markdown(doc: dict) -> str:
    s = doc["summary"]
    lines = [
        "# jeet bench --suite bits", "",
        f"Command: `{doc['command']}`  ",
        f"Machine: {doc['machine']}; {doc['workers']} worker(s), budget {doc['budget_s']:g} s per program, "
        f"wasm-opt seeding {'on' if doc['wasm_opt'] else 'off'}; total {doc['seconds']:g} s", "",
        "The Hacker's Delight programs p01-p25, each evolved from its clang -O0 build with `--objective fuel`. "
        "Fuel is wasmtime's instruction count per call, the mean over the run's held-out cases that the -O0 build "
        "finishes; -O2+opt is clang -O2 followed by `wasm-opt -O3`, the yardstick ('ratio' is jeet / -O2+opt). "
        "'proof' is the run's verification of jeet's output against the -O0 input; 'held-out' counts the cases "
        "jeet's output passes; 'made by' is the operator that made it. Native ns per call (interleaved, empty function subtracted) is indicative: it was "
        "measured on a shared machine.", "",
        "| program | what | fuel -O0 | fuel -O2 | fuel -O2+opt | fuel jeet | ratio | vs -O2+opt | proof | held-out "
        "| ns -O0 | ns -O2+opt | ns jeet | evals | made by |",
        "|---|---|---:|---:|---:|---:|---:|---|---|---|---:|---:|---:|---:|---|",
    ]
    for r in doc["programs"]:
        mark = {"less": "**less**", "equal": "equal", "more": "MORE"}[r["verdict"]]
        lines.append(
            f"| {r['program']} | {r['description']} | {r['fuel_O0']:g} | {r['fuel_O2']:g} | {r['fuel_O2opt']:g} | "
            f"{r['fuel_jeet']:g} | {r['ratio']:.3f} | {mark} | {r['verification']} | "
            f"{r['held_out_cases'] - r['held_out_failures']}/{r['held_out_cases']} | {_ns(r['ns_O0'])} | "
            f"{_ns(r['ns_O2opt'])} | {_ns(r['ns_jeet'])} | {r['evaluations']} | {r['operator'] or 'the input'} |")
    n = s["programs"]
    lines += [
        "",
        f"- jeet needs no more fuel than clang -O2 + wasm-opt -O3 on **{s['no_more_fuel_than_O2opt']}/{n}** programs, "
        f"strictly less on **{s['less_fuel_than_O2opt']}/{n}**; against clang -O2 alone: no more on "
        f"{s['no_more_fuel_than_O2']}/{n}, less on {s['less_fuel_than_O2']}/{n}",
        f"- more fuel than -O2+opt: {', '.join(s['more_fuel_than_O2opt']) or 'none'}",
        f"- median fuel ratio jeet / -O2+opt: {s['median_ratio_to_O2opt']}",
        f"- proved equivalent to the -O0 input: {s['proved']}/{n}; held-out failures: {s['held_out_failures']}",
        "",
    ]
    return "\n".join(lines)


def run(opts: BenchOptions, console: Console) -> dict:
    """The suite: every program (or `--kernels`), written as bits.md and bits.json under opts.out, with each
    output as evolved/NAME.wasm."""
    kernels = [get_kernel(n) for n in opts.kernels] if opts.kernels else list(HACKER_KERNELS)
    workers = opts.workers or default_workers()
    t0 = time.monotonic()
    rows: list[BitsRow] = []
    saved = opts.out / "evolved"
    saved.mkdir(parents=True, exist_ok=True)
    with Sandbox() as sandbox:
        for k in kernels:
            row, output = measure_program(k, opts, sandbox, workers)
            (saved / f"{k.name}.wasm").write_bytes(output)
            rows.append(row)
            console.print(f"{k.name}: fuel O0 {row.fuel_O0:g}, O2+opt {row.fuel_O2opt:g}, jeet {row.fuel_jeet:g} "
                          f"(x{row.ratio:.3f}, {row.verdict}), {row.verification}, "
                          f"held-out {row.held_out_cases - row.held_out_failures}/{row.held_out_cases}")
    command = ("jeet bench " + " ".join(shlex.quote(a) for a in sys.argv[2:])).strip()
    doc = {"command": command, "machine": machine(), "budget_s": opts.budget, "workers": workers,
           "wasm_opt": opts.wasm_opt, "seconds": round(time.monotonic() - t0, 1), "summary": summary(rows),
           "programs": [asdict(r) for r in rows]}
    (opts.out / "bits.json").write_text(json.dumps(doc, indent=1))
    (opts.out / "bits.md").write_text(markdown(doc))
    return doc
