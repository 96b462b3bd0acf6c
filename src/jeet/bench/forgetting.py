"""`jeet bench --suite forgetting`: one long evolution (several kernels, one after another) into a single
store with small caps, recording the store's specimen count and size on disk after every generation
against its caps, then checking that every run's champion still has its whole lineage back to the
original, every ancestor's bytes present and matching its hash.

The caps are deliberately small for the amount written, so forgetting runs many times; the specimens
written over the run (what an uncapped store would hold) are reported next to what the store kept.
"""

from __future__ import annotations

import json
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..evolve import Evolution, EvolveConfig, load_problem
from ..evolve.pool import default_workers
from ..store import Store

DEFAULT_KERNELS = ("popcount", "fnv1a32", "gcd", "alu", "isqrt", "collatz", "adler32", "bit_reverse")
MAX_SPECIMENS = 1000
MAX_STORE_MB = 4.0


@dataclass
class RunOutcome:
    kernel: str
    generations: int
    seconds: float
    champion: str
    original: str
    lineage: int                 # ancestors of the champion recorded in the store
    missing: int                 # of the champion and its ancestors, how many have no bytes in the store
    reaches_original: bool
    collections: int             # automatic gc runs during this run
    removed: int
    fuel_ratio: float

    @property
    def intact(self) -> bool:
        return self.missing == 0 and self.reaches_original


@dataclass
class ForgettingReport:
    max_specimens: int
    max_store_mb: float
    budget_s: float
    workers: int
    runs: list[RunOutcome]
    samples: list[dict] = field(default_factory=list)   # t, kernel, generation, specimens, bytes
    gc_seconds: list[float] = field(default_factory=list)
    gc_notes: list[str] = field(default_factory=list)
    final: dict = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> dict:
        cap_bytes = self.max_store_mb * 1024 * 1024
        counts = [s["specimens"] for s in self.samples]
        sizes = [s["bytes"] for s in self.samples]
        removed = sum(r.removed for r in self.runs)
        return {
            "generations": sum(r.generations for r in self.runs),
            "samples": len(self.samples),
            "max_specimens_seen": max(counts, default=0),
            "max_bytes_seen": max(sizes, default=0),
            "samples_over_count_cap": sum(c > self.max_specimens for c in counts),
            "samples_over_size_cap": sum(b > cap_bytes for b in sizes),
            "collections": len(self.gc_seconds),
            "median_gc_seconds": round(statistics.median(self.gc_seconds), 4) if self.gc_seconds else None,
            "max_gc_seconds": round(max(self.gc_seconds), 4) if self.gc_seconds else None,
            "specimens_removed": removed,
            "specimens_written": removed + self.final.get("specimens", 0),
            "champions_intact": sum(r.intact for r in self.runs),
            "champions": len(self.runs),
        }

    def to_dict(self) -> dict:
        d = asdict(self)
        d["summary"] = self.summary()
        return d


def run_forgetting(kernels: list[str], budget_s: float, seed: int, workers: int, root: Path,
                   max_specimens: int = MAX_SPECIMENS, max_store_mb: float = MAX_STORE_MB,
                   on_run=None) -> ForgettingReport:
    """Evolve each kernel for `budget_s` into the store at `root` under the caps; see the module docstring."""
    workers = workers or default_workers()
    report = ForgettingReport(max_specimens, max_store_mb, budget_s, workers, [])
    t0 = time.monotonic()
    for name in kernels:
        cfg = EvolveConfig(budget_s=budget_s, seed=seed, workers=workers)
        problem = load_problem(None, kernel=name, seed=seed, train_size=cfg.train_size,
                               held_out_factor=cfg.held_out_factor)
        started = time.monotonic()
        with Store(root, max_specimens=max_specimens, max_store_mb=max_store_mb) as store, \
                Evolution(problem, cfg, store=store) as evo:

            def sample(e: Evolution, row, name: str = name) -> None:
                report.samples.append({"t": round(time.monotonic() - t0, 2), "kernel": name,
                                       "generation": row.generation, "specimens": store.count_specimens(),
                                       "bytes": store.size_on_disk()})

            evo.run(sample)
            sample(evo, evo.logbook.rows[-1])  # after the final champion was written
            history = list(store.gc_history)
            champion = evo.champion.sha256
            generations = evo.state.generation
            fuel_ratio = evo.champion.evaluation.fuel / evo.baseline.fuel if evo.baseline.fuel else 1.0
        report.gc_seconds += [r.seconds for r in history]
        report.gc_notes += [n for r in history for n in r.notes]
        report.runs.append(RunOutcome(
            kernel=name, generations=generations, seconds=round(time.monotonic() - started, 1), champion=champion,
            original=problem.sha256, lineage=0, missing=0, reaches_original=False,
            collections=len(history), removed=sum(r.removed for r in history), fuel_ratio=round(fuel_ratio, 4)))
        if on_run:
            on_run(report.runs[-1], report.samples[-1])
    # every champion, checked at the end of the whole run: forgetting for later runs must not have hurt it
    with Store(root, auto_gc=False) as store:
        for r in report.runs:
            lineage = store.ancestry(r.champion) | {r.champion}
            r.lineage = len(lineage) - 1
            r.missing = len(store.missing(lineage))
            r.reaches_original = r.champion == r.original or r.original in lineage
            if r.missing == 0:
                for sha in lineage:
                    store.get_specimen(sha)  # raises if the bytes do not match their hash
        st = store.stats()
        report.final = {k: st[k] for k in ("specimens", "lineage_edges", "blacklisted", "logbook_rows",
                                           "store_bytes", "bytes_per_specimen")}
    report.seconds = round(time.monotonic() - t0, 1)
    return report


