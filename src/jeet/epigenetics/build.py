"""Build a function's per-environment variant table: seeds, per-environment evolution, gate, measure.

The pipeline (`build_expression`):
1. environments: size buckets over the function's size quantity (its buffer length argument, else the
   magnitude of its integer arguments), each with a workload drawing sizes uniformly from its range;
2. cases per environment, answered by the reference module: training (for evolution), held-out (part
   of the gate) and workload (for fuel figures), disjoint;
3. the pool: seeds (every clang build of every implementation, wasm-opt -O3 of each) and specimens from
   peers, each admitted only through the gate = the function's own held-out cases plus every
   environment's held-out cases;
4. fuel of every member on every environment's workload;
5. per environment, a jeet evolution run started from that environment's best member (the next best
   immigrate), trained on that environment's cases; its champion faces the same gate and is measured
   everywhere;
6. the report: per environment the expressed variant (least mean fuel there) against the single best
   overall variant.

"Single best overall" is the member with the least geometric mean, over the environments, of its mean
fuel per call on each environment's workload: the one variant a host without expression would ship
if every environment counts the same. (A plain sum of fuel would let the environment with the largest
inputs decide alone.)
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ..errors import JeetError
from ..evolve import EvolveConfig, Evolution, Problem, load_problem
from ..kernels import get_kernel
from ..specimen import Specimen
from ..oracle import Case, Oracle, with_frame
from ..sandbox import Limits, Sandbox
from ..wasm import WasmError, abi, decode
from .environment import ArgMagnitude, Environment, LengthArg, MemoryGauge, Observer, SizeBuckets, SizeProbe
from ..errors import EpigeneticsError
from .expression import Expression
from .pool import Rejection, Variant, VariantPool
from .seeds import Seed, kernel_seeds, module_seeds
from .table import FitnessTable
from .tags import environment_of, tag_specimen, to_tags
from .workload import CaseMaker, EnvSpec, choose_probe, env_specs

DEFAULT_BOUNDS = {"length": (8,), "bits": (8,)}
DEFAULT_TOP_LENGTH = 8192


@dataclass(frozen=True, slots=True)
class ExpressConfig:
    """Knobs of one build. `budget_s` is evolution time per environment (0: seeds only)."""

    bounds: tuple[int, ...] | None = None   # size bucket bounds; default 8 (bytes, or bits for scalars)
    names: tuple[str, ...] = ()              # bucket names; default small/large (small/medium/large for 3)
    max_size: int | None = None              # the last workload's largest size; default 8192 bytes / the width
    size_arg: int | None = None              # force this argument as the size (a length)
    train_size: int = 8
    held_out_per_env: int = 200
    measure_cases: int = 64
    budget_s: float = 30.0
    generations: int | None = None
    population: int = 24
    workers: int = 0
    seed: int = 0
    fuel: int = 20_000_000                   # per call: the largest buffers bit by bit at -O0 need ~6 M
    deadline_s: float = 10.0                 # per call, wall clock; fuel is the real bound, this only
                                             # keeps a loaded machine from failing a call that is on time
    use_wasm_opt: bool = True
    immigrants: int = 4

    def __post_init__(self) -> None:
        if self.train_size < 1 or self.held_out_per_env < 1 or self.measure_cases < 1:
            raise EpigeneticsError("train_size, held_out_per_env and measure_cases must be at least 1")
        if self.budget_s < 0 or (self.generations is not None and self.generations < 0):
            raise EpigeneticsError("the budget and generations cannot be negative")
        if not self.deadline_s > 0:
            raise EpigeneticsError("deadline_s must be positive")
        if self.max_size is not None and self.max_size < 1:
            raise EpigeneticsError("max_size must be positive")

    @property
    def evolves(self) -> bool:
        return self.budget_s > 0 and self.generations != 0


@dataclass(frozen=True)
class Target:
    """What to build for: the problem (reference module, function, its own oracle) and the seeds."""

    name: str
    problem: Problem
    seeds: list[Seed]


def _seeds_frame(sandbox: Sandbox, problem: Problem, gate: list[Case], seeds: Sequence[Seed]) -> tuple[Case, ...]:
    """The gate with the largest stack frame of the trusted seeds as scratch: other implementations of the
    function (a table built on the stack) may use more stack than the reference. Peers never widen it."""
    frames = []
    for seed in seeds:
        try:
            module = decode(seed.wasm)
            index = module.export_func(problem.function)
            frame = abi.frame_bytes(module, index) if index is not None else None
        except WasmError:
            frame = None
        if frame:
            frames.append(frame)
    if not frames:
        return tuple(gate)
    gated = Oracle(problem.oracle.params, problem.oracle.results, (), tuple(gate), problem.oracle.source,
                   problem.oracle.held_out_seed, problem.oracle.env)
    return with_frame(gated, sandbox, problem.wasm, problem.function, max(frames)).held_out


def resolve_target(target: str, function: str | None = None, tests: Path | None = None,
                   config: ExpressConfig = ExpressConfig()) -> Target:
    """A module file (.wasm/.wat) or a built-in kernel name, as a Target."""
    limits = Limits(fuel=config.fuel, deadline_s=config.deadline_s)
    path = Path(target)
    if path.exists():
        problem = load_problem(path, function, tests, seed=config.seed, limits=limits, train_size=config.train_size)
        return Target(path.stem, problem, module_seeds(problem.wasm, path.name, use_wasm_opt=config.use_wasm_opt))
    try:
        kernel = get_kernel(target)
    except ValueError:
        raise EpigeneticsError(f"{target!r} is neither a file nor a built-in kernel") from None
    if function is not None and function != kernel.function:
        raise EpigeneticsError(f"kernel {kernel.name} exports {kernel.function}, not {function}")
    problem = load_problem(None, None, tests, seed=config.seed, limits=limits, train_size=config.train_size,
                           kernel=kernel.name)
    return Target(kernel.name, problem, kernel_seeds(kernel, use_wasm_opt=config.use_wasm_opt))


@dataclass(frozen=True, slots=True)
class EvolutionRun:
    environment: str
    started_from: str     # origin of the seed it started from
    seed_fuel: float      # that seed's mean fuel in the environment
    champion: str         # sha256
    champion_fuel: float | None  # None when the champion did not enter the pool
    new: bool             # the champion was not in the pool before
    generations: int
    evaluations: int
    seconds: float


@dataclass(frozen=True, slots=True)
class EnvironmentResult:
    """The target figure for one environment."""

    environment: str
    tags: tuple[str, ...]
    sizes: tuple[int, int]          # inclusive range of the workload's sizes
    expressed: str                  # sha256
    expressed_origin: str
    expressed_fuel: float           # mean fuel per call on the workload
    best_overall_fuel: float
    gain: float                     # 1 - expressed / best overall: the share of fuel expression saves
    reference_fuel: float           # the reference module's (the input's) mean fuel


@dataclass
class ExpressionBuild:
    function: str
    name: str
    unit: str                       # "bytes" (buffer length), "bits" (argument magnitude) or "size" (--size-arg)
    probe: SizeProbe
    buckets: SizeBuckets
    specs: list[EnvSpec]
    reference: str                  # sha256 of the reference module
    variants: list[Variant]
    rejected: list[Rejection]
    table: FitnessTable
    best_overall: Variant
    best_overall_geomean: float
    results: list[EnvironmentResult]
    runs: list[EvolutionRun] = field(default_factory=list)
    gate_cases: int = 0
    seconds: float = 0.0

    def variant(self, sha: str) -> Variant:
        return next(v for v in self.variants if v.sha256 == sha)

    def observer(self, *, memory: MemoryGauge | None = None, node_tags: Sequence[str] = ()) -> Observer:
        return Observer(self.probe, self.buckets, memory=memory, node_tags=node_tags)

    def expression(self, *, champion: str | None = None, memory: MemoryGauge | None = None,
                   node_tags: Sequence[str] = (), metric: str = "fuel", explore: float = 0.0,
                   rng: random.Random | None = None, contenders: int = 3) -> Expression:
        """The runtime's expression object: each environment's winner (and up to `contenders` runners-up,
        so observations can re-rank them) with this build's fitness table."""
        keep: dict[str, None] = {}
        for spec in self.specs:
            for sha, _ in self.table.ranking(spec.environment)[:max(1, contenders)]:
                keep[sha] = None
        variants = {sha: self.variant(sha).wasm for sha in keep if sha != champion}
        labels = {v.sha256: v.origin for v in self.variants}
        return Expression(self.function, variants, self.table, self.observer(memory=memory, node_tags=node_tags),
                          champion=champion, metric=metric, explore=explore, rng=rng, labels=labels)

    def specimens(self, node_tags: Sequence[str] = ()) -> list[Specimen]:
        """Each environment's winner as a gossip specimen tagged with that environment."""
        out = []
        for r in self.results:
            env = Environment(size=Environment.from_key(r.environment).size, node=tuple(node_tags))
            entry = self.table.entry(Environment(size=env.size), r.expressed)
            fitness = entry.fitness if entry is not None and entry.fitness is not None else 0.5
            out.append(tag_specimen(self.function, self.variant(r.expressed).wasm, fitness,
                                    round(r.expressed_fuel), env))
        return out

    def to_dict(self) -> dict:
        return {
            "function": self.function, "name": self.name, "unit": self.unit,
            "environments": [asdict(r) for r in self.results],
            "best_overall": {"sha256": self.best_overall.sha256, "origin": self.best_overall.origin,
                             "geomean_fuel": round(self.best_overall_geomean, 2)},
            "best_overall_definition": "least geometric mean over the environments of mean fuel per call",
            "reference": self.reference,
            "variants": [{"sha256": v.sha256, "origin": v.origin, "environment": v.environment, "size": len(v.wasm),
                          "fuel": {s.name: self.table.fuel(s.environment, v.sha256) for s in self.specs}}
                         for v in self.variants],
            "rejected": [asdict(r) for r in self.rejected],
            "evolution": [asdict(r) for r in self.runs],
            "gate_cases": self.gate_cases, "seconds": round(self.seconds, 2),
        }


