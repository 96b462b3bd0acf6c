"""`jeet bench --suite compression`: bytes per specimen raw, plain zstd, and zstd with a dictionary trained
on the population, on a store filled by real evolution runs of built-in kernels.

Two dictionary figures per function: held out (trained on half of the specimens, measured on the other
half: what new specimens of a running evolution get) and as stored (the store's own training, adoption
rule and recompression over the whole population, with the dictionaries' own bytes shared out). Also
the store's size on disk before and after, and read/write speed with and without dictionaries.
"""

from __future__ import annotations

import json
import shlex
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..evolve import Evolution, EvolveConfig, load_problem
from ..evolve.pool import default_workers
from ..store import Store
from ..store import dictionaries as dl

DEFAULT_KERNELS = ("popcount", "fnv1a32", "gcd", "alu", "isqrt", "collatz")


@dataclass
class FunctionFigures:
    function: str
    specimens: int
    raw: float                   # bytes per specimen
    zstd: float                  # plain zstd frame at the store's level
    zstd_dict_held_out: float | None   # dictionary trained on the other half, without its own bytes
    dict_bytes_held_out: int | None
    zstd_dict_stored: float      # as stored after training and recompression (dictionary frames or plain)
    stored_incl_dict: float      # the same plus the function's dictionaries' bytes shared out
    dictionary_adopted: bool


@dataclass
class CompressionReport:
    budget_s: float
    workers: int
    functions: list[FunctionFigures]
    totals: dict
    disk: dict
    speed: dict
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def _per(total: int, n: int) -> float:
    return round(total / n, 1) if n else 0.0


def fill(root: Path, kernels: list[str], budget_s: float, seed: int, workers: int, on_run=None) -> None:
    """Real evolution runs into one store, with no caps and automatic dictionaries off (plain frames)."""
    for name in kernels:
        cfg = EvolveConfig(budget_s=budget_s, seed=seed, workers=workers)
        problem = load_problem(None, kernel=name, seed=seed, train_size=cfg.train_size,
                               held_out_factor=cfg.held_out_factor)
        with Store(root, auto_gc=False, auto_dictionaries=False) as store, \
                Evolution(problem, cfg, store=store) as evo:
            evo.run()
            if on_run:
                on_run(name, evo.state.generation, store.count_specimens())


def measure(root: Path) -> tuple[list[FunctionFigures], dict, dict, dict]:
    """Per-function figures, totals, size on disk before/after, and speeds, for the store at `root`."""
    import zstandard

    with Store(root, auto_gc=False, auto_dictionaries=False) as store:
        level = store.db.codec.level
        plain = zstandard.ZstdCompressor(level=level)
        functions = [r[0] for r in store.conn.execute("SELECT DISTINCT function FROM specimens ORDER BY function")]
        samples: dict[str, list[bytes]] = {}
        for f in functions:
            rows = store.conn.execute(
                "SELECT sha256, data, size, dict_id FROM specimens WHERE function = ? ORDER BY created", (f,)
            ).fetchall()
            samples[f] = [store.db.decode(*r) for r in rows]
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        before = {"store_bytes": store.size_on_disk(), "specimens": store.count_specimens()}
        t = time.perf_counter()
        n_read = 0
        for sha, in store.conn.execute("SELECT sha256 FROM specimens").fetchall():
            store.get_specimen(sha)
            n_read += 1
        read_plain = n_read / (time.perf_counter() - t)
        held: dict[str, tuple[float | None, int | None]] = {}
        for f, xs in samples.items():
            cand = dl.train(xs, level)
            held[f] = (None, None) if cand is None else (_per(cand.dict_bytes, cand.held_out), len(cand.data))
        t = time.perf_counter()
        adopted = {d["function"] for d in store.train_dictionaries(force=True)}
        train_s = time.perf_counter() - t
        t = time.perf_counter()
        outcome = store.recompress()
        recompress_s = time.perf_counter() - t
        report = store.gc(recompress=False)  # no caps: only hands the freed space back
        after = {"store_bytes": store.size_on_disk(), "specimens": store.count_specimens(), "vacuum": report.vacuum}
        t = time.perf_counter()
        for sha, in store.conn.execute("SELECT sha256 FROM specimens").fetchall():
            store.get_specimen(sha)
        read_dict = n_read / (time.perf_counter() - t)
        stored = dict(store.conn.execute(
            "SELECT function, sum(length(data)) FROM specimens GROUP BY function").fetchall())
        dict_bytes = dict(store.conn.execute(
            "SELECT function, sum(length(data)) FROM dictionaries GROUP BY function").fetchall())
    figures = []
    for f in functions:
        xs = samples[f]
        n = len(xs)
        figures.append(FunctionFigures(
            function=f, specimens=n, raw=_per(sum(map(len, xs)), n),
            zstd=_per(sum(len(plain.compress(x)) for x in xs), n),
            zstd_dict_held_out=held[f][0], dict_bytes_held_out=held[f][1],
            zstd_dict_stored=_per(stored.get(f, 0), n),
            stored_incl_dict=_per(stored.get(f, 0) + dict_bytes.get(f, 0), n),
            dictionary_adopted=f in adopted,
        ))
    n = sum(x.specimens for x in figures)
    totals = {
        "specimens": n,
        "raw": _per(sum(x.raw * x.specimens for x in figures), n),
        "zstd": _per(sum(x.zstd * x.specimens for x in figures), n),
        "zstd_dict_held_out": _per(sum((x.zstd_dict_held_out or x.zstd) * x.specimens for x in figures), n),
        "zstd_dict_stored": _per(sum(x.zstd_dict_stored * x.specimens for x in figures), n),
        "stored_incl_dict": _per(sum(x.stored_incl_dict * x.specimens for x in figures), n),
        "dictionaries": len(adopted),
    }
    disk = {"before": before, "after": after,
            "bytes_per_specimen_before": _per(before["store_bytes"], before["specimens"]),
            "bytes_per_specimen_after": _per(after["store_bytes"], after["specimens"])}
    speed = {"train_s": round(train_s, 3), "recompress_s": round(recompress_s, 3),
             "recompressed": outcome["rewritten"],
             "reads_per_s_plain": round(read_plain), "reads_per_s_dictionary": round(read_dict)}
    return figures, totals, disk, speed


