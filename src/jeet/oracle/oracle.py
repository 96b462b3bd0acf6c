"""What "correct" means for one function: training cases, a larger held-out set, and the check.

An `Oracle` is built by running the ORIGINAL module in a sandbox: either the original is
the reference on generated inputs (`differential_oracle`), or it must pass the user's
tests first (`tests_oracle`). A candidate is correct when it passes every case: a trap
case only by trapping, any other case only by returning the expected values (integers
compared modulo 2**width, floats bit for bit with any NaN matching any NaN), the
expected memory contents, and the original's side effects: the same memory afterwards
everywhere outside the stack frame (a keyed digest; memory size included) and the same
exported mutable globals. Every case starts from memory that depends on the case alone
(see `jeet.sandbox.effects`), poisoned with random bytes or zeroed.

Held-out cases are drawn from `held_out_seed`, which callers draw fresh per run and per
node (`fresh_seed`) so that no two verifiers check the same cases.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Sequence

from ..sandbox import CompiledModule, ExecutionResult, Outcome, Sandbox
from ..sandbox.effects import UNCHANGED, MemoryEnv
from .augment import Arena, Augmenter
from .cases import Case
from .differential import generate_inputs
from ..errors import OracleError
from .environment import Layout, layout
from .values import VALTYPES, canonical, format_value, results_equal

DEFAULT_TRAP_SHARE = 0.25
_BATCH = 256
_POISONS = 4  # random memory fillings per oracle (each case draws one, or zeroed memory)


@dataclass(frozen=True, slots=True)
class Verdict:
    """How a candidate fared on a case set (counts cover the cases actually run)."""

    passed: int
    failed: int
    first_failure: int | None
    fuel: int
    peak_pages: int
    outcome_counts: dict = field(default_factory=dict)
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.first_failure is None

    @property
    def total(self) -> int:
        return self.passed + self.failed


@dataclass(frozen=True)
class Oracle:
    """The correctness gate for one function.

    `params` / `results` are value-type names ("i32", "i64", "f32", "f64"); `train` is the
    small set run on every candidate, `held_out` the set (at least `held_out_factor` times
    larger where the input space allows) a candidate must pass before it may become
    champion. `source` is "tests" or "differential". `held_out_seed` is the seed the held-out
    cases were drawn from (the evidence records it); `env` the memory every case starts from.
    """

    params: tuple[str, ...]
    results: tuple[str, ...]
    train: tuple[Case, ...]
    held_out: tuple[Case, ...]
    source: str
    held_out_seed: int | None = None
    env: MemoryEnv | None = field(default=None, compare=False, repr=False)

    def check(self, case: Case, result: ExecutionResult) -> bool:
        """True when `result` is what `case` demands."""
        return not self.explain(case, result)

    def explain(self, case: Case, result: ExecutionResult) -> str:
        """Why `result` fails `case`, or "" when it passes."""
        if case.trap:
            return "" if result.outcome is Outcome.TRAP else f"expected a trap, {_describe(result, self.results)}"
        if result.outcome is not Outcome.OK:
            return _describe(result, self.results)
        if case.expect is not None and not results_equal(self.results, case.expect, result.results):
            return (f"returned {_format(self.results, result.results)}, "
                    f"expected {_format(self.results, case.expect)}")
        if case.expect_memory:
            got = dict(result.memory)
            for offset, data in case.expect_memory:
                if got.get(offset) != data:
                    return f"memory at {offset} differs from the expected {len(data)} bytes"
        if case.digest is not None and result.digest != case.digest:
            if case.digest == UNCHANGED:
                return "changed memory outside its stack frame, which the original leaves as it was"
            if result.digest == UNCHANGED:
                return "left memory as it was, where the original writes it"
            return "left memory different from the original's"
        if case.globals is not None and tuple(result.globals) != case.globals:
            return f"left the exported globals at {list(result.globals)}, expected {list(case.globals)}"
        return ""

    def first_failure(self, cases: Sequence[Case], results: Sequence[ExecutionResult]) -> int | None:
        """Index of the first failing case; a case without a result (the run stopped) counts as failing."""
        for i, case in enumerate(cases):
            if i >= len(results) or not self.check(case, results[i]):
                return i
        return None

    def verify(self, sandbox: Sandbox, wasm: bytes | CompiledModule, function: str, cases: Sequence[Case],
               stop_at_first_failure: bool = True) -> Verdict:
        """Run a candidate on `cases` and compare; a changed signature fails outright."""
        cases = list(cases)
        compiled = sandbox.compile(wasm)
        if isinstance(compiled, ExecutionResult):
            return Verdict(0, 1, 0 if cases else None, 0, 0, {compiled.outcome: 1}, compiled.message)
        sig = compiled.signature(function)
        if sig is None or sig.params != self.params or sig.results != self.results:
            got = "no such function" if sig is None else str(sig)
            want = f"[{' '.join(self.params)}] -> [{' '.join(self.results)}]"
            return Verdict(0, 1, 0 if cases else None, 0, 0, {Outcome.INVALID: 1},
                           f"{function}: signature {got}, expected {want}")
        results = sandbox.run(compiled, function, cases, stop_at_first_failure=stop_at_first_failure,
                              oracle_check=self.check)
        passed = failed = 0
        first: int | None = None
        message = ""
        # a run that stops at the first failure has checked every case it ran: all but the last passed
        judged = 0 if not stop_at_first_failure or not results else len(results) - 1
        passed = judged
        for i in range(judged, len(results)):
            reason = self.explain(cases[i], results[i])
            if reason:
                failed += 1
                if first is None:
                    first, message = i, f"case {i}: {reason}"
            else:
                passed += 1
        return Verdict(passed, failed, first, sum(r.fuel for r in results),
                       max((r.peak_pages for r in results), default=0),
                       dict(Counter(r.outcome for r in results)), message)

    def verify_train(self, sandbox: Sandbox, wasm: bytes | CompiledModule, function: str) -> Verdict:
        return self.verify(sandbox, wasm, function, self.train)

    def verify_held_out(self, sandbox: Sandbox, wasm: bytes | CompiledModule, function: str) -> Verdict:
        return self.verify(sandbox, wasm, function, self.held_out)


def _format(types: Sequence[str], values: Sequence[int]) -> str:
    return "[" + ", ".join(format_value(t, v) for t, v in zip(types, values)) + "]"


def _describe(result: ExecutionResult, types: Sequence[str]) -> str:
    why = f" ({result.message})" if result.message else ""
    return {
        Outcome.OK: f"returned {_format(types, result.results)}",
        Outcome.TRAP: f"trapped{why}",
        Outcome.OUT_OF_FUEL: f"ran out of fuel after {result.fuel} cycles",
        Outcome.OUT_OF_MEMORY: f"exceeded the memory limits{why}",
        Outcome.TIMEOUT: f"timed out{why}",
        Outcome.INVALID: f"could not run{why}",
    }[result.outcome]


def _prepare(sandbox: Sandbox, wasm: bytes | CompiledModule, function: str
             ) -> tuple[CompiledModule, tuple[str, ...], tuple[str, ...]]:
    compiled = sandbox.compile(wasm)
    if isinstance(compiled, ExecutionResult):
        raise OracleError(f"the original module cannot be used: {compiled.outcome.value}: {compiled.message}")
    sig = compiled.signature(function)
    if sig is None:
        names = ", ".join(sorted(compiled.functions)) or "none"
        raise OracleError(f"the original exports no function {function!r} (exported functions: {names})")
    bad = [t for t in sig.params + sig.results if t not in VALTYPES]
    if bad:
        raise OracleError(f"cannot drive {function} {sig}: {bad[0]} values cannot be generated or compared "
                          "(only i32, i64, f32, f64)")
    return compiled, sig.params, sig.results


def _record(sandbox: Sandbox, compiled: CompiledModule, function: str, cases: Sequence[Case],
            shadow: tuple[CompiledModule, tuple] | None = None) -> tuple[list[Case], list[Case], Counter]:
    """Run the original on `cases`; return (finished cases with expectations, trap cases, outcome counts).

    A finished case records the original's results and, when it has an env, its effects. With a
    `shadow` (the original with its stack elsewhere, run once with zeros and once with random bytes where
    it was), inputs on which they disagree read the stack itself and are dropped."""
    ok, traps = [], []
    counts: Counter = Counter()
    results = sandbox.run(compiled, function, cases)
    if shadow is not None:
        keep = [True] * len(cases)
        for fill in shadow[1]:
            moved = sandbox.run(shadow[0], function, [replace(c, memory=(fill,) + c.memory) for c in cases])
            # the shadow has more memory: where the original traps it may not, which says nothing of the stack
            keep = [k and (a.outcome is not Outcome.OK or (b.outcome is Outcome.OK and a.results == b.results))
                    for k, a, b in zip(keep, results, moved)]
        cases = [c for c, k in zip(cases, keep) if k]
        results = [r for r, k in zip(results, keep) if k]
    for case, result in zip(cases, results):
        counts[result.outcome] += 1
        if result.outcome is Outcome.OK:
            expect_memory = tuple((off, data) for off, data in result.memory) if case.expect_memory else ()
            ok.append(replace(case, expect=tuple(result.results), trap=False, expect_memory=expect_memory,
                              **_effects_of(case, result)))
        elif result.outcome is Outcome.TRAP:
            traps.append(replace(case, expect=None, trap=True, expect_memory=(), digest=None, globals=None))
    return ok, traps, counts


def _effects_of(case: Case, result: ExecutionResult) -> dict:
    if case.env is None:
        return {"digest": None, "globals": None}
    return {"digest": result.digest, "globals": tuple(result.globals)}


def _shadow(sandbox: Sandbox, lay: Layout) -> tuple[CompiledModule, tuple] | None:
    """The original with its stack moved to a page of its own, and two fillings (zeros, random bytes) of
    the 4 KiB below the stack pointer it left, where a frame of any implementation would be."""
    if lay.moved_stack is None or lay.stack_top is None:
        return None
    compiled = sandbox.compile(lay.moved_stack)
    if not isinstance(compiled, CompiledModule):
        return None
    lo = max(0, lay.stack_top - 4096)
    n = lay.stack_top - lo
    return compiled, ((lo, bytes(n)), (lo, random.Random(f"jeet-stack:{lay.stack_top}").randbytes(n)))


def _poisons(lay: Layout, seed: object) -> list[int]:
    """The memory fillings a set of cases draws from: 0 (zeroed) and a few random ones from `seed`."""
    if lay.env is None or not lay.size:
        return [0]
    rng = random.Random(f"jeet-oracle-poison:{seed}")
    return [0] + [rng.getrandbits(62) | 1 for _ in range(_POISONS)]


def _staged(case: Case, lay: Layout, poisons: Sequence[int], rng: random.Random) -> Case:
    """`case` set to start from the oracle's memory: zeroed for about a third of cases, else poisoned."""
    if lay.env is None:
        return case
    poison = 0 if len(poisons) == 1 or rng.random() < 0.34 else rng.choice(poisons[1:])
    return replace(case, env=lay.env, poison=poison)