def markdown(report: ForgettingReport, command: str) -> str:
    s = report.summary()
    mb = 1024 * 1024
    lines = [
        "# jeet bench --suite forgetting",
        "",
        f"Command: `{command}`  ",
        f"{len(report.runs)} evolution runs of {report.budget_s:g} s each into one store capped at "
        f"{report.max_specimens} specimens and {report.max_store_mb:g} MiB on disk; workers {report.workers}; "
        f"total {report.seconds:g} s.",
        "",
        "| kernel | generations | fuel ratio | auto gc runs | removed | champion lineage | missing "
        "| back to original |",
        "|---|---:|---:|---:|---:|---:|---:|:-:|",
    ]
    for r in report.runs:
        lines.append(f"| {r.kernel} | {r.generations} | {r.fuel_ratio:.3f} | {r.collections} | {r.removed} | "
                     f"{r.lineage} | {r.missing} | {'yes' if r.reaches_original else 'NO'} |")
    lines += [
        "",
        f"- specimens written over the run: {s['specimens_written']}; removed by forgetting: "
        f"{s['specimens_removed']}; kept at the end: {report.final.get('specimens')}",
        f"- largest specimen count seen after a generation: **{s['max_specimens_seen']}** (cap "
        f"{report.max_specimens}); samples over the count cap: {s['samples_over_count_cap']} of {s['samples']}",
        f"- largest size on disk seen: **{s['max_bytes_seen'] / mb:.2f} MiB** (cap {report.max_store_mb:g} MiB); "
        f"samples over the size cap: {s['samples_over_size_cap']} of {s['samples']}",
        f"- automatic collections: {s['collections']}, median {s['median_gc_seconds']} s, "
        f"longest {s['max_gc_seconds']} s",
        f"- champions with their whole lineage intact at the end: **{s['champions_intact']} / {s['champions']}**",
        f"- at the end: {report.final.get('blacklisted')} blacklisted hashes and {report.final.get('logbook_rows')} "
        f"logbook rows (under a size cap each keeps to its share of it), "
        f"{report.final.get('lineage_edges')} lineage edges; bytes per specimen "
        f"{report.final.get('bytes_per_specimen')}",
    ]
    notes = sorted(set(report.gc_notes))
    if notes:
        lines += ["", "Notes from collections that could not meet a cap:", ""] + [f"- {n}" for n in notes[:10]]
    lines += ["", "![store size over time](forgetting.png)", ""]
    return "\n".join(lines)


def plot(report: ForgettingReport, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s["t"] for s in report.samples]
    fig, (a, b) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    a.plot(t, [s["specimens"] for s in report.samples], lw=1)
    a.axhline(report.max_specimens, color="red", ls="--", lw=1, label="cap")
    a.set_ylabel("specimens")
    a.legend(loc="lower right")
    b.plot(t, [s["bytes"] / 2**20 for s in report.samples], lw=1)
    b.axhline(report.max_store_mb, color="red", ls="--", lw=1, label="cap")
    b.set_ylabel("MiB on disk")
    b.set_xlabel("seconds")
    for r_start in _run_starts(report):
        a.axvline(r_start, color="grey", lw=0.5)
        b.axvline(r_start, color="grey", lw=0.5)
    fig.suptitle("jeet store under caps during a long evolution (grey: next kernel)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _run_starts(report: ForgettingReport) -> list[float]:
    starts, last = [], None
    for s in report.samples:
        if s["kernel"] != last:
            starts.append(s["t"])
            last = s["kernel"]
    return starts[1:]


def run(opts, console) -> dict:
    """`jeet bench --suite forgetting`: writes forgetting.md, forgetting.json and forgetting.png under opts.out."""
    kernels = list(opts.kernels) if opts.kernels else list(DEFAULT_KERNELS)

    def on_run(r: RunOutcome, last: dict) -> None:
        console.print(f"{r.kernel:>14}: {r.generations} generations, {r.collections} collections removed "
                      f"{r.removed}; store now {last['specimens']} specimens, {last['bytes'] / 2**20:.2f} MiB")

    with tempfile.TemporaryDirectory(prefix="jeet-forgetting-") as tmp:
        report = run_forgetting(kernels, opts.budget, opts.seed, opts.workers, Path(tmp), on_run=on_run)
    opts.out.mkdir(parents=True, exist_ok=True)
    command = "jeet bench " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    (opts.out / "forgetting.md").write_text(markdown(report, command.strip()))
    (opts.out / "forgetting.json").write_text(json.dumps(report.to_dict(), indent=1))
    plot(report, opts.out / "forgetting.png")
    return report.to_dict()
