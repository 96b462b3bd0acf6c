"""The proof gate end to end: are evolved outputs right off the tests' beaten path, and what does it cost?

`outputs`: for buffer kernels whose tests file puts every buffer at one offset, short `jeet evolve`
runs over seeds x starting builds (-O0, -O2 + wasm-opt); each output is compared with its input on
independent calls with buffers at random offsets, random lengths and random surrounding memory
(trap or not, results, and every byte of memory outside the original's shadow-stack scratch region).
The target is 0 disagreements.

`rates`: the same evolution with the proof on and off, evaluations per second of the search (the
proof runs in a background process on promotion candidates only, so the loss should stay within 10 %);
the final check, which waits for its proof after the search, is reported apart.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..evolve import EvolveConfig, Evolution, load_problem
from ..evolve.result import verification_of
from ..kernels import Kernel
from ..oracle import Case, values_equal
from ..sandbox import Limits, Outcome, Sandbox
from ..store import Store
from ..wasm import abi, decode

STARTS = {"O0": "O0", "O2": "O2opt"}


@dataclass
class OutputRow:
    kernel: str
    start: str
    seed: int
    verification: str
    fuel_ratio: float
    calls: int
    disagreements: int
    reason: str = ""  # why "tested only" (an instruction the semantics does not cover, a timeout)


@dataclass
class RateRow:
    kernel: str
    seed: int
    prove_evals_per_s: float
    off_evals_per_s: float
    proofs_run: int
    solver_s: float
    final_check_s: float  # the final (waited-for) check, after the search: not in the rates


def _evolve(k: Kernel, build: str, seed: int, budget_s: float, prove: bool, workers: int) -> Evolution:
    """A short `jeet evolve --kernel K --level BUILD` run in a throwaway store; returns the finished run."""
    path = k.wasm_path(build)
    problem = load_problem(path, k.function, k.tests_path(), seed=seed, limits=Limits(), train_size=8)
    cfg = EvolveConfig(budget_s=budget_s, seed=seed, workers=workers, prove=prove, patience_s=None)
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp)) as store:
        evo = Evolution(problem, cfg, store=store)
        try:
            evo.start()
            evo.run()
        finally:
            evo.close()
    return evo


def random_calls(params: tuple[str, ...], pages: int, n: int, rng: random.Random,
                 scratch: tuple[int, int] = (0, 0)) -> list[Case]:
    """Calls with the buffer anywhere (aligned or not) but in the `scratch` region (the free shadow stack,
    where no caller keeps data: the function's own frame would overwrite it), of any length up to 600
    bytes (one call in twenty passes a negative length, as a signed `int n` may be), inside a block of
    random bytes; the third argument (a byte, a polynomial) mostly a byte, sometimes any value."""
    size = pages * 65536
    lo, hi = scratch
    cases = []
    while len(cases) < n:
        length = rng.choice([0, 1, 2, 3, rng.randrange(4, 33), rng.randrange(33, 601)])
        pad = rng.randrange(0, 64)
        block = 2 * pad + length + 1
        start = rng.randrange(0, max(1, size - block))
        if start < hi and lo < start + block:
            continue
        ptr = start + pad
        passed = -rng.choice((1, 2, 16, length + 1, 1 << 31)) & 0xFFFFFFFF if rng.random() < 0.05 else length
        args = [ptr, passed] + [rng.randrange(256) if rng.random() < 0.8 else rng.getrandbits(32)
                                for _ in params[2:]]
        memory = ((start, rng.randbytes(block)),)
        cases.append(Case(tuple(args), None, memory, False, ((start, bytes(block)),)))
    return cases


def disagreements(sandbox: Sandbox, original: bytes, variant: bytes, function: str, n: int,
                  rng: random.Random) -> int:
    """How many of `n` independent calls the two modules disagree on (each call on a fresh instance)."""
    m = decode(original)
    f = m.export_func(function)
    pages = m.memory_types[0].limits.min if m.memory_types else 1
    params = tuple("i64" if t == 0x7E else "i32" for t in m.func_type(f).params)
    results = tuple("i64" if t == 0x7E else "i32" for t in m.func_type(f).results)
    frame = abi.scratch(m, f)
    lo, hi = frame.region if frame is not None else (0, 0)
    cases = random_calls(params, pages, n, rng, (lo, hi))
    limits = Limits(fuel=2_000_000)
    ra = sandbox.run(original, function, cases, limits=limits, fresh_instance_per_case=True)
    rb = sandbox.run(variant, function, cases, limits=limits, fresh_instance_per_case=True)

    def outside(blocks: tuple) -> list[tuple[int, int]]:
        return [(off + i, v) for off, data in blocks for i, v in enumerate(data) if not lo <= off + i < hi]

    bad = 0
    for x, y in zip(ra, rb):
        if Outcome.OUT_OF_FUEL in (x.outcome, y.outcome) or Outcome.TIMEOUT in (x.outcome, y.outcome):
            continue
        if x.outcome is not y.outcome:
            bad += 1
        elif x.ok and (not all(values_equal(t, p, q) for t, p, q in zip(results, x.results, y.results))
                       or outside(x.memory) != outside(y.memory)):
            bad += 1
    return bad


def outputs(kernels: list[Kernel], seeds: list[int], starts: tuple[str, ...], budget_s: float, calls: int,
            workers: int, console) -> list[OutputRow]:
    rows = []
    with Sandbox() as sandbox:
        for k in kernels:
            if k.category != "buffer" or k.tests_path() is None:
                continue
            for start in starts:
                for seed in seeds:
                    evo = _evolve(k, STARTS[start], seed, budget_s, True, workers)
                    v = verification_of(evo)
                    label = v["status"] + (f"({v['bound']})" if v["status"] == "bounded" else "")
                    base = evo.problem.wasm
                    bad = disagreements(sandbox, base, evo.champion.wasm, k.function, calls, random.Random(seed))
                    ratio = evo.champion.evaluation.fuel / max(1, evo.baseline.fuel)
                    rows.append(OutputRow(k.name, start, seed, label, round(ratio, 4), calls, bad,
                                          v["reason"] if v["status"] == "tested only" else ""))
                    console.print(f"outputs {k.name} from {start} seed {seed}: {label}, fuel x{ratio:.3f}, "
                                  f"{bad}/{calls} disagreements")
    return rows


def rates(kernels: list[Kernel], seeds: list[int], budget_s: float, workers: int, console) -> list[RateRow]:
    rows = []
    for k in kernels:
        for seed in seeds:
            figures = {}
            for prove in (True, False):
                t0 = time.monotonic()
                evo = _evolve(k, "O0", seed, budget_s, prove, workers)
                search_s = time.monotonic() - t0 - evo.final_check_s
                figures[prove] = (evo.state.evaluations / max(1e-9, search_s), evo.proof, evo.final_check_s)
            proof = figures[True][1]
            rows.append(RateRow(k.name, seed, round(figures[True][0], 1), round(figures[False][0], 1),
                                proof.runs if proof else 0, round(proof.solver_s, 3) if proof else 0.0,
                                round(figures[True][2], 2)))
            console.print(f"rate {k.name} seed {seed}: proof on {figures[True][0]:.0f}/s, off {figures[False][0]:.0f}/s")
    return rows


def summary(out_rows: list[OutputRow], rate_rows: list[RateRow]) -> dict:
    ratios = [r.prove_evals_per_s / r.off_evals_per_s for r in rate_rows if r.off_evals_per_s]
    return {"outputs_checked": len(out_rows), "outputs_disagreeing": sum(r.disagreements > 0 for r in out_rows),
            "disagreements": sum(r.disagreements for r in out_rows),
            "rate_ratio_median": round(statistics.median(ratios), 3) if ratios else None}


def markdown(out_rows: list[OutputRow], rate_rows: list[RateRow], s: dict) -> list[str]:
    lines = ["", "## Evolved outputs off the tests' beaten path", "",
             "| kernel | from | seed | verification | fuel ratio | disagreements / calls | why tested only |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r.kernel} | {r.start} | {r.seed} | {r.verification} | {r.fuel_ratio} | {r.disagreements} / {r.calls} "
              f"| {r.reason[:80]} |" for r in out_rows]
    lines += ["", f"- outputs that disagree with their input: {s['outputs_disagreeing']} of {s['outputs_checked']}",
              "", "## Evolution with the proof on and off", "",
              "| kernel | seed | evals/s proof on | evals/s off | proofs run | solver s | final check s |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r.kernel} | {r.seed} | {r.prove_evals_per_s} | {r.off_evals_per_s} | {r.proofs_run} | {r.solver_s} "
              f"| {r.final_check_s} |" for r in rate_rows]
    lines += ["", f"- median ratio on/off: {s['rate_ratio_median']} (target >= 0.9)", ""]
    return lines
