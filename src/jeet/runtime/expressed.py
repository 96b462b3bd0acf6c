"""What a function serves right now: one immutable record, replaced whole.

A call reads `Function._expressed` once and works only with that record, so a swap (one
attribute assignment) is atomic: every call runs entirely on the old state or entirely on
the new one. `every` folds all rare work into one modulo on the call counter: a call whose
number n has n % every == 0 takes the checked path (warm-up, shadow check, expression
dispatch); every other call goes straight to the champion's lane.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .variant import Variant

NEVER = 1 << 62  # a period no counter reaches


@runtime_checkable
class Expression(Protocol):
    """Chooses, per call, which verified variant to express (the epigenetics hook).

    `variants` maps sha256 -> wasm bytes; `choose(args)` returns the sha of the variant to run
    for these arguments, or None for the current champion. An expression may also define
    `observe(args, sha, seconds)`, called after each call it chose for with the wall time.
    """

    variants: Mapping[str, bytes]

    def choose(self, args: tuple) -> str | None: ...


@dataclass(slots=True)
class ExpressionTable:
    """An expression with its variants verified and compiled; counters of its misbehaviour."""

    expression: Any
    variants: dict[str, Variant]
    observe: Callable[[tuple, str, float], Any] | None
    rejected: dict[str, str] = field(default_factory=dict)  # sha -> why it may not be served
    choose_errors: int = 0
    observe_errors: int = 0

    def without(self, sha: str, reason: str) -> ExpressionTable:
        """The same table minus one variant (demoted); a new object, as records are never mutated."""
        variants = {k: v for k, v in self.variants.items() if k != sha}
        rejected = {**self.rejected, sha: reason}
        return ExpressionTable(self.expression, variants, self.observe, rejected, self.choose_errors,
                               self.observe_errors)


@dataclass(frozen=True, slots=True)
class Expressed:
    """The champion (the original until a better verified variant replaces it), how often calls
    take the checked path, and the expression in force (None: the plain path)."""

    variant: Variant
    local: threading.local  # variant.local, one attribute hop closer to the call
    original: bool          # the champion is the original itself (nothing to shadow-check)
    every: int              # calls with n % every == 0 take the checked path
    shadow: int             # shadow-check every this many calls of a champion (0: never)
    heat: bool              # still cold: the checked path counts towards "hot"
    table: ExpressionTable | None = None


def expressed(champion: Variant, *, original: bool, shadow: int, hot: int, cold: bool,
              table: ExpressionTable | None = None) -> Expressed:
    """The record for a champion: the smallest `every` that still reaches every rare duty."""
    heat = cold and hot > 0
    shadow = shadow if (not original or table is not None) else 0  # the original needs no shadow
    if table is not None:
        every = 1
    elif heat and shadow:
        every = math.gcd(hot, shadow)
    elif heat:
        every = hot
    elif shadow:
        every = shadow
    else:
        every = NEVER
    return Expressed(champion, champion.local, original, every, shadow, heat, table)