def _pointers(args: tuple, params: Sequence[str], lay: Layout, rng: random.Random) -> tuple:
    """Some i32 arguments replaced by addresses inside memory, so loads and stores land in bounds; never below
    the stack pointer or in static data, where no caller keeps its buffers."""
    arena = Arena(lay.size, lay.taken)
    if lay.size <= 0:
        return args
    out = list(args)
    for i, t in enumerate(params):
        if t == "i32" and rng.random() < 0.3:
            align = rng.choice((1, 4, 8, 64))
            for _ in range(8):
                addr = rng.randrange(lay.size // align) * align
                if arena.fits(addr, addr + 1):
                    out[i] = addr
                    break
    return tuple(out)


def _counts_text(counts: Counter) -> str:
    return ", ".join(f"{n} {outcome.value}" for outcome, n in sorted(counts.items(), key=lambda kv: kv[0].value))


class _HeldOut:
    """Accumulates held-out cases: finished ones freely, traps up to a share, the rest in reserve."""

    def __init__(self, target: int, trap_share: float) -> None:
        self.target = target
        self.max_traps = int(target * trap_share)
        self.cases: list[Case] = []
        self.reserve: list[Case] = []
        self.traps = 0

    def add(self, ok: list[Case], traps: list[Case]) -> None:
        self.cases.extend(ok)
        for case in traps:
            if self.traps < self.max_traps:
                self.cases.append(case)
                self.traps += 1
            else:
                self.reserve.append(case)

    @property
    def full(self) -> bool:
        return len(self.cases) >= self.target

    def finish(self) -> list[Case]:
        """The cases, topped up from the reserved traps when finished cases ran short."""
        if not self.full:
            self.cases.extend(self.reserve[:self.target - len(self.cases)])
        return self.cases


def differential_oracle(sandbox: Sandbox, wasm: bytes | CompiledModule, function: str, *, seed: int,
                        train_size: int = 16, held_out_factor: int = 100,
                        trap_share: float = DEFAULT_TRAP_SHARE, held_out_seed: int | None = None) -> Oracle:
    """The original module is the reference: generated inputs, its outputs and effects recorded.

    Inputs on which the original returns become cases; inputs on which it traps become
    trap cases, at most `trap_share` of each set; inputs that exhaust fuel, memory or time
    are dropped. Every case starts from zeroed or poisoned memory, and some i32 arguments
    are addresses inside memory. The held-out set has at least `held_out_factor` *
    len(train) cases, drawn from `held_out_seed` (derived from `seed` when None) and
    disjoint from the training inputs; for a function without parameters the single
    possible input is both sets (from zeroed memory).
    """
    compiled, params, results = _prepare(sandbox, wasm, function)
    if train_size < 1:
        raise OracleError("train_size must be at least 1")
    lay = layout(sandbox, wasm, compiled, function)
    shadow = _shadow(sandbox, lay)
    poisons = _poisons(lay, f"train:{seed}")
    rng = random.Random(f"jeet-oracle-train:{seed}")
    inputs = generate_inputs(params, rng, max(4 * train_size, 64))
    pool = _dedupe(_staged(Case(_pointers(args, params, lay, rng)), lay, poisons, rng) for args in inputs)
    if not params:
        pool = [_staged(Case(()), lay, [0], rng)]
    ok, traps, counts = _record(sandbox, compiled, function, pool, shadow)
    if not ok:
        raise OracleError(f"the original finishes on no input within the cycle budget of "
                          f"{sandbox.limits.fuel} ({len(pool)} inputs tried: {_counts_text(counts)})")
    if not params:
        return Oracle(params, results, (ok[0],), (ok[0],), "differential", held_out_seed, lay.env)
    n_traps = min(len(traps), int(train_size * trap_share))
    n_ok = min(len(ok), train_size - n_traps)
    train = [ok[i] for i in sorted(rng.sample(range(len(ok)), n_ok))]
    train += [traps[i] for i in sorted(rng.sample(range(len(traps)), n_traps))]

    if held_out_seed is None:
        held_out_seed = seed
    target = held_out_factor * len(train)
    hrng = random.Random(f"jeet-oracle-held-out:{held_out_seed}")
    poisons = _poisons(lay, f"held-out:{held_out_seed}")
    held = _HeldOut(target, trap_share)
    seen = {case.args for case in train}
    keys = {case.key for case in train}
    tried: Counter = Counter()
    budget = 5 * target + 500
    spent = 0
    while not held.full and spent < budget:
        inputs = generate_inputs(params, hrng, min(max(_BATCH, target - len(held.cases)), budget - spent), seen)
        if not inputs:
            break
        seen.update(inputs)
        for start in range(0, len(inputs), _BATCH):
            chunk = []
            for args in inputs[start:start + _BATCH]:
                case = _staged(Case(_pointers(args, params, lay, hrng)), lay, poisons, hrng)
                if case.key not in keys:
                    keys.add(case.key)
                    chunk.append(case)
            ok_c, trap_c, counts = _record(sandbox, compiled, function, chunk, shadow)
            held.add(ok_c, trap_c)
            tried.update(counts)
            spent += len(inputs[start:start + _BATCH])
            if held.full:
                break
    cases = _by_poison(held.finish()[:target])
    if len(cases) < target and spent >= budget:
        raise OracleError(f"only {len(cases)} of {target} held-out cases could be built: the original finishes "
                          f"on too few inputs ({spent} tried: {_counts_text(tried)})")
    return Oracle(params, results, tuple(_by_poison(train)), tuple(cases), "differential", held_out_seed, lay.env)


def with_frame(oracle: Oracle, sandbox: Sandbox, wasm: bytes, function: str, frame: int) -> Oracle:
    """`oracle` with `frame` bytes below the stack pointer at entry as scratch, where that is more than the
    original's own frame, and every case's effects recorded again from the original.

    For judging other implementations of the function (say a table built on the stack) whose frames are
    larger than the original's: the caller never owns memory below its stack pointer. A caller that gates
    evolved variants keeps the original's frame.
    """
    env = oracle.env
    if env is None:
        return oracle
    from ..wasm import abi, decode  # only here: the codec is not needed on any hot path

    module = decode(wasm)
    sp = abi.stack_pointer(module)
    if sp is None or sp < module.num_imported_globals:
        return oracle
    entry = module.globals[sp - module.num_imported_globals].init.instrs[0].imm[0] & 0xFFFFFFFF
    lo = max(0, entry - frame)
    if env.scratch is not None and env.scratch[0] <= lo:
        return oracle
    wider = MemoryEnv(os.urandom(16), env.image, env.keep, (lo, entry))
    compiled = sandbox.compile(wasm)

    def again(cases: tuple[Case, ...]) -> tuple[Case, ...]:
        staged = [replace(case, env=wider) if case.env is not None else case for case in cases]
        out = []
        for case, result in zip(staged, sandbox.run(compiled, function, staged)):
            if case.env is not None and not case.trap and result.outcome is Outcome.OK:
                case = replace(case, **_effects_of(case, result))
            out.append(case)
        return tuple(out)

    return replace(oracle, train=again(oracle.train), held_out=again(oracle.held_out), env=wider)


def _by_poison(cases: list[Case]) -> list[Case]:
    """Cases grouped by starting memory (stable: the given tests stay first), so that a run resets only
    what the previous case changed instead of all of memory."""
    return sorted(cases, key=lambda case: case.poison)


def _dedupe(cases) -> list[Case]:
    seen: set = set()
    out = []
    for case in cases:
        if case.key not in seen:
            seen.add(case.key)
            out.append(case)
    return out


def tests_oracle(sandbox: Sandbox, wasm: bytes | CompiledModule, function: str, tests: Sequence[Case], *,
                 seed: int, train_size: int = 16, held_out_factor: int = 100,
                 trap_share: float = DEFAULT_TRAP_SHARE, held_out_seed: int | None = None) -> Oracle:
    """The user's tests define correctness; the original must pass them all first.

    Each given case runs on zeroed memory (the module as instantiated, plus its blocks), or
    on the poisoned memory its `poison` seed names.
    Cases without "expect" take the original's results; every finished case also takes
    the original's effects. Training is a seeded sample of `train_size` given cases. The
    held-out set is every given case plus augmented cases until it has at least
    `held_out_factor` * len(train): new cases that vary what the tests fix (arguments,
    block lengths, bytes and places; see `jeet.oracle.augment`), on zeroed or poisoned
    memory, drawn from `held_out_seed` (derived from `seed` when None). Augmented cases
    use the ORIGINAL as the reference (its outputs and effects are recorded), so they
    check equivalence with the original beyond what the tests state.
    """
    compiled, params, results = _prepare(sandbox, wasm, function)
    if train_size < 1:
        raise OracleError("train_size must be at least 1")
    tests = list(tests) if not hasattr(tests, "where") else tests
    if not tests:
        raise OracleError("no test cases given")
    where = tests.where if hasattr(tests, "where") else (lambda i: f"test case {i}")
    for i, case in enumerate(tests):
        if len(case.args) != len(params):
            raise OracleError(f"{where(i)}: {len(case.args)} arguments for {function} "
                              f"[{' '.join(params)}] -> [{' '.join(results)}]")
        if case.expect is not None and len(case.expect) != len(results):
            raise OracleError(f"{where(i)}: {len(case.expect)} expected values, {function} returns {len(results)}")

    lay = layout(sandbox, wasm, compiled, function)
    shadow = _shadow(sandbox, lay)
    normal = []
    for i, case in enumerate(tests):
        try:
            args = tuple(canonical(t, v) for t, v in zip(params, case.args))
            expect = None if case.expect is None else tuple(canonical(t, v) for t, v in zip(results, case.expect))
        except OracleError as exc:
            raise OracleError(f"{where(i)}: {exc}") from None
        normal.append(replace(case, args=args, expect=expect, env=lay.env, digest=None, globals=None))
    given: list[Case] = []
    for i, (case, result) in enumerate(zip(normal, sandbox.run(compiled, function, normal))):
        if case.trap:
            if result.outcome is not Outcome.TRAP:
                raise OracleError(f"{where(i)}: the original fails its own test: expected a trap, "
                                  f"it {_describe(result, results)}")
        elif result.outcome is not Outcome.OK:
            raise OracleError(f"{where(i)}: the original fails its own test: it {_describe(result, results)}")
        elif case.expect is not None and not results_equal(results, case.expect, result.results):
            raise OracleError(f"{where(i)}: the original fails its own test: it returns "
                              f"{_format(results, result.results)}, the test expects {_format(results, case.expect)}")
        elif case.expect_memory and dict(result.memory) != dict(case.expect_memory):
            bad = next(off for off, data in case.expect_memory if dict(result.memory).get(off) != data)
            raise OracleError(f"{where(i)}: the original fails its own test: memory at {bad} differs from "
                              "expect_memory")
        else:
            case = replace(case, expect=tuple(result.results), **_effects_of(case, result))
        given.append(case)

    rng = random.Random(f"jeet-oracle-tests:{seed}")
    n_train = min(train_size, len(given))
    train = tuple(given[i] for i in sorted(rng.sample(range(len(given)), n_train)))
    target = held_out_factor * len(train)
    held = _HeldOut(target, trap_share)
    held.cases.extend(given)
    held.traps = sum(case.trap for case in given)
    seen = {case.key for case in given}

    if held_out_seed is None:
        held_out_seed = seed
    hrng = random.Random(f"jeet-oracle-held-out:{held_out_seed}")
    poisons = _poisons(lay, f"held-out:{held_out_seed}")
    augmenter = Augmenter(given, params, Arena(lay.size, lay.taken))
    with_memory = any(case.memory or case.expect_memory for case in given)
    budget = 5 * target + 500
    spent = stale = 0
    while not held.full and spent < budget and stale < 50 and params:
        batch = []
        for _ in range(_BATCH):
            if with_memory or hrng.random() < 0.5:
                case = augmenter.draw(hrng)
            else:  # functions without memory: half the cases anywhere in the input space
                args = generate_inputs(params, hrng, 1, ())
                case = Case(args[0]) if args else augmenter.draw(hrng)
            case = _staged(case, lay, poisons, hrng)
            if case.key not in seen:
                seen.add(case.key)
                batch.append(case)
        stale = stale + 1 if not batch else 0
        ok, traps, _ = _record(sandbox, compiled, function, batch, shadow)
        held.add(ok, traps)
        spent += len(batch)
    cases = _by_poison(held.finish())
    if len(cases) < target and params and spent >= budget:
        raise OracleError(f"only {len(cases)} of {target} held-out cases could be built: the original finishes "
                          f"on too few augmented inputs ({spent} tried)")
    return Oracle(params, results, train, tuple(cases), "tests", held_out_seed, lay.env)


tests_oracle.__test__ = False  # a builder, not a pytest test
