"""`jeet prove`: are two modules' versions of a function equal on every input?

Exit status: 0 proved, 1 refuted (the counterexample is printed as a tests-file line, ready
for `--tests`), 3 unknown or bounded only, 2 bad input (checked before any solver time).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from ..errors import JeetError
from .errors import user_errors

EXIT_PROVED, EXIT_REFUTED, EXIT_OPEN = 0, 1, 3


@user_errors
def prove(
    original: Path = typer.Argument(..., help="The original module (.wasm or .wat)."),
    variant: Path = typer.Argument(..., help="The module to check against it (.wasm or .wat)."),
    function: str = typer.Option(..., "--function", "-f", help="Exported function to compare."),
    bound: int = typer.Option(16, "--bound", help="Loop iterations unrolled per loop entry."),
    timeout: float = typer.Option(10.0, "--timeout", help="Seconds per solver query."),
    solver: str = typer.Option("bitwuzla", "--solver", help="bitwuzla or z3."),
    json_out: bool = typer.Option(False, "--json", help="Print the verification as JSON."),
) -> None:
    """Prove two versions of a function equivalent, or print an input on which they differ."""
    from ..evolve.problem import read_module
    from ..prove import SOLVERS, load_pair
    from ..prove import prove as check

    if bound < 1 or not timeout > 0:
        raise JeetError("--bound must be at least 1 and --timeout positive")
    if solver not in SOLVERS:
        raise JeetError(f"--solver must be one of {', '.join(SOLVERS)}, not {solver!r}")
    a, b = read_module(original), read_module(variant)
    load_pair(a, b, function)  # bad input is reported before the solver starts
    v = check(a, b, function, bound=bound, timeout_s=timeout, solver=solver)
    if json_out:
        sys.stdout.write(json.dumps(v.to_json()) + "\n")
    else:
        _print(v, function)
    raise typer.Exit(EXIT_PROVED if v.result == "proved" else EXIT_REFUTED if v.result == "refuted" else EXIT_OPEN)


def _print(v, function: str) -> None:
    head = {"proved": f"{function}: proved equivalent for every input",
            "refuted": f"{function}: refuted",
            "bounded": f"{function}: bounded({v.bound}): {v.reason}",
            "unknown": f"{function}: unknown ({v.reason})"}[v.result]
    print(f"{head} [{v.method}, {v.solver_s:.3f} s in the solver]")
    cex = v.counterexample
    if cex is not None:
        o, n = cex.to_json()["original"], cex.to_json()["variant"]
        print(f"  original: {json.dumps(o)}", file=sys.stderr)
        print(f"  variant:  {json.dumps(n)}", file=sys.stderr)
        if not cex.globals_at_init:
            print(f"  (needs globals {cex.globals} at entry; the tests line assumes their initial values)",
                  file=sys.stderr)
        print(cex.tests_line())
