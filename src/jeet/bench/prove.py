"""`jeet bench --suite prove`: the equivalence checker on the kernel suite, and checked against wasmtime.

Per kernel and build (-O0, -O2): whether the call tree is loop-free; the proof of the input against
itself; the -O0 build against the -O2 build; and a planted bug (a variant wrong on one input, and for
buffer kernels only when one memory byte has one value) that must be refuted with exactly that input.
Then the cross-check "0 false proved": jeet's own mutants of every kernel and `wasm-tools smith`
integer-only modules (each against its `wasm-opt -O2` output and against a jeet mutant); wherever the
checker says proved, random inputs must agree under jeet's sandbox, and wherever it says refuted, the
counterexample must differ when run again.
"""

from __future__ import annotations

import json
import platform
import random
import statistics
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console

from ..genetics import Genome, operator_set
from ..kernels import BUFFER_BASE, KERNELS, Kernel, get_kernel
from ..oracle import Case, edge_values, values_equal
from ..oracle.values import valtype_names
from ..prove import loop_free, prove
from ..prove.replay import PROBE, differs, probe_module, run_side
from ..sandbox import Limits, Outcome, Sandbox
from ..wasm import Instr, Module, abi, decode, validate
from ..wasm.types import EMPTY_BLOCK, I32, I64
from .options import BenchOptions
from .prove_outputs import OutputRow, RateRow, outputs, rates
from .prove_outputs import markdown as gate_markdown
from .prove_outputs import summary as gate_summary

BOUND = 16
TIMEOUT_S = 30.0
PLANT_BYTE = 0xA5


@dataclass
class KernelRow:
    kernel: str
    build: str
    loop_free: bool
    self_result: str
    self_s: float
    o0_vs_o2: str
    o0_vs_o2_s: float
    planted_result: str
    planted_exact: bool
    planted_s: float
    planted_input: str
    planted_bound: int = BOUND


@dataclass
class CrossCheck:
    source: str
    pairs: int = 0
    proved: int = 0
    bounded: int = 0
    refuted: int = 0
    unknown: int = 0
    false_proved: int = 0
    refuted_confirmed: int = 0
    inputs_per_proved: int = 0


# -- planted bugs ------------------------------------------------------------------------------------------


def _candidate(k: Kernel, rng: random.Random) -> tuple[int, ...]:
    out = []
    for i, t in enumerate(k.params):
        w = 64 if t == "i64" else 32
        if k.category == "buffer" and i == 0:
            out.append(BUFFER_BASE + rng.randrange(512))
        elif k.category == "buffer" and i == 1:
            out.append(rng.randrange(1, 12))
        else:
            out.append(rng.choice([rng.getrandbits(w), rng.getrandbits(rng.randint(2, 10))]))
    return tuple(out)


def plant(wasm: bytes, function: str, args: tuple[int, ...], wrong: int, byte_at: int | None) -> bytes:
    """`wasm` with `function` returning `wrong` when every argument equals `args` (and, with
    `byte_at`, memory[byte_at] == PLANT_BYTE); elsewhere unchanged."""
    m = decode(wasm)
    f = m.export_func(function)
    ft = m.func_type(f)
    code: list[Instr] = []
    for i, (t, v) in enumerate(zip(ft.params, args)):
        kind = "i64" if t == I64 else "i32"
        code += [Instr.named("local.get", i), Instr.named(f"{kind}.const", v), Instr.named(f"{kind}.eq")]
        if i:
            code.append(Instr.named("i32.and"))
    if byte_at is not None:
        code += [Instr.named("i32.const", byte_at), Instr.named("i32.load8_u", 0, 0),
                 Instr.named("i32.const", PLANT_BYTE), Instr.named("i32.eq"), Instr.named("i32.and")]
    kind = "i64" if ft.results[0] == I64 else "i32"
    code += [Instr.named("if", EMPTY_BLOCK), Instr.named(f"{kind}.const", wrong), Instr.named("return"),
             Instr.named("end")]
    d = m.defined_index(f)
    body = m.bodies[d]
    return m.with_body(d, body.with_instrs(tuple(code) + body.instrs)).encode()


