"""jeet.epigenetics: environment-triggered expression of a function's variants.

A function keeps several correct variants, each with fitness tracked per environment (input-size
bucket, memory pressure, node tags), and the runtime expresses the one that wins in the environment of
each call. `build_expression` makes the variant table (seeds, per-environment evolution, a hard
correctness gate over all environments, fuel per environment); `Expression` is the object a runtime
asks on every call; `to_tags` / `from_tags` carry environments on gossip specimens.
"""

from .build import (DEFAULT_BOUNDS, EnvironmentResult, EvolutionRun, ExpressConfig, ExpressionBuild, Target,
                    build_expression, resolve_target)
from .environment import (ANY, MEMORY_LEVELS, ArgMagnitude, Environment, LengthArg, MemoryGauge, Observer,
                          SizeBuckets, SizeProbe)
from ..errors import EpigeneticsError
from .expression import Expression
from .pool import Rejection, Variant, VariantPool
from .seeds import Seed, kernel_implementations, kernel_seeds, module_seeds
from .table import Entry, FitnessTable
from .tags import PREFIX, environment_of, from_tags, tag_specimen, to_tags
from .workload import CaseMaker, EnvSpec, choose_probe, env_specs

__all__ = [
    "ANY", "DEFAULT_BOUNDS", "MEMORY_LEVELS", "PREFIX", "ArgMagnitude", "CaseMaker", "EnvSpec", "Entry",
    "Environment", "EnvironmentResult", "EpigeneticsError", "EvolutionRun", "ExpressConfig", "Expression",
    "ExpressionBuild", "FitnessTable", "LengthArg", "MemoryGauge", "Observer", "Rejection", "Seed", "SizeBuckets",
    "SizeProbe", "Target", "Variant", "VariantPool", "build_expression", "choose_probe", "env_specs",
    "environment_of", "from_tags", "kernel_implementations", "kernel_seeds", "module_seeds", "resolve_target",
    "tag_specimen", "to_tags",
]
