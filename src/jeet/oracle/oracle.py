"""What "correct" means for one function: training cases, a larger held-out set, and the check.

An `Oracle` is built by running the ORIGINAL module in a sandbox: either the original is
the reference on generated inputs (`differential_oracle`), or it must pass the user's
tests first (`tests_oracle`). A candidate is correct when it passes every case: a trap
case only by trapping, any other case only by returning the expected values (integers
compared modulo 2**width, floats bit for bit with any NaN matching any NaN) and the
expected memory contents.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Sequence

from ..sandbox import CompiledModule, ExecutionResult, Outcome, Sandbox
from .cases import Case
from .differential import generate_inputs
from ..errors import OracleError
from .values import VALTYPES, canonical, format_value, results_equal

DEFAULT_TRAP_SHARE = 0.25
_BATCH = 256


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
    champion. `source` is "tests" or "differential".
    """

    params: tuple[str, ...]
    results: tuple[str, ...]
    train: tuple[Case, ...]
    held_out: tuple[Case, ...]
    source: str

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


def _record(sandbox: Sandbox, compiled: CompiledModule, function: str, cases: Sequence[Case]
            ) -> tuple[list[Case], list[Case], Counter]:
    """Run the original on `cases`; return (finished cases with expectations, trap cases, outcome counts)."""
    ok, traps = [], []
    counts: Counter = Counter()
    for case, result in zip(cases, sandbox.run(compiled, function, cases)):
        counts[result.outcome] += 1
        if result.outcome is Outcome.OK:
            expect_memory = tuple((off, data) for off, data in result.memory) if case.expect_memory else ()
            ok.append(Case(case.args, tuple(result.results), case.memory, False, expect_memory))
        elif result.outcome is Outcome.TRAP:
            traps.append(Case(case.args, None, case.memory, True))
    return ok, traps, counts


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
                        trap_share: float = DEFAULT_TRAP_SHARE) -> Oracle:
    """The original module is the reference: generated inputs, its outputs recorded.

    Inputs on which the original returns become cases; inputs on which it traps become
    trap cases, at most `trap_share` of each set; inputs that exhaust fuel, memory or time
    are dropped. The held-out set has at least `held_out_factor` * len(train) cases, drawn
    from a seed derived from `seed` and disjoint from the training inputs; for a function
    without parameters the single possible input is both sets.
    """
    compiled, params, results = _prepare(sandbox, wasm, function)
    if train_size < 1:
        raise OracleError("train_size must be at least 1")
    rng = random.Random(f"jeet-oracle-train:{seed}")
    pool = [Case(args) for args in generate_inputs(params, rng, max(4 * train_size, 64))]
    ok, traps, counts = _record(sandbox, compiled, function, pool)
    if not ok:
        raise OracleError(f"the original finishes on no input within the cycle budget of "
                          f"{sandbox.limits.fuel} ({len(pool)} inputs tried: {_counts_text(counts)})")
    if not params:
        return Oracle(params, results, (ok[0],), (ok[0],), "differential")
    n_traps = min(len(traps), int(train_size * trap_share))
    n_ok = min(len(ok), train_size - n_traps)
    train = [ok[i] for i in sorted(rng.sample(range(len(ok)), n_ok))]
    train += [traps[i] for i in sorted(rng.sample(range(len(traps)), n_traps))]

    target = held_out_factor * len(train)
    hrng = random.Random(f"jeet-oracle-held-out:{seed}")
    held = _HeldOut(target, trap_share)
    seen = {case.args for case in train}
    tried: Counter = Counter()
    budget = 5 * target + 500
    spent = 0
    while not held.full and spent < budget:
        inputs = generate_inputs(params, hrng, min(max(_BATCH, target - len(held.cases)), budget - spent), seen)
        if not inputs:
            break
        seen.update(inputs)
        for start in range(0, len(inputs), _BATCH):
            chunk = [Case(args) for args in inputs[start:start + _BATCH]]
            ok_c, trap_c, counts = _record(sandbox, compiled, function, chunk)
            held.add(ok_c, trap_c)
            tried.update(counts)
            spent += len(chunk)
            if held.full:
                break
    cases = held.finish()[:target]
    if len(cases) < target and spent >= budget:
        raise OracleError(f"only {len(cases)} of {target} held-out cases could be built: the original finishes "
                          f"on too few inputs ({spent} tried: {_counts_text(tried)})")
    return Oracle(params, results, tuple(train), tuple(cases), "differential")


