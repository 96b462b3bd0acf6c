"""Symbiotic code: co-evolve a caller module and the callee it imports from, judged as a linked pair.

`LinkedSandbox` runs a `Pair` with the callee linked in through a `wasmtime.Linker` (one store,
one fuel budget for both); `check_link` explains why two modules do not link; `Coevolution`
evolves two populations and fills a `PairTable` whose symbiosis score says which pairs work
better together than apart; strong pairs are verified on held-out cases, kept in the store
(`persist_pairs`) and exported as `PairBundle`s for gossip.
"""

from .bundle import BUNDLE_TAG, PairBundle
from .coevolve import CoevolveConfig, Coevolution, GenerationStats, Individual, ScoredPair, Verification
from ..errors import SymbiosisError
from .evaluation import callee_genome, caller_genome, evaluate_pair
from .interface import Interface, LinkPlan, check_link
from .keep import Persisted, member_function, persist_pairs
from .linking import LinkedPair, LinkedSandbox, pair_limits
from .pair import Pair
from .problem import EXAMPLE_CALLEE, EXAMPLE_CALLER, EXAMPLE_FUNCTION, PairProblem, check_pair, load_pair_problem
from .table import PairTable, Symbiosis

__all__ = [
    "BUNDLE_TAG", "EXAMPLE_CALLEE", "EXAMPLE_CALLER", "EXAMPLE_FUNCTION", "CoevolveConfig", "Coevolution",
    "GenerationStats", "Individual", "Interface", "LinkPlan", "LinkedPair", "LinkedSandbox", "Pair", "PairBundle",
    "PairProblem", "PairTable", "Persisted", "ScoredPair", "Symbiosis", "SymbiosisError", "Verification",
    "callee_genome", "caller_genome", "check_link", "check_pair", "evaluate_pair", "load_pair_problem",
    "member_function", "pair_limits", "persist_pairs",
]
