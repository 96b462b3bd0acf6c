"""jeet.prove: equivalence of two versions of a function for all inputs, by an SMT solver.

`prove(original, variant, function)` -> `Verification` ("proved" | "refuted" | "bounded" |
"unknown"); a refutation carries a `Counterexample` replayed in the sandbox, convertible to a
test case. `loop_free(module, function)` says whether a proof can cover every input.

What the answers mean, per kind of function:

* Integer code without loops or recursion: `proved` means the same trap/no-trap outcome and,
  when neither traps, the same results, the same final value of every global and the same
  bytes everywhere in memory except the original's shadow-stack scratch region, for every
  argument, every initial value of the mutable and imported globals and every initial memory
  content (memory of its declared initial size). The stack pointer is held at its initial value
  when the original restores it, as every host call then sees it. When both trap, nothing else
  is compared (jeet's sandbox discards an instance after a trap).
* Code with loops whose loops pair up with the original's: `proved` when, with every loop cut at its
  header, the two enter each loop, go round it and end the call in the same states from every header
  state within solver-checked invariants (`jeet.prove.lockstep`); when the solver finds a difference
  there, `unknown` with `DOUBT` and `DIFFERS` in the reason, and gates do not adopt.
* Code with loops from clang -O0 whose variant keeps frame slots in locals (the frame pointer folded,
  the stack pointer dropped): `proved` when the loops pair up and relations between the two header
  states (a local equal to a frame slot, a slot kept since the loop's entry, a frame byte equal), guessed,
  filtered on concrete runs and kept only while the solver shows them inductive, carry the same checks
  (`jeet.prove.frame`). Such a proof assumes the ABI's contract: the caller keeps no data in the free
  shadow stack (as the held-out cases never do).
* Other code with loops or recursion: `bounded(k)` means the same on every input whose loops run at
  most k iterations per loop entry (and whose calls nest at most `max_depth` deep); `proved`
  when no input runs longer.
* Floats: values only moved (loads, stores, locals, select, reinterpret) are bit patterns and
  are proved like integers, any NaN matching any NaN in results; float arithmetic is
  "unknown (floats: tested only)". Integer SIMD is modelled lane by lane (`jeet.prove.vector`); float
  lanes and lane loads and stores are not, nor are memory.grow, bulk memory, call_indirect,
  called host imports, modules whose data segments, globals or memories differ, and modules
  that can grow memory elsewhere.

Bad input (invalid module, no such export, different signatures) raises `ProveError`; a
solver timeout or failure is an `unknown` answer, never an exception.
"""

from .counterexample import Counterexample, Side
from .coverage import loop_free, uncovered
from .equivalence import load_pair, prove
from .lockstep import DIFFERS, DOUBT
from ..errors import ProveError
from .solver import SOLVERS
from .verification import Verification

__all__ = ["prove", "loop_free", "uncovered", "load_pair", "Verification", "Counterexample", "Side",
           "ProveError", "SOLVERS", "DOUBT", "DIFFERS"]
