"""The tuner's output: a JSON config file that `jeet evolve --config FILE` reads.

The tuned EvolveConfig keys go under "evolve" (EvolveConfig.from_file reads that section); the
"tune" section records where they came from. Only tuned keys are written, so budget, seed and the
rest stay the user's (or their defaults) when the file is used.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..evolve import EvolveConfig
from ..errors import TuneError
from .study import TuneReport


def config_document(report: TuneReport) -> dict:
    EvolveConfig(**report.config)  # never write a file that from_file would refuse
    return {
        "evolve": report.config,
        "tune": {
            "study": report.study, "storage": report.storage, "best_trial": report.best_trial,
            "best_value": report.best_value, "default_value": report.default_value,
            "improvement_on_training": report.improvement, "objective": (
                "geometric mean over (kernel, seed) of champion / original fuel on the held-out cases, each "
                f"floored at {report.setup.get('ratio_floor')}, {report.setup.get('offspring')} offspring per run"),
            "setup": report.setup, "trials": report.trials,
        },
    }


def write_config(path: Path, report: TuneReport) -> Path:
    """Write the best setting found so far; refuses when the study has no completed trial yet."""
    if report.best_trial is None:
        raise TuneError("the study has no completed trial yet: nothing to write")
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config_document(report), indent=1) + "\n")
    except OSError as exc:
        raise TuneError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