def _planted(k: Kernel, wasm: bytes, sandbox: Sandbox, rng: random.Random) -> tuple[bytes, tuple[int, ...], int | None]:
    """A planted-bug variant on the input with the shortest run (so loops stay within the bound)."""
    best = None
    byte_at = BUFFER_BASE + 4096 + rng.randrange(256) if k.category == "buffer" else None
    for _ in range(48):
        args = _candidate(k, rng)
        mem = ((byte_at, bytes([PLANT_BYTE])),) if byte_at is not None else ()
        r = sandbox.run(wasm, k.function, [Case(args, memory=mem)], fresh_instance_per_case=True)[0]
        if r.outcome is Outcome.OK and (best is None or r.fuel < best[0]):
            best = (r.fuel, args, r.results[0])
    assert best is not None, k.name
    _, args, result = best
    mask = (1 << (64 if k.results[0] == "i64" else 32)) - 1
    return plant(wasm, k.function, args, (result + 1) & mask, byte_at), args, byte_at


def kernel_rows(kernels: list[Kernel], sandbox: Sandbox, seed: int, console: Console) -> list[KernelRow]:
    rows = []
    for k in kernels:
        for build in ("O0", "O2"):
            wasm = k.wasm(build)
            t = time.perf_counter()
            v_self = prove(wasm, wasm, k.function, bound=BOUND, timeout_s=TIMEOUT_S)
            self_s = time.perf_counter() - t
            if build == "O0":
                t = time.perf_counter()
                v_cross = prove(wasm, k.wasm("O2"), k.function, bound=BOUND, timeout_s=10.0)
                cross, cross_s = _label(v_cross), time.perf_counter() - t
            else:
                cross, cross_s = "", 0.0
            planted_bound = BOUND
            if "f64" in k.params + k.results:
                planted, exact, planted_s, shown = v_self.result, False, 0.0, "(floats: tested only)"
            else:
                variant, args, byte_at = _planted(k, wasm, sandbox, random.Random(f"{seed}:{k.name}:{build}"))
                t = time.perf_counter()
                v = prove(wasm, variant, k.function, bound=BOUND, timeout_s=TIMEOUT_S)
                if v.result == "bounded":  # the planted input runs its loops longer: as a user would, raise k
                    planted_bound = 64
                    v = prove(wasm, variant, k.function, bound=planted_bound, timeout_s=TIMEOUT_S)
                planted_s = time.perf_counter() - t
                planted = v.result
                exact = v.refuted and v.counterexample.args == args
                if exact and byte_at is not None:
                    initial = {off + i: x for off, data in v.counterexample.memory for i, x in enumerate(data)}
                    exact = initial.get(byte_at) == PLANT_BYTE
                shown = f"args={list(args)}" + (f" mem[{byte_at}]={PLANT_BYTE:#x}" if byte_at is not None else "")
            row = KernelRow(k.name, build, loop_free(wasm, k.function), _label(v_self), round(self_s, 3), cross,
                            round(cross_s, 3), planted, exact, round(planted_s, 3), shown, planted_bound)
            console.print(f"prove {k.name} {build}: self {row.self_result} ({self_s:.2f} s), planted {planted}"
                          f"{' exact' if exact else ''} ({planted_s:.2f} s){', O0 vs O2 ' + cross if cross else ''}")
            rows.append(row)
    return rows


def _label(v) -> str:
    return f"bounded({v.bound})" if v.result == "bounded" else v.result


# -- the cross-check against wasmtime ------------------------------------------------------------------------


def _random_cases(params: tuple[str, ...], has_memory: bool, mem_bytes: int, n: int,
                  rng: random.Random) -> list[Case]:
    edges = {t: edge_values(t)[:24] for t in set(params)}
    cases = []
    for i in range(n):
        args = []
        for t in params:
            w = 64 if t == "i64" else 32
            r = rng.random()
            if r < 0.3:
                args.append(rng.choice(edges[t]))
            elif r < 0.6:
                args.append(rng.getrandbits(rng.randint(1, 16)))
            elif r < 0.8 and has_memory:
                args.append(rng.randrange(max(1, mem_bytes)))
            else:
                args.append(rng.getrandbits(w))
        memory: tuple = ()
        if has_memory and mem_bytes:
            off = rng.randrange(max(1, mem_bytes - 64))
            memory = ((off, rng.randbytes(64)),)
        cases.append(Case(tuple(args), memory=memory))
    return cases


