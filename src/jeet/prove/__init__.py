"""jeet.prove: equivalence of two versions of a function for all inputs, by an SMT solver.

`prove(original, variant, function)` -> `Verification` ("proved" | "refuted" | "bounded" |
"unknown"); a refutation carries a `Counterexample` replayed in the sandbox, convertible to a
test case. `loop_free(module, function)` says whether a proof can cover every input.
"""

from .counterexample import Counterexample, Side
from .coverage import loop_free, uncovered
from .equivalence import load_pair, prove
from .errors import ProveError
from .solver import SOLVERS
from .verification import Verification

__all__ = ["prove", "loop_free", "uncovered", "load_pair", "Verification", "Counterexample", "Side",
           "ProveError", "SOLVERS"]
