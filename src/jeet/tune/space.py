"""The search space: which EvolveConfig fields the tuner varies, over what ranges.

Searched: the selection fraction (`keep_fraction`), the split of the remaining slots between
mutation and crossover (`crossover_share`), population size, tournament size, one weight per
structural operator, the self-adaptive operator-rate scheme, and, when islands can run, the island
count and migration settings. `overrides(params)` turns a point of the space (Optuna's
`best_params`, say) back into EvolveConfig keyword arguments.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import optuna

from ..evolve import EvolveConfig
from ..genetics import OPERATORS, SETS
from ..genetics.registry import DEFAULT_WEIGHTS

SPACE_VERSION = 2
OPERATOR_SET = "structural"
WEIGHT_PREFIX = "weight_"
ADAPTIVE_MODES = ("off", "matching", "pursuit")
TOPOLOGIES = ("ring", "fully_connected", "unconnected")


def islands_available() -> bool:
    """Whether this jeet can run an archipelago (jeet.evolve.islands with its Archipelago)."""
    try:
        if importlib.util.find_spec("jeet.evolve.islands") is None:
            return False
        from ..evolve import islands
    except Exception:  # a half-built module must not break tuning of everything else
        return False
    return hasattr(islands, "Archipelago")


def operator_names() -> tuple[str, ...]:
    return SETS[OPERATOR_SET]


def suggest(trial: optuna.trial.BaseTrial, *, islands: bool) -> dict[str, Any]:
    """Draw one setting from `trial`; returns EvolveConfig keyword arguments."""
    params: dict[str, Any] = {
        "keep_fraction": trial.suggest_float("keep_fraction", 0.1, 0.7),
        "crossover_share": trial.suggest_float("crossover_share", 0.0, 1.0),
        "population": trial.suggest_int("population", 8, 96, step=8),
        "tournament": trial.suggest_int("tournament", 2, 6),
    }
    for name in operator_names():
        params[WEIGHT_PREFIX + name] = trial.suggest_float(WEIGHT_PREFIX + name, 0.1, 10.0, log=True)
    params["adaptive_operators"] = trial.suggest_categorical("adaptive_operators", ADAPTIVE_MODES)
    if params["adaptive_operators"] != "off":
        params["adaptation_rate"] = trial.suggest_float("adaptation_rate", 0.02, 0.6, log=True)
        params["min_operator_probability"] = trial.suggest_float("min_operator_probability", 0.0, 0.2)
    if islands:
        params["islands"] = trial.suggest_int("islands", 1, 4)
        if params["islands"] > 1:
            params["topology"] = trial.suggest_categorical("topology", TOPOLOGIES)
            params["migration_interval"] = trial.suggest_int("migration_interval", 1, 12)
            params["migration_rate"] = trial.suggest_int("migration_rate", 1, 4)
            params["emigrant_policy"] = trial.suggest_categorical("emigrant_policy", ("best", "random"))
            params["replacement_policy"] = trial.suggest_categorical("replacement_policy", ("fair", "worst"))
    return overrides(params)


def overrides(params: dict[str, Any]) -> dict[str, Any]:
    """EvolveConfig keyword arguments for a point of the space (unknown names are ignored)."""
    out: dict[str, Any] = {}
    if "keep_fraction" in params:
        keep = round(float(params["keep_fraction"]), 4)
        share = float(params.get("crossover_share", 0.5))
        mutate = round((1.0 - keep) * (1.0 - share), 4)
        out.update(keep_fraction=keep, mutate_fraction=mutate, crossover_fraction=round(1.0 - keep - mutate, 4))
    for key in ("population", "tournament", "islands", "migration_interval", "migration_rate"):
        if key in params:
            out[key] = int(params[key])
    for key in ("adaptive_operators", "topology", "emigrant_policy", "replacement_policy"):
        if key in params:
            out[key] = str(params[key])
    for key in ("adaptation_rate", "min_operator_probability"):
        if key in params:
            out[key] = round(float(params[key]), 4)
    weights = {k[len(WEIGHT_PREFIX):]: round(float(v), 4) for k, v in params.items()
               if k.startswith(WEIGHT_PREFIX) and k[len(WEIGHT_PREFIX):] in OPERATORS}
    if weights:
        out["operator_weights"] = weights
    return out


def default_params(*, islands: bool) -> dict[str, Any]:
    """The default EvolveConfig as a point of the space: the study's first trial, so every tuned
    value is measured against the default under the same objective."""
    c = EvolveConfig()
    variation = c.mutate_fraction + c.crossover_fraction
    params: dict[str, Any] = {
        "keep_fraction": c.keep_fraction,
        "crossover_share": c.crossover_fraction / variation if variation else 0.5,
        "population": c.population,
        "tournament": c.tournament,
        "adaptive_operators": c.adaptive_operators,
    }
    for name in operator_names():
        params[WEIGHT_PREFIX + name] = float(c.operator_weights.get(name, DEFAULT_WEIGHTS.get(name, 1.0)))
    if c.adaptive_operators != "off":
        params["adaptation_rate"] = c.adaptation_rate
        params["min_operator_probability"] = c.min_operator_probability
    if islands:
        params["islands"] = c.islands
    return params
