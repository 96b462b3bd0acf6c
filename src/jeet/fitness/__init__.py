"""Scoring candidates: normalized metrics and weights (metrics), an energy cost model (energy), predicted native
time (native), Pareto ranking (pareto)."""

from .energy import CLASS_COSTS, energy_estimate, mean_cost_per_fuel
from ..errors import FitnessError
from .metrics import WEIGHTS, FitnessMetrics, Measurement, calculate_fitness, fitness, measure_metrics
from .native import StaticMix, combined_mix, predicted_ns, static_mix
from .pareto import crowding_distance, dominates, hypervolume, nondominated_sort, nsga2_select

__all__ = [
    "CLASS_COSTS", "WEIGHTS", "FitnessError", "FitnessMetrics", "Measurement", "calculate_fitness",
    "crowding_distance", "dominates", "energy_estimate", "fitness", "hypervolume", "mean_cost_per_fuel",
    "measure_metrics", "nondominated_sort", "nsga2_select", "StaticMix", "combined_mix", "predicted_ns", "static_mix",
]
