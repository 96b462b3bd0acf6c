"""The operators jeet knows, by name, and the named sets the CLI and the loop choose from.

Built from an explicit list when this module is imported — nothing registers itself — so a
worker process sees exactly the same table as its parent.
"""

from __future__ import annotations

from .bit_permute import BitPermute
from .closed_form import ClosedForm
from .const_perturb import ConstPerturb
from .copy_run import CopyRun
from .crossover_function import CrossoverFunction
from .crossover_splice import CrossoverSplice
from .delete_run import DeleteRun
from ..errors import GeneticsError
from .idiom_bits import IdiomBits
from .idiom_rotate import IdiomRotate
from .if_convert import IfConvert
from .licm import Licm
from .opcode_swap import OpcodeSwap
from .operator import Operator
from .promote_slot import PromoteSlot
from .raw_splice import RawSplice
from .range_reduce import RangeReduce
from .raw_xor import RawXor
from .stoke import Stoke
from .replace_expr import ReplaceExpr
from .select_to_if import SelectToIf
from .small_quotient import SmallQuotient
from .strength_reduce import StrengthReduce
from .swap_runs import SwapRuns
from .unroll import Unroll
from .vectorize_bytes import VectorizeBytes
from .while_loop import WhileLoop
from .word_at_a_time import WordAtATime

__all__ = ["DEFAULT_WEIGHTS", "EXPENSIVE", "MACHINE", "OPERATORS", "SETS", "operator_set"]

_ALL: tuple[type[Operator], ...] = (
    ConstPerturb, OpcodeSwap, DeleteRun, CopyRun, SwapRuns, ReplaceExpr, PromoteSlot,
    CrossoverFunction, CrossoverSplice, RawXor, RawSplice,
    StrengthReduce, RangeReduce, SmallQuotient, IfConvert, SelectToIf, Licm, IdiomBits, IdiomRotate, Unroll,
    WhileLoop, VectorizeBytes, WordAtATime, ClosedForm, BitPermute, Stoke,
)

# Rewrites that change what the machine does rather than trimming instructions. Each applies only where
# its pattern occurs ("not applicable" is their usual answer, and a draw that yields nothing costs the
# loop an offspring), so they start with small weights; stoke's call runs a whole search.
MACHINE: tuple[str, ...] = tuple(cls.name for cls in (
    StrengthReduce, RangeReduce, SmallQuotient, IfConvert, SelectToIf, Licm, IdiomBits, IdiomRotate, Unroll, WhileLoop,
    VectorizeBytes, WordAtATime, ClosedForm, BitPermute, Stoke))

# Structural, but a call costs a search (a tenth of a second or more, not microseconds): never in a
# default set, only when asked for (`--operators structural,stoke` or `machine`).
EXPENSIVE: tuple[str, ...] = (Stoke.name,)

# Starting weights where an operator should not get the uniform share (EvolveConfig.operator_weights
# overrides them): rewrites that rarely apply still cost a site search per call, stoke a whole search.
DEFAULT_WEIGHTS: dict[str, float] = {
    **{name: 0.3 for name in MACHINE}, "vectorize_bytes": 0.5, "word_at_a_time": 0.5, "stoke": 0.1,
}

OPERATORS: dict[str, type[Operator]] = {cls.name: cls for cls in _ALL}

SETS: dict[str, tuple[str, ...]] = {
    "structural": tuple(name for name, cls in OPERATORS.items() if cls.structural and name not in EXPENSIVE),
    "raw": tuple(name for name, cls in OPERATORS.items() if not cls.structural),
    "machine": MACHINE,
    "all": tuple(OPERATORS),
}


def operator_set(spec: str = "structural") -> list[Operator]:
    """Fresh operator instances for a set name ("structural", "raw", "machine", "all") or a comma-separated
    list of operator names; raises GeneticsError (a ValueError) naming the valid choices."""
    names: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if part in SETS:
            names.extend(SETS[part])
        elif part in OPERATORS:
            names.append(part)
        else:
            raise GeneticsError(
                f"unknown operator {part!r}; valid: {', '.join(SETS)} (sets) or {', '.join(OPERATORS)}")
    if not names:
        raise GeneticsError(f"empty operator set {spec!r}; valid: {', '.join(SETS)} or {', '.join(OPERATORS)}")
    return [OPERATORS[name]() for name in dict.fromkeys(names)]
