"""Each environment's workload: cases of the function whose size lies in the environment's range.

Cases are made from templates (the function's own test cases): a buffer function gets fresh buffers
of the drawn length at a template's pointer, a scalar function fresh integer arguments of the drawn
magnitude; the answers come from running the reference module in the sandbox (differential testing).
Sizes are drawn uniformly from the environment's range [lo, hi).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, replace
from typing import Sequence

from ..oracle import Case
from ..sandbox import CompiledModule, ExecutionResult, Outcome, Sandbox
from .environment import ArgMagnitude, Environment, LengthArg, SizeBuckets, SizeProbe
from ..errors import EpigeneticsError

TRAP_SHARE = 0.25
_WIDTHS = {"i32": 32, "i64": 64}


@dataclass(frozen=True, slots=True)
class EnvSpec:
    """One environment to build for: size bucket `name`, its workload drawing sizes from [lo, hi)."""

    name: str
    lo: int
    hi: int

    @property
    def environment(self) -> Environment:
        return Environment(size=self.name)

    def describe(self, unit: str) -> str:
        return f"{self.name} ({unit} {self.lo}..{self.hi - 1})"


def env_specs(buckets: SizeBuckets, top: int) -> list[EnvSpec]:
    """One spec per bucket; the last bucket's workload ends at `top`."""
    return [EnvSpec(name, *buckets.range(name, top)) for name in buckets.names]


def buffer_layout(templates: Sequence[Case]) -> tuple[int, int] | None:
    """(pointer index, length index) when the templates pass one memory block as (pointer, length) arguments:
    the pointer always, the length in most cases (held-out cases also pass lengths beyond their block)."""
    shaped = [c for c in templates if len(c.memory) == 1]
    if not shaped:
        return None
    arity = len(shaped[0].args)
    for li in range(arity):
        for pi in range(arity):
            if pi != li and all(c.args[pi] == c.memory[0][0] for c in shaped) and \
                    sum(c.args[li] == len(c.memory[0][1]) for c in shaped) >= 0.6 * len(shaped):
                return pi, li
    return None


def choose_probe(params: Sequence[str], templates: Sequence[Case], size_arg: int | None = None) -> SizeProbe:
    """The size quantity of a function: its buffer length argument when the cases show one (or `size_arg`
    is given), else the magnitude of its integer arguments."""
    if size_arg is not None:
        if not 0 <= size_arg < len(params) or params[size_arg] not in _WIDTHS:
            raise EpigeneticsError(f"--size-arg {size_arg}: not an integer parameter of ({', '.join(params)})")
        return LengthArg(size_arg)
    layout = buffer_layout(templates)
    if layout is not None:
        return LengthArg(layout[1])
    ints = tuple(i for i, t in enumerate(params) if t in _WIDTHS)
    if not ints:
        raise EpigeneticsError(f"cannot tell input sizes of a function of ({', '.join(params) or 'no parameters'}): "
                               "it has no integer parameter")
    return ArgMagnitude(ints, tuple(_WIDTHS[params[i]] for i in ints))


def random_buffer(rng: random.Random, length: int) -> bytes:
    style = rng.random()
    if style < 0.7:
        return rng.randbytes(length)
    if style < 0.85:
        return bytes(rng.choices(b"\x00\x01\x7f\x80\xfe\xff", k=length))
    return bytes(rng.choices(rng.sample(range(256), rng.randint(1, 4)), k=length))


def _signed_magnitude(rng: random.Random, bits: int, width: int) -> int:
    """A canonical `width`-bit value whose |signed value| has exactly `bits` bits."""
    if bits == 0:
        return 0
    if bits >= width:  # only the most negative value has `width` bits
        return 1 << (width - 1)
    m = rng.getrandbits(bits) | (1 << (bits - 1))
    return (-m if rng.random() < 0.5 else m) & ((1 << width) - 1)