def markdown(r: CompressionReport, command: str) -> str:
    t = r.totals
    lines = [
        "# jeet bench --suite compression",
        "",
        f"Command: `{command}`  ",
        f"Store filled by real evolution runs ({r.budget_s:g} s per kernel, workers {r.workers}), "
        f"{t['specimens']} specimens; total {r.seconds:g} s. Bytes per specimen:",
        "",
        "| function | specimens | raw | zstd | zstd + dict (held out) | dict bytes | zstd + dict (stored) | "
        "stored incl. dict | adopted |",
        "|---|---:|---:|---:|---:|---:|---:|---:|:-:|",
    ]
    for f in r.functions:
        lines.append(f"| {f.function} | {f.specimens} | {f.raw} | {f.zstd} | {f.zstd_dict_held_out or 'n/a'} | "
                     f"{f.dict_bytes_held_out or 'n/a'} | {f.zstd_dict_stored} | {f.stored_incl_dict} | "
                     f"{'yes' if f.dictionary_adopted else 'no'} |")
    lines.append(f"| **all** | {t['specimens']} | {t['raw']} | {t['zstd']} | {t['zstd_dict_held_out']} | | "
                 f"{t['zstd_dict_stored']} | {t['stored_incl_dict']} | {t['dictionaries']} |")
    d, s = r.disk, r.speed
    lines += [
        "",
        f"- plain zstd / raw: {t['zstd'] / t['raw']:.3f}; with dictionaries (stored, their own bytes included) / "
        f"raw: {t['stored_incl_dict'] / t['raw']:.3f}; dictionaries vs plain zstd: "
        f"{t['stored_incl_dict'] / t['zstd']:.3f}x the bytes",
        f"- store on disk: {d['before']['store_bytes']:,} B before, {d['after']['store_bytes']:,} B after "
        f"recompression and vacuum ({d['bytes_per_specimen_before']} -> {d['bytes_per_specimen_after']} B per "
        "specimen, everything included: lineage, blacklist, runs, logbook, indexes)",
        f"- training {s['train_s']} s, recompressing {s['recompressed']} blobs {s['recompress_s']} s; reads "
        f"(decode + hash check) {s['reads_per_s_plain']}/s plain, {s['reads_per_s_dictionary']}/s with dictionaries",
        "",
        "'held out': each function's dictionary trained on half its specimens, measured on the other half. "
        "'stored': the store's own training (512 specimens: the newest half and a spread of older ones; adoption "
        "only when the held-out half shrinks by 10 % and the savings pay for the dictionary) followed by "
        "recompression of every blob, keeping the "
        "smaller of dictionary and plain frame.",
        "",
    ]
    return "\n".join(lines)


def run(opts, console) -> dict:
    """`jeet bench --suite compression`: writes compression.md and compression.json under opts.out."""
    kernels = list(opts.kernels) if opts.kernels else list(DEFAULT_KERNELS)
    workers = opts.workers or default_workers()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="jeet-compression-") as tmp:
        root = Path(tmp)
        fill(root, kernels, opts.budget, opts.seed, workers,
             on_run=lambda k, g, n: console.print(f"{k:>14}: {g} generations; store holds {n} specimens"))
        figures, totals, disk, speed = measure(root)
    report = CompressionReport(opts.budget, workers, figures, totals, disk, speed, round(time.monotonic() - t0, 1))
    opts.out.mkdir(parents=True, exist_ok=True)
    command = "jeet bench " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    (opts.out / "compression.md").write_text(markdown(report, command.strip()))
    (opts.out / "compression.json").write_text(json.dumps(report.to_dict(), indent=1))
    return report.to_dict()