def _geomean(values: Sequence[float]) -> float:
    return math.exp(sum(math.log(max(v, 1e-9)) for v in values) / len(values))


def build_expression(target: Target, config: ExpressConfig = ExpressConfig(), *,
                     peers: Sequence[Specimen] = (), progress: Callable[[str], None] | None = None) -> ExpressionBuild:
    """Run the whole pipeline for `target`; `peers` are specimens received by gossip (gated like any other)."""
    say = progress or (lambda _msg: None)
    t0 = time.monotonic()
    problem = target.problem
    oracle = problem.oracle
    function = problem.function
    templates = list(oracle.train) + list(oracle.held_out)
    # workloads are modelled on the training cases (the user's own, where given): held-out cases put buffers
    # anywhere in memory, with lengths beyond them, on purpose
    models = [c for c in oracle.train if c.memory] or templates
    probe = choose_probe(oracle.params, models, config.size_arg)
    buckets = SizeBuckets(config.bounds or DEFAULT_BOUNDS[probe.kind], config.names)
    top = config.max_size or (DEFAULT_TOP_LENGTH if isinstance(probe, LengthArg) else max(probe.widths))
    specs = env_specs(buckets, top)
    with Sandbox(problem.limits) as sandbox:
        maker = CaseMaker(sandbox, problem.wasm, function, oracle.params, probe, models)
        unit = "bits" if isinstance(probe, ArgMagnitude) else "bytes" if maker.layout is not None else "size"
        train, held, work = {}, {}, {}
        trained: set = set()
        for spec in specs:
            rng = random.Random(f"jeet-epigenetics:{config.seed}:{spec.name}")
            train[spec.name] = maker.make(spec.lo, spec.hi, config.train_size, rng, set())
            trained |= {c.key for c in train[spec.name]}
            # held-out inputs: new ones first (not the function's own cases), never training ones
            held[spec.name] = maker.make(spec.lo, spec.hi, config.held_out_per_env, rng,
                                         trained | {c.key for c in templates}, fill=trained)
            # the workload only measures fuel: it may repeat held-out inputs, never training ones
            work[spec.name] = maker.make(spec.lo, spec.hi, config.measure_cases, rng, set(trained))
        # the gate: the function's own cases and every environment's held-out cases, minus training inputs
        gate: list[Case] = [c for c in list(oracle.train) + list(oracle.held_out) if c.key not in trained]
        gate += [c for s in specs for c in held[s.name]]
        gate = list(_seeds_frame(sandbox, problem, gate, target.seeds))
        say(f"{len(specs)} environments ({', '.join(s.describe(unit) for s in specs)}); gate of {len(gate)} cases")

        pool = VariantPool(sandbox, function, oracle.params, oracle.results, gate)
        for seed in target.seeds:
            pool.offer(seed.wasm, seed.origin)
        if problem.sha256 not in pool:
            raise EpigeneticsError("the reference module fails its own gate cases (is it deterministic?)")
        for spec_ in peers:
            if spec_.function == function:
                pool.offer(spec_.wasm, f"peer specimen {spec_.sha256[:12]}", environment_of(spec_))
        say(f"pool: {len(pool)} seeds passed the gate, {len(pool.rejected)} rejected")

        table = FitnessTable()
        for spec in specs:
            pool.measure(spec.environment, work[spec.name], table, problem.wasm)

        runs: list[EvolutionRun] = []
        if config.evolves:
            for i, spec in enumerate(specs):
                runs.append(_evolve_for(spec, i, pool, table, train[spec.name], gate, work, specs, problem, config,
                                        say))

    results, best, best_geo = _report(specs, pool, table, problem.sha256)
    return ExpressionBuild(function=function, name=target.name, unit=unit, probe=probe, buckets=buckets, specs=specs,
                           reference=problem.sha256, variants=list(pool), rejected=list(pool.rejected), table=table,
                           best_overall=best, best_overall_geomean=best_geo, results=results, runs=runs,
                           gate_cases=pool.gate_cases, seconds=time.monotonic() - t0)