def agree(sandbox: Sandbox, a: Module, b: Module, fa: int, fb: int, n: int, rng: random.Random) -> int:
    """How many of `n` random calls (arguments, memory blocks) the two modules disagree on:
    trap or not, results, every global after the call, and the memory block after the call
    outside the original's shadow-stack scratch region (the one difference a proof allows)."""
    ft = a.func_type(fa)
    params, results = valtype_names(ft.params), valtype_names(ft.results)
    pages = a.memory_types[0].limits.min if a.memory_types else 0
    cases = _random_cases(params, bool(a.memory_types), pages * 65536, n, rng)
    cases = [Case(c.args, None, c.memory, False, tuple((off, bytes(len(d))) for off, d in c.memory)) for c in cases]
    limits = Limits(memory_bytes=max(1 << 20, (pages + 1) * 65536), fuel=200_000)
    ra = sandbox.run(probe_module(a, fa, ()), PROBE, cases, limits=limits)
    rb = sandbox.run(probe_module(b, fb, ()), PROBE, cases, limits=limits)
    frame = abi.scratch(a, fa)
    lo, hi = frame.region if frame is not None else (0, 0)

    def outside(blocks: tuple) -> list[tuple[int, int]]:  # (address, byte) pairs not in the scratch region
        return [(off + i, v) for off, data in blocks for i, v in enumerate(data) if not lo <= off + i < hi]

    bad = 0
    for x, y in zip(ra, rb):
        if Outcome.OUT_OF_FUEL in (x.outcome, y.outcome) or Outcome.TIMEOUT in (x.outcome, y.outcome):
            continue
        if x.outcome is not y.outcome:
            bad += 1
        elif x.ok and (not all(values_equal(t, p, q) for t, p, q in zip(results, x.results, y.results))
                       or x.results[len(results):] != y.results[len(results):]
                       or outside(x.memory) != outside(y.memory)):
            bad += 1
    return bad


def _confirm(sandbox: Sandbox, a: bytes, b: bytes, function: str, v) -> bool:
    """Run a refutation's case again, as a tests file would: the variant must fail it."""
    cex = v.counterexample
    if cex.globals_at_init:  # first as a tests file would run it
        case = cex.to_case()
        ra = sandbox.run(a, function, [case], fresh_instance_per_case=True)[0]
        rb = sandbox.run(b, function, [case], fresh_instance_per_case=True)[0]
        if ra.outcome is not rb.outcome or (ra.ok and (ra.results != rb.results or ra.memory != rb.memory)):
            return True
    # a difference in globals (or one that needs other globals at entry): through the probe export
    ma, mb = decode(a), decode(b)
    fa, fb = ma.export_func(function), mb.export_func(function)
    sa = run_side(sandbox, ma, fa, cex.args, cex.globals, cex.memory, cex.watch)
    sb = run_side(sandbox, mb, fb, cex.args, cex.globals, cex.memory, cex.watch)
    gtypes = {i: "i64" if g.type == I64 else "i32" for i, g in enumerate(ma.global_types)}
    return sa is not None and sb is not None and differs(sa, sb, cex.result_types, gtypes)


def _check_pair(cc: CrossCheck, sandbox: Sandbox, a: bytes, b: bytes, function: str, n: int,
                rng: random.Random, timeout_s: float) -> None:
    v = prove(a, b, function, bound=8, timeout_s=timeout_s)
    cc.pairs += 1
    setattr(cc, v.result, getattr(cc, v.result) + 1)
    if v.result == "proved":
        ma, mb = decode(a), decode(b)
        if agree(sandbox, ma, mb, ma.export_func(function), mb.export_func(function), n, rng):
            cc.false_proved += 1
    elif v.result == "refuted" and _confirm(sandbox, a, b, function, v):
        cc.refuted_confirmed += 1
    cc.inputs_per_proved = n


def _mutants(wasm: bytes, function: str, count: int, rng: random.Random) -> list[bytes]:
    ops = operator_set("structural")
    parent = Genome.from_bytes(wasm, function)
    out: list[bytes] = []
    for _ in range(count * 8):
        if len(out) >= count:
            break
        op = rng.choice([o for o in ops if o.arity == 1])
        child = op.apply(rng, [parent])
        if child is None or child.wasm == wasm:
            continue
        try:
            validate(decode(child.wasm))
        except Exception:
            continue
        out.append(child.wasm)
    return out


