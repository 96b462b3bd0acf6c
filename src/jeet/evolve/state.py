"""The counters a run of `Evolution` keeps: what the stop rules read, the logbook reports and a checkpoint saves."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..oracle import Case
from .driver import Progress


@dataclass
class RunState(Progress):
    offspring_made: int = 0
    offspring_valid: int = 0
    distinct: int = 0  # offspring whose content hash this run had not seen before
    repeats: int = 0   # offspring identical to one seen before (no new information)
    extra_train: list[Case] = field(default_factory=list)  # the gate's learned cases (the same list)
