"""A loaded function: calling it runs the current champion, exactly as calling the original would.

"Exactly as calling the original" means: the same return values (None, a value, or a list,
with wasmtime-py's conversions: signed ints, Python floats), the same argument conversions and
errors, and a `wasmtime.Trap` where the original traps. Floats compare bit for bit except that
NaN payloads may differ (the oracle treats every NaN as equal, as WebAssembly does not fix them).
The guarantee is tested, not proven: a champion is served only after it passed every held-out
case in jeet's sandbox, a sampled fraction of calls (`shadow`) also runs the original and
compares, and a champion that traps is always checked against the original. A mismatch demotes
and blacklists the champion at once and the caller gets the original's answer.

State: wasmtime stores are single-threaded, so each thread calls its own instance of the
expressed variant. For a function whose results depend only on its arguments (the functions
jeet evolves) that is indistinguishable from one shared instance. State kept between calls
(globals, memory) is per thread and per variant: a swap starts the new champion on fresh
instances, and after a call traps that thread's instance is replaced (as jeet's sandbox does),
because a trap can leave state half-updated. Before evolving a function the runtime checks
that its results do not depend on earlier calls (held-out answers on one shared instance must
equal the answers on a fresh instance per case); a function that fails the check is pinned:
it is served by the original and never evolved.

Tiers: cold (counting calls) -> hot (enough calls; evolution queued) -> evolving (a round runs
in the background; a verified better champion may already be served) -> evolved (a champion
better than the original is served) or settled (nothing better was found). Also pinned (cannot
be evolved; see stats()["pinned"]) and demoted (a champion was just thrown out).
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import TYPE_CHECKING, Any

import wasmtime

from .compare import counterexample, same_results
from ..errors import ArgumentError, JeetRuntimeError
from .expressed import Expressed, ExpressionTable, expressed
from .variant import Variant

if TYPE_CHECKING:  # pragma: no cover
    from ..oracle import Case, Oracle
    from .runtime import Runtime

_WASM_ERRORS = (wasmtime.Trap, wasmtime.WasmtimeError)
_EXPECT = {"i32": int, "i64": int, "f32": float, "f64": float}
BUSY_TIERS = ("hot", "evolving")


class Function:
    """Call it like the original function; `stats()` says what is being served and why."""

    __slots__ = (
        "__weakref__",
        "_baseline_fuel",
        "_blacklist",
        "_champion_fuel",
        "_counter",
        "_error",
        "_expressed",
        "_held_out_cases",
        "_history",
        "_hot",
        "_learned",
        "_lock",
        "_mismatches",
        "_oracle",
        "_pinned",
        "_rounds",
        "_runtime",
        "_segment_start",
        "_served",
        "_shadow",
        "_shadow_checks",
        "_tests",
        "_tier",
        "_usage_base",
        "_verified",
        "function",
        "original",
        "params",
        "results",
    )

    def __init__(self, runtime: Runtime, original: Variant, tests: tuple[Case, ...] | None) -> None:
        config = runtime.config
        self._runtime = runtime
        self._lock = threading.RLock()
        self._counter = itertools.count(1)
        self.function = original.function
        self.original = original
        self.params, self.results = original.params, original.results
        self._tests = tests
        self._oracle: Oracle | None = None
        self._learned: list[Case] = []  # counterexamples from live mismatches, for every later check
        self._hot = config.hot
        self._shadow = config.shadow_every
        self._tier = "cold"
        self._history: list[tuple[str, int]] = [("cold", 0)]
        self._blacklist: set[str] = set()
        self._verified: dict[str, tuple[Variant, int]] = {}
        self._champion_fuel: int | None = None
        self._baseline_fuel: int | None = None
        self._held_out_cases = 0
        self._shadow_checks = 0
        self._mismatches = 0
        self._usage_base: dict[str, int] = {}
        self._served: dict[str, int] = {}
        self._segment_start = 0
        self._rounds = 0
        self._pinned: str | None = None
        self._error: str | None = None
        self._expressed: Expressed = self._record(original, None)

    # --- the call path ------------------------------------------------------------------

    def __call__(self, *args: Any) -> Any:
        e = self._expressed
        n = next(self._counter)
        if n % e.every:
            try:
                lane = e.local.lane
            except AttributeError:
                lane = e.variant.lane()
            try:
                return lane(*args)
            except TypeError:
                raise self._argument_error(args) from None
            except _WASM_ERRORS as exc:
                e.variant.reset()
                if e.original:
                    raise
                return self._after_failure(e.variant, args, exc)
        return self._checked(e, args, n)

    def _checked(self, e: Expressed, args: tuple, n: int) -> Any:
        """The rare path: warm-up accounting, shadow checks, expression dispatch."""
        if e.heat and self._hot and n >= self._hot:
            self._heat()
        if e.table is not None:
            return self._dispatch(e, args, n)
        if e.shadow and n % e.shadow == 0:
            return self._shadowed(e.variant, args)
        return self._serve(e.variant, args, e.original)

    def _serve(self, variant: Variant, args: tuple, original: bool) -> Any:
        try:
            lane = variant.local.lane
        except AttributeError:
            lane = variant.lane()
        try:
            return lane(*args)
        except TypeError:
            raise self._argument_error(args) from None
        except _WASM_ERRORS as exc:
            variant.reset()
            if original:
                raise
            return self._after_failure(variant, args, exc)

    def _run_original(self, args: tuple) -> tuple[Any, BaseException | None]:
        original = self.original
        try:
            lane = original.local.lane
        except AttributeError:
            lane = original.lane()
        try:
            return lane(*args), None
        except TypeError:
            raise self._argument_error(args) from None
        except _WASM_ERRORS as exc:
            original.reset()
            return None, exc

    def _shadowed(self, variant: Variant, args: tuple) -> Any:
        """Run the variant and the original; on any difference the original's answer wins."""
        try:
            lane = variant.local.lane
        except AttributeError:
            lane = variant.lane()
        got_exc: BaseException | None = None
        try:
            got = lane(*args)
        except TypeError:
            raise self._argument_error(args) from None
        except _WASM_ERRORS as exc:
            variant.reset()
            got, got_exc = None, exc
        want, want_exc = self._run_original(args)
        with self._lock:
            self._shadow_checks += 1
        if got_exc is None and want_exc is None and same_results(got, want):
            return got
        if got_exc is not None and want_exc is not None:
            raise want_exc  # both trap: the original's trap is the answer
        self._demote(variant, args, want, want_exc)
        if want_exc is not None:
            raise want_exc
        return want

    def _after_failure(self, variant: Variant, args: tuple, exc: BaseException) -> Any:
        """A champion trapped: the answer is the original's, and if that differs the champion goes."""
        want, want_exc = self._run_original(args)
        with self._lock:
            self._shadow_checks += 1
        if want_exc is not None:
            raise want_exc
        self._demote(variant, args, want, None)
        return want

    def _dispatch(self, e: Expressed, args: tuple, n: int) -> Any:
        table = e.table
        try:
            sha = table.expression.choose(args)
        except Exception:
            sha = None
            table.choose_errors += 1
        variant = table.variants.get(sha) if sha is not None else None
        if variant is None:
            variant, sha = e.variant, e.variant.sha256
        original = variant is self.original
        observe = table.observe
        t0 = time.perf_counter() if observe is not None else 0.0
        if not original and e.shadow and n % e.shadow == 0:
            result = self._shadowed(variant, args)
        else:
            result = self._serve(variant, args, original)
        if observe is not None:
            try:
                observe(args, sha, time.perf_counter() - t0)
            except Exception:
                table.observe_errors += 1
        return result

    def _argument_error(self, args: tuple) -> ArgumentError:
        sig = f"[{' '.join(self.params)}] -> [{' '.join(self.results)}]"
        if len(args) != len(self.params):
            return ArgumentError(f"{self.function} {sig} takes {len(self.params)} argument(s), got {len(args)}")
        for i, (t, a) in enumerate(zip(self.params, args)):
            if not isinstance(a, _EXPECT[t]):
                kind = "an int" if _EXPECT[t] is int else "a float"
                return ArgumentError(f"{self.function} {sig}: argument {i + 1} must be {kind} for {t}, "
                                     f"got {type(a).__name__}")
        return ArgumentError(f"{self.function} {sig}: cannot pass {args!r:.80}")

    # --- state changes (any thread; records are built under the lock and swapped whole) ---

    def _record(self, champion: Variant, table: ExpressionTable | None) -> Expressed:
        return expressed(champion, original=champion is self.original, shadow=self._shadow, hot=self._hot,
                         cold=self._tier == "cold", table=table)

    def _set_tier(self, tier: str) -> None:
        with self._lock:
            if tier != self._tier:
                self._tier = tier
                self._history.append((tier, self.calls))
                e = self._expressed
                self._expressed = self._record(e.variant, e.table)

    def _heat(self) -> None:
        with self._lock:
            if self._tier != "cold":
                return
            self._set_tier("hot")
        self._runtime._supervisor.post(lambda sup: sup.heat(self))

    def _install(self, variant: Variant, fuel: int | None) -> bool:
        """Make `variant` the champion (one assignment: no call sees half of a swap); False if it
        was blacklisted meanwhile."""
        with self._lock:
            if variant.sha256 in self._blacklist:
                return False
            self._credit()
            self._champion_fuel = fuel
            self._expressed = self._record(variant, self._expressed.table)
            return True

    def _express_table(self, table: ExpressionTable | None) -> None:
        with self._lock:
            self._expressed = self._record(self._expressed.variant, table)

    def _credit(self) -> None:
        """Count the calls since the last swap as served by the outgoing champion."""
        now = self.calls
        sha = self._expressed.variant.sha256
        self._served[sha] = self._served.get(sha, 0) + max(0, now - self._segment_start)
        self._segment_start = now

    def _demote(self, variant: Variant, args: tuple, want: Any, want_exc: BaseException | None) -> None:
        """A variant answered differently from the original: never serve it again, starting now."""
        sha = variant.sha256
        reason = "answered differently from the original on a live call"
        with self._lock:
            if sha in self._blacklist:
                return
            self._blacklist.add(sha)
            self._verified.pop(sha, None)
            self._mismatches += 1
            e = self._expressed
            table = e.table.without(sha, reason) if e.table is not None and sha in e.table.variants else e.table
            champion = e.variant
            if champion is variant:
                self._credit()
                champion = self.original
                self._champion_fuel = self._baseline_fuel
                self._tier = "demoted"
                self._history.append(("demoted", self.calls))
            self._expressed = self._record(champion, table)
        case = counterexample(self.params, self.results, args, want, isinstance(want_exc, wasmtime.Trap))
        if want_exc is not None and not isinstance(want_exc, wasmtime.Trap):
            case = None
        self._runtime._supervisor.post(lambda sup: sup.on_mismatch(self, sha, case, reason))

    def _pin(self, reason: str) -> None:
        with self._lock:
            self._pinned = reason
            self._set_tier("pinned")

    # --- public -------------------------------------------------------------------------

    @property
    def calls(self) -> int:
        """Calls so far (the counter is shared by all threads)."""
        # itertools.count has no peek; its repr is "count(N)" with N the next value
        return int(repr(self._counter)[6:-1]) - 1

    @property
    def tier(self) -> str:
        return self._tier

    @property
    def champion_sha256(self) -> str:
        return self._expressed.variant.sha256

    @property
    def signature(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return self.params, self.results

    def usage(self) -> dict[str, int]:
        """Calls served per variant (sha256), this session and the ones before."""
        with self._lock:
            out = dict(self._usage_base)
            for sha, n in self._served.items():
                out[sha] = out.get(sha, 0) + n
            sha = self._expressed.variant.sha256
            out[sha] = out.get(sha, 0) + max(0, self.calls - self._segment_start)
            return out

    def stats(self) -> dict[str, Any]:
        """What is served and why: at least calls, tier, champion_sha256, champion_fuel, baseline_fuel.

        Fuel figures are the sums over the held-out cases, measured by the runtime's sandbox
        (None until the function's oracle is built, which happens when it gets hot)."""
        with self._lock:
            e = self._expressed
            table = e.table
            base, champ = self._baseline_fuel, self._champion_fuel
            return {
                "function": self.function,
                "module_sha256": self.original.sha256,
                "calls": self.calls,
                "tier": self._tier,
                "history": [t for t, _ in self._history],
                "champion_sha256": e.variant.sha256,
                "champion_is_original": e.original,
                "champion_fuel": champ,
                "baseline_fuel": base,
                "speedup": round(base / champ, 4) if base and champ else None,
                "held_out_cases": self._held_out_cases,
                "shadow_every": self._shadow,
                "shadow_checks": self._shadow_checks,
                "mismatches": self._mismatches,
                "blacklisted": sorted(self._blacklist),
                "rounds": self._rounds,
                "pinned": self._pinned,
                "error": self._error,
                "usage": self.usage(),
                "expression": None if table is None else {
                    "variants": sorted(table.variants), "rejected": dict(table.rejected),
                    "choose_errors": table.choose_errors, "observe_errors": table.observe_errors},
            }

    def express(self, expression: Any) -> tuple[str, ...]:
        """Dispatch each call through `expression` (see `jeet.runtime.Expression`); None goes back to
        the plain path. Every variant is verified on the held-out cases and compiled once before it
        may be served; the ones that fail are left out (stats()["expression"]["rejected"]).
        Returns the shas that may be served."""
        if expression is None:
            self._express_table(None)
            return ()
        variants = getattr(expression, "variants", None)
        if not hasattr(variants, "items") or not callable(getattr(expression, "choose", None)):
            raise JeetRuntimeError("an expression needs a `variants` mapping (sha256 -> wasm) and a `choose(args)`")
        table = self._runtime._supervisor.call(lambda sup: sup.verify_expression(self, expression))
        self._express_table(table)
        return tuple(table.variants)

    def wait(self, timeout: float | None = None) -> str:
        """Block until no evolution is queued or running for this function (or `timeout`); the tier."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._tier in BUSY_TIERS and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.02)
        return self._tier

    def __repr__(self) -> str:
        return f"<jeet Function {self.function} [{self._tier}] {self._expressed.variant.sha256[:12]}>"

    # --- test hooks -----------------------------------------------------------------------

    def _force_champion(self, wasm: bytes) -> str:
        """TEST HOOK: serve `wasm` as champion WITHOUT verification (to exercise shadow checks)."""
        variant = Variant(self.original.engine, wasm, self.function, (self.params, self.results))
        self._install(variant, None)
        self._set_tier("evolved")
        return variant.sha256

    def _adopt(self, wasm: bytes, *, require_better: bool = False) -> bool:
        """TEST HOOK: offer `wasm` as champion through the verified path evolution results take."""
        return self._runtime._supervisor.call(
            lambda sup: sup.adopt(self, bytes(wasm), source="offered", require_better=require_better))
