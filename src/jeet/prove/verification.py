"""The answer of an equivalence check, as it travels into evidence files, `--json` and gates."""

from __future__ import annotations

from dataclasses import dataclass

from .counterexample import Counterexample

RESULTS = ("proved", "refuted", "bounded", "unknown")


@dataclass(frozen=True)
class Verification:
    """How far a variant was checked against its original.

    `result`: "proved" (equal traps, results, globals and memory outside the scratch region
    for every input), "refuted" (`counterexample` replayed in the sandbox shows a
    difference), "bounded" (equal on every input whose loops run at most `bound`
    iterations per entry) or "unknown" (`reason` says why: timeout, an instruction the
    semantics does not cover, floats, ...). `solver_s` is the time spent in the solver.
    """

    method: str
    result: str
    bound: int | None
    solver_s: float
    counterexample: Counterexample | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        assert self.result in RESULTS, self.result

    @property
    def proved(self) -> bool:
        return self.result == "proved"

    @property
    def refuted(self) -> bool:
        return self.result == "refuted"

    def accepts(self, bound: int) -> bool:
        """Whether a gate configured with loop bound `bound` may promote on this answer."""
        return self.result == "proved" or (self.result == "bounded" and (self.bound or 0) >= bound)

    def to_json(self) -> dict:
        return {
            "method": self.method,
            "result": self.result,
            "bound": self.bound,
            "solver_s": round(self.solver_s, 4),
            "counterexample": self.counterexample.to_json() if self.counterexample else None,
            "reason": self.reason,
        }
