"""`jeet bench --suite tuner`: does a tuned configuration beat the default on kernels the tuner never saw?

First the tuner runs on the training kernels (jeet.tune.TRAIN_KERNELS, minus any kernel named with
--kernels) for `--runs` trials, at most `--budget` seconds per trial on the clock (no new trial
starts after runs x budget seconds); the study is kept in OUT/tune-data/tune.db, so running the
suite again continues it. Then the best setting and the default EvolveConfig each evolve every
evaluation kernel (--kernels, default jeet.tune.EVAL_KERNELS) from fresh seeds the tuner did not
use, at an equal budget of `OFFSPRING` offspring per run. A run's figure is its champion's fuel
over the original's on the held-out cases. The improvement, 1 - tuned/default, is judged (target
>= 10 %) on the very figure the tuner optimises, the geometric mean of the ratios floored at the
tuner's `ratio_floor`. Without the floor, one jackpot run (a loop that becomes one instruction) can
carry the whole comparison. The unfloored geometric mean and the median are reported too.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context

from ..evolve.pool import default_workers
from ..lifeline import exit_with
from ..tune import (EVAL_KERNELS, TRAIN_KERNELS, TuneSetup, UnitResult, geometric_mean, run_unit, tune,
                    write_config)

OFFSPRING = 4000       # per evolution run, in the tuning trials and in the comparison alike
TUNE_SEEDS = 2         # seeds per training kernel in every trial
EVAL_SEEDS = 5         # seeds per evaluation kernel in the comparison
EVAL_SEED_BASE = 1000  # comparison seeds start here, away from the tuner's
TARGET = 0.10


@dataclass
class Comparison:
    kernel: str
    seed: int
    default_ratio: float
    tuned_ratio: float
    default_seconds: float
    tuned_seconds: float
    default_evaluations: int
    tuned_evaluations: int


def _job(args: tuple) -> UnitResult:
    kernel, seed, overrides, offspring, use_wasm_opt = args
    return run_unit(kernel, seed, overrides, offspring, use_wasm_opt=use_wasm_opt)


def compare(kernels: tuple[str, ...], seeds: tuple[int, ...], tuned: dict, *, offspring: int = OFFSPRING,
            jobs: int = 1, use_wasm_opt: bool = True, on_result=None) -> list[Comparison]:
    """Run the default and the tuned setting on every (kernel, seed) at the same offspring budget."""
    plan = [(k, s, cfg, offspring, use_wasm_opt) for k in kernels for s in seeds for cfg in ({}, tuned)]
    if jobs == 1:
        results = [_job(p) for p in plan]
    else:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("forkserver"),
                                 initializer=exit_with, initargs=(os.getpid(),)) as pool:
            results = list(pool.map(_job, plan))
    out = []
    for i in range(0, len(results), 2):
        d, t = results[i], results[i + 1]
        c = Comparison(d.kernel, d.seed, round(d.ratio, 6), round(t.ratio, 6), d.seconds, t.seconds,
                       d.evaluations, t.evaluations)
        out.append(c)
        if on_result is not None:
            on_result(c)
    return out


def summary(rows: list[Comparison], floor: float) -> dict:
    d = [r.default_ratio for r in rows]
    t = [r.tuned_ratio for r in rows]
    if not rows:
        return {}
    med_d, med_t = statistics.median(d), statistics.median(t)
    geo_d, geo_t = geometric_mean(d), geometric_mean(t)
    flo_d, flo_t = geometric_mean(d, floor), geometric_mean(t, floor)
    return {
        "runs": len(rows),
        "median_default": round(med_d, 4), "median_tuned": round(med_t, 4),
        "improvement_median": round(1 - med_t / med_d, 4) if med_d else None,
        "geomean_default": round(geo_d, 4), "geomean_tuned": round(geo_t, 4),
        "improvement_geomean": round(1 - geo_t / geo_d, 4) if geo_d else None,
        "tuned_better": sum(x < y for x, y in zip(t, d)), "default_better": sum(x > y for x, y in zip(t, d)),
        "seconds_default": round(sum(r.default_seconds for r in rows), 1),
        "seconds_tuned": round(sum(r.tuned_seconds for r in rows), 1),
        "ratio_floor": floor,
        "floored_default": round(flo_d, 4), "floored_tuned": round(flo_t, 4),
        "improvement_floored": round(1 - flo_t / flo_d, 4) if flo_d else None,
        "target_met": (1 - flo_t / flo_d) >= TARGET if flo_d else False,
    }


def run(opts, console) -> dict:
    """The suite: tune on the training kernels, compare on the unseen ones, write tuner.md and tuner.json."""
    t0 = time.monotonic()
    trials = getattr(opts, "trials", None) or opts.runs
    evaluation = tuple(opts.kernels) if opts.kernels else EVAL_KERNELS
    training = tuple(k for k in TRAIN_KERNELS if k not in evaluation)
    jobs = opts.workers or default_workers()
    setup = TuneSetup(kernels=training, seeds=tuple(range(opts.seed, opts.seed + TUNE_SEEDS)), offspring=OFFSPRING,
                      jobs=jobs, use_wasm_opt=opts.wasm_opt)
    opts.out.mkdir(parents=True, exist_ok=True)
    console.print(f"tuner: {trials} trials on {len(training)} training kernels, up to {opts.budget:g} s per trial")

    def on_trial(study, t) -> None:
        value = f"{t.value:.4f}" if t.value is not None else t.state.name.lower()
        console.print(f"  trial {t.number}: {value}")

    report = tune(setup, opts.out / "tune-data", trials=trials, budget_s=opts.budget * trials, seed=opts.seed,
                  on_trial=on_trial)
    if report.best_trial is not None:
        report.config_file = str(write_config(opts.out / "tuned.json", report))
    seeds = tuple(EVAL_SEED_BASE + opts.seed + i for i in range(EVAL_SEEDS))
    console.print(f"tuner: default vs tuned on {len(evaluation)} unseen kernels x {len(seeds)} seeds")

    def on_result(c: Comparison) -> None:
        console.print(f"  {c.kernel:>16}/{c.seed}: default {c.default_ratio:.4f}  tuned {c.tuned_ratio:.4f}")

    rows = compare(evaluation, seeds, report.config, jobs=jobs, use_wasm_opt=opts.wasm_opt, on_result=on_result)
    doc = {
        "trials": trials, "budget_per_trial_s": opts.budget, "offspring_per_run": OFFSPRING,
        "wasm_opt_seeds": opts.wasm_opt,
        "training_kernels": list(training), "evaluation_kernels": list(evaluation), "evaluation_seeds": list(seeds),
        "tune": report.to_dict(), "comparison": [asdict(r) for r in rows], "summary": summary(rows, setup.ratio_floor),
        "seconds": round(time.monotonic() - t0, 1),
    }
    (opts.out / "tuner.json").write_text(json.dumps(doc, indent=1) + "\n")
    command = "jeet bench " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    (opts.out / "tuner.md").write_text(markdown(doc, command.strip()))
    return doc


def markdown(doc: dict, command: str) -> str:
    s, tr = doc["summary"], doc["tune"]
    lines = [
        "# jeet bench --suite tuner",
        "",
        f"Command: `{command}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"total {doc['seconds']:g} s",
        "",
        f"Tuning: study `{tr['study']}` on {len(doc['training_kernels'])} training kernels "
        f"({', '.join(doc['training_kernels'])}) x {len(tr['setup']['seeds'])} seeds, {doc['offspring_per_run']} "
        f"offspring per run; trials: {', '.join(f'{n} {state}' for state, n in sorted(tr['trials'].items()))} "
        f"({tr['new_trials']} finished in this session); "
        f"islands {'searched' if tr['islands_searched'] else 'not searched (unavailable)'}.",
        f"Objective (lower is better): geometric mean of evolved/original held-out fuel, each run's ratio "
        f"floored at {tr['setup'].get('ratio_floor')}; default "
        f"{_f(tr['default_value'])}, best {_f(tr['best_value'])} (trial {tr['best_trial']}).",
        "",
        "Tuned setting: `" + json.dumps(tr["config"]) + "`",
        "",
        "Importances: " + (", ".join(f"{k} {v:.2f}" for k, v in list(tr["importances"].items())[:8]) or "n/a"),
        "",
        f"Comparison on unseen kernels, seeds {doc['evaluation_seeds']}, "
        f"{'with' if doc.get('wasm_opt_seeds', True) else 'without'} wasm-opt seeds, equal budget of {doc['offspring_per_run']} "
        "offspring per run (figure: evolved/original fuel over the held-out cases, lower is better):",
        "",
        "| kernel | seed | default | tuned | default s | tuned s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in doc["comparison"]:
        lines.append(f"| {r['kernel']} | {r['seed']} | {r['default_ratio']:.4f} | {r['tuned_ratio']:.4f} | "
                     f"{r['default_seconds']:.1f} | {r['tuned_seconds']:.1f} |")
    if s:
        lines += [
            "",
            f"- geometric mean of the fuel ratios, each floored at {s['ratio_floor']:g} (the tuner's objective): "
            f"default **{s['floored_default']:.4f}**, tuned **{s['floored_tuned']:.4f}**; improvement "
            f"**{s['improvement_floored']:.1%}** (target >= {TARGET:.0%}: {'met' if s['target_met'] else 'not met'})",
            f"- unfloored geometric mean: default {s['geomean_default']:.4f}, tuned {s['geomean_tuned']:.4f} "
            f"({s['improvement_geomean']:.1%}); median: default {s['median_default']:.4f}, tuned "
            f"{s['median_tuned']:.4f} ({s['improvement_median']:.1%})",
            f"- runs where tuned is better / worse: {s['tuned_better']} / {s['default_better']} of {s['runs']}",
            f"- run time (sum): default {s['seconds_default']:g} s, tuned {s['seconds_tuned']:g} s",
        ]
    lines.append("")
    return "\n".join(lines)


def _f(v) -> str:
    return "n/a" if v is None else f"{v:.4f}"
