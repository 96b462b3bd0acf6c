"""The evolution loop: population, rounds, logbook, parallel evaluation, resume, islands."""

from .config import EvolveConfig
from .evaluation import Evaluation, Status
from .islands import Archipelago, summarize_archipelago
from .logbook import GenerationRow, Logbook
from .loop import Evolution, Verification
from .pool import Evaluator
from .problem import Problem, load_problem, read_module

__all__ = ["EvolveConfig", "Evaluation", "Status", "GenerationRow", "Logbook", "Evolution", "Verification",
           "Evaluator", "Problem", "load_problem", "read_module", "Archipelago", "summarize_archipelago"]
