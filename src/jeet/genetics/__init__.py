"""Variation operators: mutations and crossovers over candidate modules.

Each operator lives in its own module behind the `Operator` interface (`apply(rng, parents)`);
`operator_set` builds the list the evolution loop draws from, and `OperatorLedger` records what
each operator's offspring achieved.
"""

from ..errors import GeneticsError
from .operator import Genome, Operator
from .registry import OPERATORS, SETS, operator_set
from .stats import OperatorLedger, OperatorStats

__all__ = [
    "GeneticsError",
    "Genome",
    "OPERATORS",
    "Operator",
    "OperatorLedger",
    "OperatorStats",
    "SETS",
    "operator_set",
]