def _mutate_block(data: bytes, rng: random.Random) -> bytes:
    """New contents of the same length: random, lightly edited, resampled from its bytes, or shuffled."""
    n = len(data)
    if n == 0:
        return data
    how = rng.randrange(4)
    if how == 0:
        return rng.randbytes(n)
    if how == 1:
        out = bytearray(data)
        for _ in range(rng.randint(1, max(1, n // 8))):
            out[rng.randrange(n)] = rng.randrange(256)
        return bytes(out)
    if how == 2:
        return bytes(rng.choice(data) for _ in range(n))
    unit = 4 if n % 4 == 0 else 1
    chunks = [data[i:i + unit] for i in range(0, n, unit)]
    rng.shuffle(chunks)
    return b"".join(chunks)


def tests_oracle(sandbox: Sandbox, wasm: bytes | CompiledModule, function: str, tests: Sequence[Case], *,
                 seed: int, train_size: int = 16, held_out_factor: int = 100,
                 trap_share: float = DEFAULT_TRAP_SHARE) -> Oracle:
    """The user's tests define correctness; the original must pass them all first.

    Cases without "expect" take the original's results. Training is a seeded sample of
    `train_size` given cases. The held-out set is every given case plus augmented cases
    until it has at least `held_out_factor` * len(train): when cases carry memory, new
    cases keep a case's args and block layout with new contents; otherwise differential
    inputs. Augmented cases use the ORIGINAL as the reference (its outputs are recorded),
    so they check equivalence with the original beyond what the tests state.
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

    normal = []
    for i, case in enumerate(tests):
        try:
            args = tuple(canonical(t, v) for t, v in zip(params, case.args))
            expect = None if case.expect is None else tuple(canonical(t, v) for t, v in zip(results, case.expect))
        except OracleError as exc:
            raise OracleError(f"{where(i)}: {exc}") from None
        normal.append(replace(case, args=args, expect=expect))
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
        elif case.expect is None:
            case = replace(case, expect=tuple(result.results))
        given.append(case)

    rng = random.Random(f"jeet-oracle-tests:{seed}")
    n_train = min(train_size, len(given))
    train = tuple(given[i] for i in sorted(rng.sample(range(len(given)), n_train)))
    target = held_out_factor * len(train)
    held = _HeldOut(target, trap_share)
    held.cases.extend(given)
    held.traps = sum(case.trap for case in given)
    seen = {case.key for case in given}

    with_memory = [case for case in given if any(len(data) for _, data in case.memory)]
    budget = 5 * target + 500
    spent = 0
    if with_memory:
        stale = 0
        while not held.full and spent < budget and stale < 50:
            batch = []
            for _ in range(_BATCH):
                base = rng.choice(with_memory)
                memory = tuple((off, _mutate_block(data, rng)) for off, data in base.memory)
                case = Case(base.args, None, memory, False, base.expect_memory)
                if case.key not in seen:
                    seen.add(case.key)
                    batch.append(case)
            stale = stale + 1 if not batch else 0
            ok, traps, _ = _record(sandbox, compiled, function, batch)
            held.add(ok, traps)
            spent += len(batch)
    elif params:
        given_args = {case.args for case in given}
        while not held.full and spent < budget:
            inputs = generate_inputs(params, rng, min(_BATCH, budget - spent), given_args | {k[0] for k in seen})
            if not inputs:
                break
            seen.update((args, ()) for args in inputs)
            ok, traps, _ = _record(sandbox, compiled, function, [Case(args) for args in inputs])
            held.add(ok, traps)
            spent += len(inputs)
    cases = held.finish()
    if len(cases) < target and (with_memory or params) and spent >= budget:
        raise OracleError(f"only {len(cases)} of {target} held-out cases could be built: the original finishes "
                          f"on too few augmented inputs ({spent} tried)")
    return Oracle(params, results, train, tuple(cases), "tests")


tests_oracle.__test__ = False  # a builder, not a pytest test
