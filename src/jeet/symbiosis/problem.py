"""What is being co-evolved: a caller, a callee, the caller's entry point, and the oracle of the pair.

The oracle is built as jeet builds one for a single module, with the ORIGINAL linked pair as the
reference: differential inputs recorded from the original pair, or the user's tests (which the
original pair must pass) topped up with generated cases. Training cases gate every candidate
pair; the held-out set (at least `held_out_factor` times as many, drawn with another seed) gates
every pair before it becomes champion or is kept. Everything the user can get wrong is a
`SymbiosisError` (or `JeetError`) with one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import JeetError
from ..evolve.problem import pick_function, read_module
from ..oracle import Oracle, OracleError, differential_oracle, fresh_seed, load_tests, tests_oracle
from ..sandbox import Limits
from ..errors import SymbiosisError
from .interface import Interface, LinkPlan, check_link
from .linking import LinkedSandbox
from .pair import Pair

EXAMPLES = Path(__file__).resolve().parent / "examples"
EXAMPLE_CALLER = EXAMPLES / "caller.wasm"
EXAMPLE_CALLEE = EXAMPLES / "callee.wasm"
EXAMPLE_FUNCTION = "byte_weights"


@dataclass(frozen=True)
class PairProblem:
    name: str
    caller: bytes
    callee: bytes
    function: str
    oracle: Oracle
    limits: Limits
    plan: LinkPlan

    @property
    def pair(self) -> Pair:
        return Pair(self.caller, self.callee)


def load_pair_problem(caller_path: Path | None, callee_path: Path | None, function: str | None = None,
                      tests_path: Path | None = None, *, seed: int = 0, limits: Limits = Limits(),
                      train_size: int = 16, held_out_factor: int = 100,
                      held_out_seed: int | None = None) -> PairProblem:
    """Read and link the two modules (the built-in example when both paths are None) and build the oracle.

    Held-out cases follow `held_out_seed`, drawn fresh per call when None (each run and node its own)."""
    if (caller_path is None) != (callee_path is None):
        raise SymbiosisError("give both CALLER and CALLEE, or neither for the built-in example")
    if caller_path is None:
        caller_path, callee_path = EXAMPLE_CALLER, EXAMPLE_CALLEE
        function = function or EXAMPLE_FUNCTION
        name = "example"
    else:
        name = f"{Path(caller_path).stem}+{Path(callee_path).stem}"
    caller = read_module(Path(caller_path))
    callee = read_module(Path(callee_path))  # type: ignore[arg-type]
    plan = check_pair(caller, callee)
    function = pick_function(caller, function, f"{caller_path} (caller)")
    pair = Pair(caller, callee)
    with LinkedSandbox(limits) as sandbox:
        sandbox.link(pair)
        oracle = _build_oracle(sandbox, pair, function, tests_path, seed, train_size, held_out_factor,
                               f"{caller_path} + {callee_path}",
                               fresh_seed("pair") if held_out_seed is None else held_out_seed)
    return PairProblem(name, caller, callee, function, oracle, limits, plan)


def check_pair(caller: bytes, callee: bytes) -> LinkPlan:
    """The link plan of two modules, or a SymbiosisError naming the mismatch."""
    return check_link(Interface.of(caller, "caller"), Interface.of(callee, "callee"))


def _build_oracle(sandbox: LinkedSandbox, pair: Pair, function: str, tests_path: Path | None, seed: int,
                  train_size: int, held_out_factor: int, label: str, held_out_seed: int) -> Oracle:
    try:
        if tests_path is not None:
            sig = sandbox.signature(pair, function)
            if sig is None:
                raise SymbiosisError(f"{label}: no function {function!r}")
            cases = load_tests(Path(tests_path), sig.params, sig.results)
            return tests_oracle(sandbox, pair, function, cases, seed=seed,  # type: ignore[arg-type]
                                train_size=train_size, held_out_factor=held_out_factor, held_out_seed=held_out_seed)
        return differential_oracle(sandbox, pair, function, seed=seed,  # type: ignore[arg-type]
                                   train_size=train_size, held_out_factor=held_out_factor,
                                   held_out_seed=held_out_seed)
    except OracleError as exc:
        if tests_path is not None and str(exc).startswith(str(tests_path)):
            raise JeetError(str(exc)) from None  # already names the file and line
        raise SymbiosisError(f"{label}: {exc}") from None
