"""Every knob of a `Runtime`, in one frozen value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..errors import JeetRuntimeError
from ..settings import Settings

MAX_CALL_TIMEOUT_S = 3600.0  # the clock pushes the epoch past any deadline on Ctrl-C: keep that bounded


@dataclass(frozen=True, slots=True)
class RuntimeConfig(Settings):
    """How a runtime warms functions up, checks them and evolves them.

    `hot`: calls after which a function's evolution starts (0: never evolve). `shadow`: the
    fraction of calls to a champion that also run the original and compare (0 turns shadow
    checks off; calls that trap on a champion are always checked). `rounds`: evolution rounds a
    function may get; a round after the first happens only after a champion was demoted.
    `budget_s`, `population`, `generations`, `workers`, `verify_every`, `use_wasm_opt`, `seed`,
    `train_size` and `held_out_factor` go to each round's `jeet.evolve.EvolveConfig`; `fuel`,
    `memory_bytes` and `deadline_s` bound every case the runtime's own sandbox runs.
    `max_parallel` evolution processes run at once; `stop_timeout_s` bounds how long `close`
    waits for them before killing them. `call_timeout_s` bounds each served call (and a module's
    start function) whose code can loop: past it the call raises `CallTimeout`.
    """

    hot: int = 1000
    shadow: float = 0.01
    rounds: int = 2
    budget_s: float = 30.0
    population: int = 24
    generations: int | None = None
    workers: int = 1
    verify_every: int = 2
    use_wasm_opt: bool = True
    seed: int = 0
    train_size: int = 8
    held_out_factor: int = 100
    fuel: int = 1_000_000
    memory_bytes: int = 1 << 20
    deadline_s: float = 1.0
    max_parallel: int = 1
    stop_timeout_s: float = 10.0
    call_timeout_s: float = 1.0
    native_gate: bool = True  # swap in a champion only if it is also faster natively (jeet.timing.judge)
    # the runtime's own proof before a swap (jeet.evolve.proof_check): a refuted champion is never served
    prove: bool = True
    prove_bound: int = 16
    prove_timeout_s: float = 2.0
    error: ClassVar[type[JeetRuntimeError]] = JeetRuntimeError
    what: ClassVar[str] = "runtime option"

    def __post_init__(self) -> None:
        if not isinstance(self.hot, int) or self.hot < 0:
            raise JeetRuntimeError(f"hot must be a non-negative int, got {self.hot!r}")
        if not 0.0 <= self.shadow <= 1.0:
            raise JeetRuntimeError(f"shadow must be a fraction between 0 and 1, got {self.shadow!r}")
        if self.rounds < 0 or self.max_parallel < 1 or self.workers < 1:
            raise JeetRuntimeError("rounds must be >= 0, max_parallel and workers >= 1")
        if not self.budget_s > 0 or not self.stop_timeout_s > 0:
            raise JeetRuntimeError("budget_s and stop_timeout_s must be positive")
        if not isinstance(self.call_timeout_s, (int, float)) or not 0 < self.call_timeout_s <= MAX_CALL_TIMEOUT_S:
            raise JeetRuntimeError(f"call_timeout_s must be a number of seconds in (0, {MAX_CALL_TIMEOUT_S}], "
                                   f"got {self.call_timeout_s!r}")

    @property
    def shadow_every(self) -> int:
        """Every how many calls a champion is shadow-checked (0: never)."""
        return max(1, round(1.0 / self.shadow)) if self.shadow > 0 else 0

