"""Whole forms of a function that the native-time predictor cannot price, for the race to judge.

The predictor counts how often each kind of instruction runs. It cannot see a branch mispredicted or a
divide skipped: a select costs both arms, a branch costs only the arm taken plus its mispredictions; a
compare before a divide costs a cycle and saves tens when the quotient is small. Each form is one
operator's rewrite applied at every site of a function, so the loop can race it against its champion
whatever the predictor says (`jeet.evolve.loop`). Every form is exact: the operators' rewrites are.
"""

from __future__ import annotations

from collections.abc import Callable

from .if_convert import branch_free
from .operator import Genome
from .range_reduce import range_reduced
from .select_to_if import branchy
from .small_quotient import with_fast_paths

__all__ = ["FORMS", "forms"]

# (the operator whose rewrite makes it, the form); raced in this order
FORMS: tuple[tuple[str, Callable[[Genome], Genome | None]], ...] = (
    ("if_convert", branch_free),
    ("select_to_if", branchy),
    ("small_quotient", with_fast_paths),
    ("range_reduce", range_reduced),
)


def forms(genome: Genome) -> list[tuple[str, Genome]]:
    """The forms of `genome` that differ from it, with the operator that makes each."""
    out = []
    for name, form in FORMS:
        child = form(genome)
        if child is not None and child.wasm != genome.wasm:
            out.append((name, child))
    return out
