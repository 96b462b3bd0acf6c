"""`jeet`: the command line. Each command lives in its own module and stays thin."""

from __future__ import annotations

import typer

from . import bench as bench_cmd
from . import coevolve as coevolve_cmd
from . import evolve as evolve_cmd
from . import express as express_cmd
from . import gc as gc_cmd
from . import inspect as inspect_cmd
from . import monitor as monitor_cmd
from . import node as node_cmd
from . import prove as prove_cmd
from . import run as run_cmd
from . import simulate as simulate_cmd
from . import tune as tune_cmd

app = typer.Typer(
    name="jeet",
    help="Evolve faster WebAssembly functions, checked against tests, in a strict sandbox.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("evolve")(evolve_cmd.evolve)
app.command("coevolve")(coevolve_cmd.coevolve)
app.command("express")(express_cmd.express)
app.command("gc")(gc_cmd.gc)
app.command("inspect")(inspect_cmd.inspect)
app.command("bench")(bench_cmd.bench)
app.command("simulate")(simulate_cmd.simulate)
app.command("node")(node_cmd.node)
app.command("run")(run_cmd.run)
app.command("monitor")(monitor_cmd.monitor)
app.command("tune")(tune_cmd.tune)
app.command("prove")(prove_cmd.prove)


def main() -> None:  # pragma: no cover - console entry
    app()
