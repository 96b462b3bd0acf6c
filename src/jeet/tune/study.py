"""The tuning study: Optuna with a seeded TPE sampler, a median pruner and SQLite storage.

The study lives in `<data>/tune.db` under a name derived from what the trials are scored on
(kernels, seeds, budget, search-space version), so running the same `jeet tune` again resumes it:
finished trials are kept and `trials` counts the study's finished trials, not this session's. A
session that was interrupted leaves its current trial behind: on Ctrl-C Optuna marks it failed (and
it is queued again here); after a kill, its heartbeat stops and the next session marks it failed and
queues it again once the heartbeat is stale. The study's first trial is always the default
configuration, so the best value can be read against it.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from ..errors import JeetError
from ..evolve import EvolveConfig
from ..errors import TuneError
from .objective import Objective, TuneSetup, UnitResult
from .space import SPACE_VERSION, default_params, islands_available, overrides

DB_NAME = "tune.db"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass
class TuneReport:
    """What a tuning session leaves: the best setting, as Optuna params and as EvolveConfig keys."""

    study: str
    storage: str
    best_params: dict[str, Any]
    best_value: float | None
    best_trial: int | None
    default_value: float | None
    config: dict[str, Any]
    importances: dict[str, float]
    trials: dict[str, int]
    new_trials: int
    islands_searched: bool
    setup: dict[str, Any]
    seconds: float
    config_file: str | None = None
    best_ratios: dict[str, float] = field(default_factory=dict)

    @property
    def improvement(self) -> float | None:
        """1 - best/default on the training units (0.1 = the tuned setting needs 10 % less fuel)."""
        if self.best_value is None or not self.default_value:
            return None
        return 1.0 - self.best_value / self.default_value

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["improvement"] = self.improvement
        return d


def study_name(setup: TuneSetup) -> str:
    """Stable across sessions for the same kernels, seeds and budget; different otherwise."""
    key = json.dumps({"v": SPACE_VERSION, "kernels": list(setup.kernels), "seeds": list(setup.seeds),
                      "offspring": setup.offspring, "wasm_opt": setup.use_wasm_opt, "floor": setup.ratio_floor},
                     sort_keys=True)
    return "jeet-tune-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def storage_url(data: Path) -> str:
    return f"sqlite:///{Path(data).resolve() / DB_NAME}"


def open_study(data: Path, name: str, *, seed: int = 0, heartbeat_s: int = 10) -> optuna.Study:
    """Create or load the study `name` in `<data>/tune.db`, with a sampler seeded for this session."""
    data = Path(data)
    try:
        data.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TuneError(f"cannot create the data folder {data}: {exc.strerror or exc}") from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failures are reported by the caller, in one line
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    storage = RDBStorage(storage_url(data), heartbeat_interval=heartbeat_s, grace_period=3 * heartbeat_s,
                         heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
                         engine_kwargs={"connect_args": {"timeout": 60}})
    pruner = optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=2)
    study = optuna.create_study(study_name=name, storage=storage, direction="minimize", pruner=pruner,
                                load_if_exists=True)
    # the sampler's state is not stored: offset the seed by the trials so far so a resumed session
    # does not repeat the first session's random start-up points
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials), n_startup_trials=8,
                                               multivariate=True, group=True, constant_liar=True)
    return study


def _requeue_interrupted(study: optuna.Study) -> None:
    """Queue again, once, the trials an interrupted session left failed (Ctrl-C) with their params."""
    retried = {t.user_attrs.get("retry_of") for t in study.trials}
    for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        if t.user_attrs.get("interrupted") and t.number not in retried:
            keep = {k: v for k, v in t.user_attrs.items() if k == "default"}
            study.enqueue_trial(t.params, user_attrs={**keep, "retry_of": t.number}, skip_if_exists=False)


def _count(study: optuna.Study) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    return counts


def _finished(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def importance_evaluator(seed: int = 0) -> optuna.importance.BaseImportanceEvaluator:
    """fANOVA when scikit-learn is installed (Optuna's default), PED-ANOVA (no extra dependency) otherwise."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return optuna.importance.PedAnovaImportanceEvaluator(target_quantile=0.25)
    return optuna.importance.FanovaImportanceEvaluator(seed=seed)


def importances(study: optuna.Study, seed: int = 0) -> dict[str, float]:
    """Parameter importances over the completed trials, summing to 1 ({} until there are enough trials)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 4:
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = optuna.importance.get_param_importances(study, evaluator=importance_evaluator(seed))
    except (ValueError, RuntimeError, ZeroDivisionError, ImportError):
        return {}
    return {k: round(float(v), 4) for k, v in found.items()}


def tune(setup: TuneSetup, data: Path, *, trials: int, budget_s: float | None = None, seed: int = 0,
         name: str | None = None, heartbeat_s: int = 10,
         on_trial: Callable[[optuna.Study, FrozenTrial], None] | None = None,
         on_unit: Callable[[optuna.trial.Trial, UnitResult], None] | None = None) -> TuneReport:
    """Run (or continue) the study until it has `trials` finished trials or `budget_s` seconds have
    passed (no new trial starts after that; the one running finishes)."""
    if trials < 1:
        raise TuneError("--trials must be at least 1")
    if budget_s is not None and budget_s <= 0:
        raise TuneError("--budget must be positive")
    t0 = time.monotonic()
    name = name or study_name(setup)
    islands = islands_available()
    study = open_study(data, name, seed=seed, heartbeat_s=heartbeat_s)
    study.set_user_attr("setup", _setup_dict(setup))
    if not study.trials:
        study.enqueue_trial(default_params(islands=islands), user_attrs={"default": True})
    _requeue_interrupted(study)
    before = _finished(study)
    objective = Objective(setup, islands=islands, on_unit=on_unit)
    callbacks = [lambda st, tr: on_trial(st, tr)] if on_trial else []
    try:
        while (missing := trials - _finished(study)) > 0:
            remaining = None if budget_s is None else budget_s - (time.monotonic() - t0)
            if remaining is not None and remaining <= 0:
                break
            done = _finished(study)
            study.optimize(objective, n_trials=missing, timeout=remaining, catch=(JeetError,),
                           callbacks=callbacks, gc_after_trial=False)
            if _finished(study) == done:
                break  # every trial of that round failed: more of the same will not help
    finally:
        objective.close()
    return report(study, setup, storage=storage_url(data), islands=islands, new_trials=_finished(study) - before,
                  seconds=time.monotonic() - t0, seed=seed)


def report(study: optuna.Study, setup: TuneSetup, *, storage: str = "", islands: bool, new_trials: int = 0,
           seconds: float = 0.0, seed: int = 0) -> TuneReport:
    """The study's state as a TuneReport (best setting, default's value, importances, trial counts)."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    best = min(complete, key=lambda t: (t.value, t.number)) if complete else None
    default = next((t for t in complete if t.user_attrs.get("default")), None)
    return TuneReport(
        study=study.study_name, storage=storage,
        best_params=dict(best.params) if best else {}, best_value=best.value if best else None,
        best_trial=best.number if best else None, default_value=default.value if default else None,
        config=overrides(best.params) if best else {}, importances=importances(study, seed),
        trials=_count(study), new_trials=new_trials, islands_searched=islands, setup=_setup_dict(setup),
        seconds=round(seconds, 1), best_ratios=dict(best.user_attrs.get("ratios", {})) if best else {},
    )


def tuned_config(report: TuneReport, **run_settings: Any) -> EvolveConfig:
    """The best setting as an EvolveConfig (plus any run settings such as budget_s or seed)."""
    return EvolveConfig(**{**report.config, **run_settings})


def _setup_dict(setup: TuneSetup) -> dict[str, Any]:
    return {"kernels": list(setup.kernels), "seeds": list(setup.seeds), "offspring": setup.offspring,
            "use_wasm_opt": setup.use_wasm_opt, "ratio_floor": setup.ratio_floor, "budget_unit": "offspring"}