class CaseMaker:
    """Makes cases of `function` in a size range, with the reference module's answers."""

    def __init__(self, sandbox: Sandbox, reference: bytes | CompiledModule, function: str, params: Sequence[str],
                 probe: SizeProbe, templates: Sequence[Case]) -> None:
        if not templates:
            raise EpigeneticsError(f"{function}: no cases to model the workloads on")
        self.sandbox = sandbox
        self.function = function
        self.params = tuple(params)
        self.probe = probe
        self.templates = [c for c in templates if not c.trap] or list(templates)
        compiled = sandbox.compile(reference)
        if isinstance(compiled, ExecutionResult):
            raise EpigeneticsError(f"the reference module cannot be compiled: {compiled.message}")
        self.reference = compiled
        self.layout = buffer_layout(self.templates) if isinstance(probe, LengthArg) else None
        if self.layout is not None and self.layout[1] != probe.index:
            self.layout = None
        self._buffered = [c for c in self.templates if len(c.memory) == 1]

    def _draft(self, lo: int, hi: int, rng: random.Random) -> Case:
        size = rng.randrange(lo, hi)
        if self.layout is not None:  # a fresh buffer of `size` bytes where a template had its buffer
            base = rng.choice(self._buffered)
            args = list(base.args)
            args[self.layout[1]] = size
            return Case(tuple(args), memory=((base.memory[0][0], random_buffer(rng, size)),),
                        expect_memory=base.expect_memory)
        base = rng.choice(self.templates)
        args = list(base.args)
        if isinstance(self.probe, LengthArg):
            args[self.probe.index] = size
        else:
            probe: ArgMagnitude = self.probe  # type: ignore[assignment]
            lead = rng.randrange(len(probe.indices))
            for k, (i, w) in enumerate(zip(probe.indices, probe.widths)):
                bits = min(size, w) if k == lead else rng.randint(0, min(size, w))
                args[i] = _signed_magnitude(rng, bits, w)
        return Case(tuple(args), memory=base.memory, expect_memory=base.expect_memory)

    def make(self, lo: int, hi: int, n: int, rng: random.Random, exclude: set | None = None,
             fill: set | None = None) -> list[Case]:
        """Up to `n` distinct cases whose size is in [lo, hi), none with its key in `exclude`, traps at most a
        quarter of them; fewer only when the range holds fewer distinct inputs. When the range runs out and
        `fill` is given, it tops up with inputs outside `fill` that `exclude` kept out (in a small range,
        repeating other case sets beats having no cases)."""
        out = self._make(lo, hi, n, rng, set() if exclude is None else set(exclude))
        if fill is not None and len(out) < n:
            keys = {c.key for c in out} | set(fill)
            out += self._make(lo, hi, n - len(out), rng, keys, allow_none=True)
        if not out:
            raise EpigeneticsError(f"{self.function}: no input of size {lo}..{hi - 1} is left for new cases")
        return out

    def _make(self, lo: int, hi: int, n: int, rng: random.Random, seen: set, allow_none: bool = False) -> list[Case]:
        out: list[Case] = []
        traps = ok = stale = 0
        tried: Counter = Counter()
        for _ in range(5 * n + 50):
            if len(out) >= n or stale >= 20:
                break
            batch = []
            for _ in range(min(64, n - len(out))):
                case = self._draft(lo, hi, rng)
                if case.key not in seen and lo <= self.probe.size(case.args) < hi:
                    seen.add(case.key)
                    batch.append(case)
            stale = 0 if batch else stale + 1
            for case, result in zip(batch, self.sandbox.run(self.reference, self.function, batch)):
                tried[result.outcome] += 1
                if result.outcome is Outcome.OK and len(out) < n:
                    mem = tuple(result.memory) if case.expect_memory else ()
                    out.append(replace(case, expect=tuple(result.results), expect_memory=mem))
                    ok += 1
                elif result.outcome is Outcome.TRAP and traps < int(n * TRAP_SHARE) and len(out) < n:
                    out.append(Case(case.args, None, case.memory, True))
                    traps += 1
        exhausted = stale >= 20
        if (not out and not (allow_none or exhausted)) or \
                (len(out) < n and not (exhausted and ok >= sum(tried.values()) / 2)):
            what = ", ".join(f"{k} {o.value}" for o, k in tried.items()) or "none"
            raise EpigeneticsError(f"{self.function}: the reference finishes on too few inputs of size "
                                   f"{lo}..{hi - 1} ({len(out)} of {n} cases; outcomes: {what})")
        return out
