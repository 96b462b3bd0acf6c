"""`jeet inspect`: what a module exports and what jeet can evolve in it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..evolve import read_module
from ..prove import loop_free
from ..wasm import decode
from ..wasm.abi import scratch, state_writes
from .errors import user_errors


def describe(data: bytes) -> dict:
    """A plain description of a module: exports, functions, their sizes and mutability."""
    m = decode(data)
    exported = m.exported_functions()
    names = {idx: name for name, idx in exported.items()}
    funcs = []
    for d, body in enumerate(m.bodies):
        fidx = m.num_imported_funcs + d
        funcs.append({
            "index": fidx,
            "export": names.get(fidx),
            "type": str(m.func_type(fidx)),
            "instructions": None if body.opaque else len(body.instrs),
            "mutable": not body.opaque,
        })
    exports = []
    for name, fidx in sorted(exported.items(), key=lambda kv: kv[1]):
        reach = sorted(m.reachable_functions(fidx))
        frame = scratch(m, fidx)
        exports.append({"name": name, "index": fidx, "type": str(m.func_type(fidx)),
                        "reachable_functions": len(reach),
                        "mutable_functions": sum(1 for f in reach if f >= m.num_imported_funcs
                                                 and not m.bodies[f - m.num_imported_funcs].opaque),
                        "state_writes": list(state_writes(m, fidx)),
                        "proof": "loop-free" if loop_free(m, fidx) else "needs bound",
                        "scratch": None if frame is None else list(frame.region)})
    return {"size": len(data), "imported_functions": m.num_imported_funcs, "exports": exports, "functions": funcs}


@user_errors
def inspect(
    file: Path = typer.Argument(..., help="Module (.wasm or .wat)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show exports, signatures, sizes, and which functions jeet can mutate."""
    info = describe(read_module(file))
    if json_out:
        sys.stdout.write(json.dumps(info) + "\n")
        return
    c = Console()
    c.print(f"[bold]{file}[/bold]: {info['size']} bytes, {len(info['functions'])} defined functions, "
            f"{info['imported_functions']} imported")
    t = Table(title="exported functions")
    for col in ("name", "index", "signature", "reaches", "mutable", "state", "proof"):
        t.add_column(col)
    for e in info["exports"]:
        n, k = e["reachable_functions"], e["mutable_functions"]
        mutable = "yes" if k == n else "no" if k == 0 else f"{k} of {n}"
        state = "none" if not e["state_writes"] else f"may write ({e['state_writes'][0]})"
        t.add_row(escape(e["name"]), str(e["index"]), escape(e["type"]), f"{n} function{'s' * (n != 1)}",
                  mutable, escape(state), e["proof"])
    c.print(t)
    t = Table(title="functions")
    for col in ("index", "export", "signature", "instructions", "mutable"):
        t.add_column(col)
    for f in info["functions"]:
        t.add_row(str(f["index"]), escape(f["export"] or ""), escape(f["type"]),
                  "opaque" if f["instructions"] is None else str(f["instructions"]), "yes" if f["mutable"] else "no")
    c.print(t)
