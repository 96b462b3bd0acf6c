"""`jeet gc`: prune the specimen store under its caps and report what was removed, kept and protected."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from ..errors import JeetError
from ..store import DB_NAME, GcReport, Store, default_data_dir
from . import checks
from .errors import user_errors


@user_errors
def gc(
    data: Optional[Path] = typer.Option(None, "--data", help="Data folder (specimen store); default ~/.jeet."),
    max_specimens: Optional[int] = typer.Option(None, "--max-specimens", help="Keep at most N specimens "
                                                "(remembered for later runs)."),
    max_store_mb: Optional[float] = typer.Option(None, "--max-store-mb", help="Keep the store under M MiB on disk "
                                                 "(remembered for later runs)."),
    recompress: bool = typer.Option(False, "--recompress", help="Train compression dictionaries and recompress "
                                    "every specimen first."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only report what would be removed."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Forget the specimens that matter least, keeping every live champion and its ancestry."""
    checks.count("--max-specimens", max_specimens, 0, 10**12)
    checks.positive("--max-store-mb", max_store_mb, 1 << 30, " MiB", zero=True)
    root = (data or default_data_dir()).expanduser()
    if not root.is_dir():
        raise JeetError(f"no data folder at {root}")
    if not (root / DB_NAME).is_file():
        raise JeetError(f"no jeet store in {root} (expected {root / DB_NAME})")
    with Store(root, auto_gc=False, auto_dictionaries=False) as store:
        if not dry_run and (max_specimens is not None or max_store_mb is not None):
            current = store.caps
            store.set_caps(max_specimens if max_specimens is not None else current.max_specimens,
                           max_store_mb if max_store_mb is not None else current.max_store_mb)
        report = store.gc(max_specimens, max_store_mb, dry_run=dry_run, recompress=recompress)
        stats = store.stats()
        compression = store.compression_report()
    doc = report.to_dict()
    doc["compression"] = compression
    doc["store"] = {k: stats[k] for k in ("specimens", "lineage_edges", "blacklisted", "dictionaries",
                                          "dictionary_bytes", "pinned", "bytes_per_specimen")}
    if json_out:
        sys.stdout.write(json.dumps(doc) + "\n")
    else:
        _print(report, compression, stats, root, Console())


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.2f} MiB ({n:,} B)"


def _print(r: GcReport, compression: dict, stats: dict, root: Path, console: Console) -> None:
    caps = r.caps
    parts = []
    if caps.max_specimens is not None:
        parts.append(f"{caps.max_specimens} specimens")
    if caps.max_store_mb is not None:
        parts.append(f"{caps.max_store_mb:g} MiB")
    cap_text = ", ".join(parts) or "none"
    t = Table(title=f"jeet gc{' (dry run)' if r.dry_run else ''}: {root}", show_header=True)
    t.add_column("")
    t.add_column("value", justify="right")
    t.add_row("caps", cap_text)
    t.add_row("specimens before", str(r.specimens_before))
    t.add_row("removed", str(r.removed))
    t.add_row("kept", str(r.kept))
    why = ", ".join(f"{k} {v}" for k, v in r.protected_by.items() if v)
    t.add_row("protected (never removed)", f"{r.protected}" + (f"  ({why})" if why else ""))
    t.add_row("size on disk before", _mb(r.bytes_before))
    t.add_row("size on disk after", _mb(r.bytes_after))
    t.add_row("lineage edges removed", str(r.lineage_edges_removed))
    t.add_row("checkpoints of finished runs removed", str(r.checkpoints_removed))
    if r.dictionaries_trained or r.recompressed or r.dictionaries_removed:
        t.add_row("dictionaries trained / removed", f"{r.dictionaries_trained} / {r.dictionaries_removed}")
        t.add_row("specimens recompressed", str(r.recompressed))
    t.add_row("vacuum", r.vacuum)
    t.add_row("caps met", "yes" if r.cap_met else "NO")
    console.print(t)

    f = Table(title="by function", show_header=True)
    for col in ("function", "removed", "kept"):
        f.add_column(col, justify="left" if col == "function" else "right")
    for name in sorted(set(r.removed_by_function) | set(r.kept_by_function)):
        f.add_row(name, str(r.removed_by_function.get(name, 0)), str(r.kept_by_function.get(name, 0)))
    if r.removed_by_function or r.kept_by_function:
        console.print(f)

    per = compression["bytes_per_specimen"]
    c = Table(title=f"bytes per specimen ({compression['measured_specimens']} measured)", show_header=True)
    for col in ("raw", "zstd", "zstd + dictionary", "+ dictionaries' own bytes", "as stored", "store size / specimens"):
        c.add_column(col, justify="right")
    c.add_row(*(("n/a" if v is None else f"{v:g}") for v in (
        per["raw"], per["zstd"], per["zstd_dictionary"], per["zstd_dictionary_incl_dictionaries"], per["stored"],
        stats["bytes_per_specimen"]["on_disk"])))
    console.print(c)
    for note in r.notes:
        console.print(f"note: {note}")