def _evolve_for(spec: EnvSpec, index: int, pool: VariantPool, table: FitnessTable, train: list[Case],
                gate: list[Case], work: dict, specs: list[EnvSpec], problem: Problem, config: ExpressConfig,
                say: Callable[[str], None]) -> EvolutionRun:
    """One evolution run trained on `spec`'s cases, from its best member; the champion faces the gate."""
    env = spec.environment
    ranked = table.ranking(env, among=pool.variants)
    start, start_fuel = pool.get(ranked[0][0]), ranked[0][1]
    others = [pool.get(sha).wasm for sha, _ in ranked[1:1 + config.immigrants]]
    local = Problem(name=f"{problem.name}@{spec.name}", wasm=start.wasm, function=problem.function,
                    oracle=Oracle(problem.oracle.params, problem.oracle.results, tuple(train), tuple(gate),
                                  "epigenetics"),
                    limits=problem.limits)
    cfg = EvolveConfig(population=config.population, budget_s=config.budget_s or None,
                       generations=config.generations, seed=config.seed * 1000 + index, workers=config.workers,
                       use_wasm_opt=False, train_size=config.train_size, fuel=config.fuel,
                       deadline_s=config.deadline_s)
    t0 = time.monotonic()
    try:
        with Evolution(local, cfg) as evo:
            evo.start()
            evo.immigrate(others)
            evo.run()
            champ, gens, evals = evo.champion, evo.state.generation, evo.state.evaluations
    except JeetError as exc:
        raise EpigeneticsError(f"evolution for {env.key} failed: {exc}") from None
    new = champ.sha256 not in pool
    fuel = None
    member = pool.offer(champ.wasm, f"jeet evolve for {env.key} from {start.origin}", env)
    if member is not None and new:
        for s in specs:
            pool.measure(s.environment, work[s.name], table, problem.wasm, shas=[member.sha256])
    if member is not None and member.sha256 in pool:
        fuel = table.fuel(env, member.sha256)
    seconds = time.monotonic() - t0
    say(f"evolution for {env.key}: {start.origin} {start_fuel:.0f} -> "
        f"{'rejected' if fuel is None else f'{fuel:.0f}'} fuel/call, {gens} generations, {seconds:.1f} s")
    return EvolutionRun(env.key, start.origin, start_fuel, champ.sha256, fuel, new, gens, evals, round(seconds, 2))


def _report(specs: list[EnvSpec], pool: VariantPool, table: FitnessTable, reference: str
            ) -> tuple[list[EnvironmentResult], Variant, float]:
    envs = [s.environment for s in specs]
    geo: dict[str, float] = {}
    for v in pool:
        fuels = [table.fuel(e, v.sha256) for e in envs]
        if all(f is not None for f in fuels):
            geo[v.sha256] = _geomean(fuels)
    if not geo:
        raise EpigeneticsError("no variant was measured in every environment")
    best_sha = min(geo, key=lambda s: (geo[s], s))
    best = pool.get(best_sha)
    results = []
    for spec, env in zip(specs, envs):
        sha, fuel = table.ranking(env, among=geo)[0]
        best_fuel = table.fuel(env, best_sha)
        results.append(EnvironmentResult(
            environment=env.key, tags=to_tags(env), sizes=(spec.lo, spec.hi - 1), expressed=sha,
            expressed_origin=pool.get(sha).origin, expressed_fuel=round(fuel, 2),
            best_overall_fuel=round(best_fuel, 2), gain=round(1 - fuel / best_fuel, 4) if best_fuel else 0.0,
            reference_fuel=round(table.fuel(env, reference) or 0.0, 2)))
    return results, best, geo[best_sha]
