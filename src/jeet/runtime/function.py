"""A loaded function: calling it runs the current champion, exactly as calling the original would.

"Exactly as calling the original" means: the same return values (None, a value, or a list,
with wasmtime-py's conversions: signed ints, Python floats) and a `wasmtime.Trap` where the
original traps. Arguments are read as a tests file reads them (ints in range for their width,
signed or unsigned; numbers for floats); anything else raises `ArgumentError`, never wraps.
Floats compare bit for bit except that NaN payloads may differ (the oracle treats every NaN as
equal, as WebAssembly does not fix them). The guarantee is tested, not proven: a champion is
served only after it passed every held-out case in jeet's sandbox, a sampled fraction of calls
(`shadow`) also runs the original and compares, and a champion that traps is always checked
against the original. A mismatch demotes and blacklists the champion at once and the caller
gets the original's answer.

Time: a call runs under the runtime's per-call deadline (`call_timeout_s`) when its code can
loop; past it the call raises `CallTimeout` (and `CallInterrupted`, or KeyboardInterrupt in the
main thread, when Ctrl-C stopped it). A champion that times out where the original answers is
demoted like any other mismatch.

State (the contract): wasmtime stores are single-threaded, so each thread calls its own
instance of the expressed variant, and `stats()["instances"]` says "per thread". A function is
evolved only if a static check of its code shows no observable state (no memory write outside
the shadow-stack scratch region, no global write but a stack pointer restored on exit; see
`jeet.wasm.abi.state_writes`) or the caller declared it pure (`Runtime.load(..., pure=True)`).
Testing never decides it; it can only refute it (held-out answers on one shared instance must
equal those on a fresh instance per case). A function that fails either is pinned: served by
the original and never evolved. State a pinned function keeps is per thread and per variant,
and after a call traps that thread's instance is replaced, because a trap can leave state
half-updated.

Tiers: cold (counting calls) -> hot (enough calls; evolution queued) -> evolving (a round runs
in the background; a verified better champion may already be served) -> evolved (a champion
better than the original is served) or settled (nothing better was found). Also pinned (cannot
be evolved; see stats()["pinned"]) and demoted (a champion was just thrown out).

The supervisor owns the function's record (`FunctionRecord`: tier, oracle, pins, variants,
figures); this class keeps the call path, the per-call counters and a `Channel` to it.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import wasmtime

from .compare import counterexample, same_results
from ..errors import ArgumentError, CallInterrupted, CallTimeout, JeetRuntimeError
from .expressed import Expressed, ExpressionTable, expressed
from .function_record import Channel, FunctionRecord
from .variant import Variant

_WASM_ERRORS = (wasmtime.Trap, wasmtime.WasmtimeError)
BUSY_TIERS = ("hot", "evolving")


def _interrupt(exc: BaseException) -> bool:
    return isinstance(exc, wasmtime.Trap) and exc.trap_code is wasmtime.TrapCode.INTERRUPT


class Function:
    """Call it like the original function; `stats()` says what is being served and why."""

    __slots__ = (
        "__weakref__",
        "_channel",
        "_counter",
        "_expressed",
        "_hot",
        "_lock",
        "_mismatches",
        "_segment_start",
        "_served",
        "_shadow",
        "_shadow_checks",
        "_timeouts",
        "function",
        "original",
        "params",
        "record",
        "results",
    )

    def __init__(self, original: Variant, record: FunctionRecord, channel: Channel, *, hot: int,
                 shadow_every: int) -> None:
        self.record = record
        self._channel = channel
        self._lock = record.lock
        self._counter = itertools.count(1)
        self.function = original.function
        self.original = original
        self.params, self.results = original.params, original.results
        self._hot = hot
        self._shadow = shadow_every
        self._shadow_checks = 0
        self._mismatches = 0
        self._timeouts = 0
        self._served: dict[str, int] = {}
        self._segment_start = 0
        self._expressed: Expressed = self._build(original, None)

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
            except TypeError as exc:
                raise self._argument_error(args, exc) from None
            except _WASM_ERRORS as exc:
                e.variant.reset()
                if e.original:
                    raise self._timed_out(args) if _interrupt(exc) else exc
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
        except TypeError as exc:
            raise self._argument_error(args, exc) from None
        except _WASM_ERRORS as exc:
            variant.reset()
            if original:
                raise self._timed_out(args) if _interrupt(exc) else exc
            return self._after_failure(variant, args, exc)

    def _run_original(self, args: tuple) -> tuple[Any, BaseException | None]:
        """The original's answer (value, None) or its trap (None, trap); a timeout is raised."""
        original = self.original
        try:
            lane = original.local.lane
        except AttributeError:
            lane = original.lane()
        try:
            return lane(*args), None
        except TypeError as exc:
            raise self._argument_error(args, exc) from None
        except _WASM_ERRORS as exc:
            original.reset()
            if _interrupt(exc):
                raise self._timed_out(args) from None
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
        except TypeError as exc:
            raise self._argument_error(args, exc) from None
        except _WASM_ERRORS as exc:
            variant.reset()
            got, got_exc = None, exc
        want, want_exc = self._run_original(args)
        with self._lock:
            self._shadow_checks += 1
        if got_exc is None and want_exc is None and same_results(got, want):
            return got
        if got_exc is not None and want_exc is not None and not _interrupt(got_exc):
            raise want_exc  # both trap: the original's trap is the answer
        self._demote(variant, args, want, want_exc)
        if want_exc is not None:
            raise want_exc
        return want

    def _after_failure(self, variant: Variant, args: tuple, exc: BaseException) -> Any:
        """A champion trapped (or ran out of time): the answer is the original's; if that differs the
        champion goes."""
        want, want_exc = self._run_original(args)
        with self._lock:
            self._shadow_checks += 1
        if want_exc is not None and not _interrupt(exc):
            raise want_exc
        self._demote(variant, args, want, want_exc)
        if want_exc is not None:
            raise want_exc
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

    def _argument_error(self, args: tuple, exc: TypeError) -> ArgumentError:
        if isinstance(exc, ArgumentError):  # the lane's own reading of the arguments
            return exc
        sig = f"[{' '.join(self.params)}] -> [{' '.join(self.results)}]"
        if len(args) != len(self.params):
            return ArgumentError(f"{self.function} {sig} takes {len(self.params)} argument(s), got {len(args)}")
        return ArgumentError(f"{self.function} {sig}: cannot pass {args!r:.80}")

    def _timed_out(self, args: tuple) -> JeetRuntimeError:
        """The exception for a call stopped by the epoch clock: Ctrl-C or the per-call deadline."""
        serving = self.original.serving
        with self._lock:
            self._timeouts += 1
        call = f"{self.function}{args!r:.60}" if len(args) != 1 else f"{self.function}({args[0]!r:.60})"
        if serving.clock.interrupted_recently(serving.call_timeout_s):
            return CallInterrupted(f"{call} was interrupted (SIGINT)")
        return CallTimeout(f"{call} did not finish within the {serving.call_timeout_s:g} s call deadline")

    # --- state changes (any thread; records are built under the lock and swapped whole) ---

    def _build(self, champion: Variant, table: ExpressionTable | None) -> Expressed:
        return expressed(champion, original=champion is self.original, shadow=self._shadow, hot=self._hot,
                         cold=self.record.tier == "cold", table=table)

    def refresh(self) -> None:
        """Rebuild what is served after the record's tier changed (warm-up counting follows the tier)."""
        with self._lock:
            e = self._expressed
            self._expressed = self._build(e.variant, e.table)

    def _heat(self) -> None:
        if self._channel.heat(self):
            self.refresh()

    def install(self, variant: Variant) -> bool:
        """Make `variant` the champion (one assignment: no call sees half of a swap); False if it was
        blacklisted meanwhile or is not a variant the supervisor verified (the original, or one in
        `record.verified`): nothing unverified is ever served."""
        with self._lock:
            known = self.record.verified.get(variant.sha256)
            if variant is not self.original and (known is None or known[0] is not variant):
                return False
            if variant.sha256 in self.record.blacklist:
                return False
            self._credit()
            self._expressed = self._build(variant, self._expressed.table)
            return True

    def express_table(self, table: ExpressionTable | None) -> None:
        with self._lock:
            self._expressed = self._build(self._expressed.variant, table)

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
            if sha in self.record.blacklist:
                return
            self.record.blacklist.add(sha)
            self._mismatches += 1
            e = self._expressed
            table = e.table.without(sha, reason) if e.table is not None and sha in e.table.variants else e.table
            champion = e.variant is variant
            if champion:
                self._credit()
            self._expressed = self._build(self.original if champion else e.variant, table)
        case = counterexample(self.params, self.results, args, want, isinstance(want_exc, wasmtime.Trap))
        if want_exc is not None and not isinstance(want_exc, wasmtime.Trap):
            case = None
        self._channel.demoted(self, sha, case, reason, champion)
        if champion:
            self.refresh()

    # --- public -------------------------------------------------------------------------

    @property
    def calls(self) -> int:
        """Calls so far (the counter is shared by all threads)."""
        # itertools.count has no peek; its repr is "count(N)" with N the next value
        return int(repr(self._counter)[6:-1]) - 1

    @property
    def tier(self) -> str:
        return self.record.tier

    @property
    def champion(self) -> Variant:
        """The variant served now (the original until a verified better one replaces it)."""
        return self._expressed.variant

    @property
    def champion_sha256(self) -> str:
        return self._expressed.variant.sha256

    @property
    def signature(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return self.params, self.results

    def usage(self) -> dict[str, int]:
        """Calls served per variant (sha256), this session and the ones before."""
        with self._lock:
            out = dict(self.record.usage_base)
            for sha, n in self._served.items():
                out[sha] = out.get(sha, 0) + n
            sha = self._expressed.variant.sha256
            out[sha] = out.get(sha, 0) + max(0, self.calls - self._segment_start)
            return out

    def stats(self) -> dict[str, Any]:
        """What is served and why: at least calls, tier, champion_sha256, champion_fuel, baseline_fuel.

        Fuel figures are the sums over the held-out cases, measured by the runtime's sandbox
        (None until the function's oracle is built, which happens when it gets hot). `instances`
        is "per thread": each calling thread has its own instance (see the module docstring)."""
        r = self.record
        with self._lock:
            e = self._expressed
            table = e.table
            base, champ = r.baseline_fuel, r.champion_fuel
            return {
                "function": self.function,
                "module_sha256": self.original.sha256,
                "calls": self.calls,
                "tier": r.tier,
                "history": [t for t, _ in r.history],
                "champion_sha256": e.variant.sha256,
                "champion_is_original": e.original,
                "champion_fuel": champ,
                "baseline_fuel": base,
                "speedup": round(base / champ, 4) if base and champ else None,
                "held_out_cases": r.held_out_cases,
                "shadow_every": self._shadow,
                "shadow_checks": self._shadow_checks,
                "mismatches": self._mismatches,
                "timeouts": self._timeouts,
                "call_timeout_s": self.original.serving.call_timeout_s,
                "blacklisted": sorted(r.blacklist),
                "rounds": r.rounds,
                "pinned": r.pinned,
                "state": r.state_text,
                "instances": "per thread",
                "error": r.error,
                "oracle_s": round(r.oracle_s, 4),
                "verify_s": round(r.verify_s, 4),
                "native_time": r.native,
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
            self.express_table(None)
            return ()
        variants = getattr(expression, "variants", None)
        if not hasattr(variants, "items") or not callable(getattr(expression, "choose", None)):
            raise JeetRuntimeError("an expression needs a `variants` mapping (sha256 -> wasm) and a `choose(args)`")
        table = self._channel.verify_expression(self, expression)
        self.express_table(table)
        return tuple(table.variants)

    def offer(self, wasm: bytes, *, require_better: bool = True) -> bool:
        """Offer a variant (say, one you optimised by hand): it is served only if it passes every
        held-out case in the runtime's sandbox (and, with `require_better`, runs on less fuel than
        the champion). True when it became the champion."""
        return self._channel.offer(self, bytes(wasm), require_better)

    def wait(self, timeout: float | None = None) -> str:
        """Block until no evolution is queued or running for this function (or `timeout`); the tier."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.record.tier in BUSY_TIERS and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.02)
        return self.record.tier

    def __repr__(self) -> str:
        return f"<jeet Function {self.function} [{self.record.tier}] {self._expressed.variant.sha256[:12]}>"
