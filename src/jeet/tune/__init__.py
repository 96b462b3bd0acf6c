"""The GA tuner: an Optuna study over EvolveConfig's search settings, scored on built-in kernels.

`tune(setup, data, trials=...)` runs or resumes the study in `<data>/tune.db` and returns a
TuneReport; `write_config` turns its best setting into a file for `jeet evolve --config`.
"""

from ..errors import TuneError
from .kernels import EVAL_KERNELS, TRAIN_KERNELS, parse_kernels
from .objective import Objective, TuneSetup, UnitResult, at_budget, geometric_mean, run_unit
from .space import default_params, islands_available, overrides, suggest
from .study import TuneReport, importances, open_study, report, study_name, tune, tuned_config
from .writer import config_document, write_config

__all__ = [
    "EVAL_KERNELS", "Objective", "TRAIN_KERNELS", "TuneError", "TuneReport", "TuneSetup", "UnitResult",
    "at_budget", "config_document", "default_params", "geometric_mean", "importances", "islands_available",
    "open_study", "overrides", "parse_kernels", "report", "run_unit", "study_name", "suggest", "tune",
    "tuned_config", "write_config",
]
