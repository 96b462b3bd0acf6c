"""What the supervisor knows and decides about one loaded function, in one record it owns.

The supervisor thread writes it (tier, oracle, pins, verified variants, fuel and time figures);
the call path only reads it, and reaches the supervisor through a narrow `Channel` (heat, a
live mismatch, an expression or a variant to verify). `lock` is shared with the `Function`, so
a champion swap and a blacklisting never interleave.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from ..oracle import Case, Oracle
    from .expressed import ExpressionTable
    from .variant import Variant


@dataclass(slots=True, eq=False)
class FunctionRecord:
    """One function's tier and evidence. `state` is the static check's verdict (None: no observable
    state); `pure` is the user's declaration that overrides it."""

    tests: tuple[Case, ...] | None = None
    pure: bool = False
    state: str | None = None
    oracle: Oracle | None = None
    learned: list[Case] = field(default_factory=list)  # counterexamples from live mismatches
    tier: str = "cold"
    history: list[tuple[str, int]] = field(default_factory=lambda: [("cold", 0)])
    blacklist: set[str] = field(default_factory=set)
    verified: dict[str, tuple[Variant, int]] = field(default_factory=dict)
    champion_fuel: int | None = None
    baseline_fuel: int | None = None
    held_out_cases: int = 0
    rounds: int = 0
    pinned: str | None = None
    error: str | None = None
    usage_base: dict[str, int] = field(default_factory=dict)
    oracle_s: float = 0.0   # seconds spent building the oracle and baseline
    verify_s: float = 0.0   # seconds spent re-checking offered champions on the held-out cases
    native: dict | None = None  # the last native-time judgement of an offered champion (see Supervisor.adopt)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def set_tier(self, tier: str, calls: int) -> bool:
        """Move to `tier` (recorded in the history); False when it is the tier already."""
        with self.lock:
            if tier == self.tier:
                return False
            self.tier = tier
            self.history.append((tier, calls))
            return True

    @property
    def state_text(self) -> str:
        if self.pure:
            return "declared pure"
        return "no observable state (static check)" if self.state is None else f"stateful: {self.state}"


class Channel(Protocol):
    """The call path's way to the supervisor: the only calls a `Function` makes into it."""

    def heat(self, fn: Any) -> bool:
        """The function got hot (cold -> hot at once, the work queued); False if it was not cold."""

    def demoted(self, fn: Any, sha: str, case: Case | None, reason: str, champion: bool) -> None:
        """A live call caught variant `sha` (already no longer served); record and learn it."""

    def verify_expression(self, fn: Any, expression: Any) -> ExpressionTable:
        """Verify and compile an expression's variants (waits for the supervisor)."""

    def offer(self, fn: Any, wasm: bytes, require_better: bool) -> bool:
        """Install `wasm` as champion if it passes every held-out case (waits for the supervisor)."""