def _smith(rng: random.Random) -> bytes | None:
    flags = ["--allow-floats", "false", "--simd-enabled", "false", "--bulk-memory-enabled", "false",
             "--reference-types-enabled", "false", "--max-imports", "0", "--max-memories", "1",
             "--max-memory32-bytes", "131072", "--export-everything", "true", "--min-funcs", "1",
             "--max-funcs", "4", "--max-tables", "0", "--exceptions-enabled", "false", "--gc-enabled", "false",
             "--tail-call-enabled", "false", "--threads-enabled", "false", "--memory64-enabled", "false",
             "--custom-page-sizes-enabled", "false", "--wide-arithmetic-enabled", "false",
             "--extended-const-enabled", "false", "--ensure-termination", "--max-instructions", "80"]
    try:
        p = subprocess.run(["wasm-tools", "smith", *flags], input=rng.randbytes(4000), capture_output=True,
                           timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return p.stdout if p.returncode == 0 and p.stdout else None


def _wasm_opt(wasm: bytes) -> bytes | None:
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.wasm", Path(tmp) / "out.wasm"
        src.write_bytes(wasm)
        try:
            p = subprocess.run(["wasm-opt", "-O2", "-all", str(src), "-o", str(dst)], capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return dst.read_bytes() if p.returncode == 0 and dst.exists() else None


def _integer_exports(wasm: bytes) -> list[str]:
    m = decode(wasm)
    out = []
    for name, f in m.exported_functions().items():
        ft = m.func_type(f)
        if all(t in (I32, I64) for t in ft.params + ft.results):
            out.append(name)
    return out


def cross_check(kernels: list[Kernel], sandbox: Sandbox, seed: int, inputs: int, mutants_per_kernel: int,
                smith_modules: int, console: Console, timeout_s: float = 2.0) -> list[CrossCheck]:
    rng = random.Random(seed)
    mut = CrossCheck("jeet mutants of the kernels")
    for k in kernels:
        if "f64" in k.params + k.results:
            continue
        for build in ("O0", "O2"):
            wasm = k.wasm(build)
            for child in _mutants(wasm, k.function, mutants_per_kernel, rng):
                _check_pair(mut, sandbox, wasm, child, k.function, inputs, rng, timeout_s)
        console.print(f"cross-check mutants {k.name}: {mut}")
    smith = CrossCheck("wasm-smith modules vs wasm-opt -O2 and jeet mutants")
    made = 0
    for _ in range(smith_modules * 10):
        if made >= smith_modules:
            break
        wasm = _smith(rng)
        if wasm is None:
            continue
        try:
            validate(decode(wasm))
            names = _integer_exports(wasm)
        except Exception:
            continue
        if not names:
            continue
        made += 1
        opt = _wasm_opt(wasm)
        for name in names[:2]:
            if opt is not None and name in _integer_exports(opt):
                _check_pair(smith, sandbox, wasm, opt, name, inputs, rng, timeout_s)
            try:
                children = _mutants(wasm, name, 1, rng)
            except Exception:
                children = []
            for child in children:
                _check_pair(smith, sandbox, wasm, child, name, inputs, rng, timeout_s)
    console.print(f"cross-check smith: {smith}")
    return [mut, smith]


# -- the report -------------------------------------------------------------------------------------------


def run(opts: BenchOptions, console: Console, *, inputs: int = 100_000, mutants_per_kernel: int = 6,
        smith_modules: int = 25, evolve_outputs: bool = True) -> dict:
    kernels = [get_kernel(n) for n in opts.kernels] if opts.kernels else list(KERNELS)
    t0 = time.perf_counter()
    with Sandbox() as sandbox:
        rows = kernel_rows(kernels, sandbox, opts.seed, console)
        checks = cross_check(kernels, sandbox, opts.seed, inputs, mutants_per_kernel, smith_modules, console)
    # the gate end to end: evolved buffer kernels off the tests' offsets, and the proof's cost
    seeds = list(range(opts.seed, opts.seed + max(1, min(opts.runs, 5))))
    out_rows, rate_rows = [], []
    if evolve_outputs:
        out_rows = outputs(kernels, seeds, opts.starts, opts.budget, 3000, opts.workers, console)
        rated = [k for k in kernels if k.category == "buffer"][:2] or kernels[:2]
        rate_rows = rates(rated, seeds[:3], opts.budget, opts.workers, console)
    gate = gate_summary(out_rows, rate_rows)
    planted = [r for r in rows if r.planted_result != "unknown" or r.planted_s]
    times = [r.planted_s for r in rows if r.planted_s] + [r.self_s for r in rows]
    summary = {
        "kernels": len(kernels),
        "loop_free_proved": sum(r.loop_free and r.self_result == "proved" for r in rows),
        "loop_free": sum(r.loop_free for r in rows),
        "loops_bounded_16": sum((not r.loop_free) and r.self_result in ("bounded(16)", "proved") for r in rows),
        "loops": sum(not r.loop_free for r in rows),
        "planted_refuted_exact": sum(r.planted_exact for r in rows),
        "planted": len([r for r in planted if r.planted_input and not r.planted_input.startswith("(")]),
        "planted_max_s": max((r.planted_s for r in rows), default=0.0),
        "check_median_s": round(statistics.median(times), 4) if times else 0.0,
        "check_max_s": round(max(times), 4) if times else 0.0,
        "o0_vs_o2": {label: sum(r.o0_vs_o2 == label for r in rows) for label in
                     sorted({r.o0_vs_o2 for r in rows if r.o0_vs_o2})},
        "false_proved": sum(c.false_proved for c in checks),
        **gate,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    report = {"suite": "prove", "machine": platform.platform(), "bound": BOUND, "timeout_s": TIMEOUT_S,
              "command": f"jeet bench --suite prove --seed {opts.seed}", "summary": summary,
              "kernels": [asdict(r) for r in rows], "cross_check": [asdict(c) for c in checks],
              "outputs": [asdict(r) for r in out_rows], "rates": [asdict(r) for r in rate_rows]}
    opts.out.mkdir(parents=True, exist_ok=True)
    (opts.out / "prove.json").write_text(json.dumps(report, indent=1))
    (opts.out / "prove.md").write_text(markdown(report))
    return report


def markdown(report: dict) -> str:
    s = report["summary"]
    lines = ["# jeet bench --suite prove", "", f"`{report['command']}` on {report['machine']}; loop bound "
             f"{report['bound']}, {report['timeout_s']:g} s per query, solver Bitwuzla.", "",
             "| kernel | build | loop-free | self | O0 vs O2 | planted bug (k) | exact input | planted s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in report["kernels"]:
        lines.append(f"| {r['kernel']} | {r['build']} | {'yes' if r['loop_free'] else 'no'} | {r['self_result']} "
                     f"| {r['o0_vs_o2']} | {r['planted_result']} ({r['planted_bound']}) "
                     f"| {'yes' if r['planted_exact'] else 'no'} "
                     f"| {r['planted_s']:.3f} |")
    lines += ["", f"- loop-free builds proved: {s['loop_free_proved']} of {s['loop_free']}; loop builds bounded(16) or "
              f"proved: {s['loops_bounded_16']} of {s['loops']}",
              f"- planted bugs refuted with the exact input: {s['planted_refuted_exact']} of {s['planted']} "
              f"(slowest {s['planted_max_s']:.3f} s)",
              f"- wall time per check (self and planted): median {s['check_median_s']:.4f} s, "
              f"max {s['check_max_s']:.3f} s",
              f"- O0 build vs O2 build (10 s per query): {s['o0_vs_o2']}", "",
              "| cross-check | pairs | proved | bounded | refuted | unknown | false proved | refuted confirmed "
              "| random inputs per proved |", "|---|---|---|---|---|---|---|---|---|"]
    for c in report["cross_check"]:
        lines.append(f"| {c['source']} | {c['pairs']} | {c['proved']} | {c['bounded']} | {c['refuted']} | "
                     f"{c['unknown']} | {c['false_proved']} | {c['refuted_confirmed']} | {c['inputs_per_proved']} |")
    lines += gate_markdown([OutputRow(**r) for r in report.get("outputs", [])],
                           [RateRow(**r) for r in report.get("rates", [])], s)
    lines += ["", f"total {s['seconds']} s", ""]
    return "\n".join(lines)
