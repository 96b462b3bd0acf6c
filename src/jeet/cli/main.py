"""`jeet`: the command line. Each command lives in its own module and stays thin."""

from __future__ import annotations

import typer

from . import bench as bench_cmd
from . import evolve as evolve_cmd
from . import inspect as inspect_cmd
from . import monitor as monitor_cmd
from . import node as node_cmd
from . import simulate as simulate_cmd

app = typer.Typer(
    name="jeet",
    help="Evolve faster WebAssembly functions, checked against tests, in a strict sandbox.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("evolve")(evolve_cmd.evolve)
app.command("inspect")(inspect_cmd.inspect)
app.command("bench")(bench_cmd.bench)
app.command("simulate")(simulate_cmd.simulate)
app.command("node")(node_cmd.node)
app.command("monitor")(monitor_cmd.monitor)


def main() -> None:  # pragma: no cover - console entry
    app()
