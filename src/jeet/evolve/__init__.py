"""The evolution loop: population, rounds, logbook, parallel evaluation, resume."""

from .config import EvolveConfig
from .evaluation import Evaluation, Status
from .logbook import GenerationRow, Logbook
from .loop import Evolution, Verification
from .pool import Evaluator
from .problem import Problem, load_problem, read_module

__all__ = ["EvolveConfig", "Evaluation", "Status", "GenerationRow", "Logbook", "Evolution", "Verification",
           "Evaluator", "Problem", "load_problem", "read_module"]
