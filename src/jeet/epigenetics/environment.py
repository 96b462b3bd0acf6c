"""The environment a call runs in, and how it is observed cheaply from the call's arguments.

An `Environment` is a small vector of observed conditions: the size bucket of the input (a buffer's
length argument, or the magnitude of the integer arguments), the host's memory pressure, and the
node's own tags ("arch=x86_64", "region=eu"). A component may be `ANY` (not observed / does not
matter), so an environment also names a set of environments: `generalisations()` lists the ones a
figure measured for a coarser environment still applies to.
"""

from __future__ import annotations

import bisect
import re
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol, Sequence

from ..errors import EpigeneticsError

ANY = "*"
MEMORY_LEVELS = ("normal", "high")
RESERVED_KEYS = ("size", "mem")
_KEY = re.compile(r"[a-z][a-z0-9_.-]{0,31}")
_VALUE = re.compile(r"[A-Za-z0-9_.:/+-]{1,64}")


def check_label(key: str, value: str) -> None:
    """Raise EpigeneticsError unless `key`/`value` are a well-formed environment component."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise EpigeneticsError(f"bad environment key {key!r}: lower-case letters, digits, '_', '.', '-', "
                               "starting with a letter, at most 32 characters")
    if not isinstance(value, str) or not (value == ANY or _VALUE.fullmatch(value)):
        raise EpigeneticsError(f"bad value {value!r} for environment key {key!r}: letters, digits and _.:/+- "
                               "(1 to 64 characters)")


def parse_node_tag(tag: str) -> tuple[str, str]:
    """"key=value" as (key, value); node tags may not use the reserved keys size and mem."""
    key, sep, value = tag.partition("=") if isinstance(tag, str) else ("", "", "")
    if not sep:
        raise EpigeneticsError(f"bad node tag {tag!r}: expected key=value")
    check_label(key, value)
    if key in RESERVED_KEYS:
        raise EpigeneticsError(f"node tag {tag!r} uses the reserved key {key!r}")
    return key, value


@dataclass(frozen=True, slots=True)
class Environment:
    """Observed conditions of a call: size bucket, memory-pressure level, node tags ("key=value", sorted)."""

    size: str = ANY
    memory: str = ANY
    node: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_label("size", self.size)
        check_label("mem", self.memory)
        keys = [parse_node_tag(t)[0] for t in self.node]
        if len(set(keys)) != len(keys):
            raise EpigeneticsError(f"node tags repeat a key: {', '.join(self.node)}")
        if tuple(sorted(self.node)) != self.node:
            object.__setattr__(self, "node", tuple(sorted(self.node)))

    @property
    def key(self) -> str:
        """A stable text form, e.g. "size=small,mem=high,arch=x86_64" ("*" for the any-environment)."""
        parts = ([f"size={self.size}"] if self.size != ANY else []) + \
                ([f"mem={self.memory}"] if self.memory != ANY else []) + list(self.node)
        return ",".join(parts) or ANY

    @classmethod
    def from_key(cls, key: str) -> "Environment":
        """The inverse of `key`."""
        if key == ANY:
            return cls()
        size, memory, node = ANY, ANY, []
        for part in key.split(","):
            k, sep, v = part.partition("=")
            if not sep:
                raise EpigeneticsError(f"bad environment key {key!r}")
            if k == "size":
                size = v
            elif k == "mem":
                memory = v
            else:
                node.append(part)
        return cls(size, memory, tuple(node))

    def generalisations(self) -> Iterator["Environment"]:
        """This environment, then coarser ones it belongs to, most specific first, ending with the any-environment."""
        seen = set()
        for env in (self, Environment(self.size, self.memory), Environment(self.size), Environment()):
            if env not in seen:
                seen.add(env)
                yield env

    def covers(self, other: "Environment") -> bool:
        """True when every component this environment fixes has the same value in `other`."""
        return ((self.size == ANY or self.size == other.size)
                and (self.memory == ANY or self.memory == other.memory)
                and set(self.node) <= set(other.node))

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True, slots=True)
class SizeBuckets:
    """Named buckets over a size: bucket i holds sizes in [bounds[i-1], bounds[i]) (0 and infinity at the ends)."""

    bounds: tuple[int, ...]
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        bounds = tuple(self.bounds)
        if not bounds or any(not isinstance(b, int) or isinstance(b, bool) for b in bounds):
            raise EpigeneticsError("size buckets need at least one integer bound")
        if bounds[0] < 1 or any(b <= a for a, b in zip(bounds, bounds[1:])):
            raise EpigeneticsError(f"size bounds must be positive and increasing, got {list(bounds)}")
        names = tuple(self.names) or default_bucket_names(len(bounds) + 1)
        if len(names) != len(bounds) + 1 or len(set(names)) != len(names):
            raise EpigeneticsError(f"{len(bounds)} bounds need {len(bounds) + 1} distinct bucket names")
        for n in names:
            check_label("size", n)
            if n == ANY:
                raise EpigeneticsError("a size bucket cannot be called '*'")
        object.__setattr__(self, "bounds", bounds)
        object.__setattr__(self, "names", names)

    def index(self, size: int) -> int:
        return bisect.bisect_right(self.bounds, size)

    def bucket(self, size: int) -> str:
        return self.names[bisect.bisect_right(self.bounds, size)]

    def range(self, name: str, top: int) -> tuple[int, int]:
        """Sizes [lo, hi) of bucket `name`, the last bucket ending at `top` (inclusive, so hi = top + 1)."""
        try:
            i = self.names.index(name)
        except ValueError:
            raise EpigeneticsError(f"no size bucket {name!r} (buckets: {', '.join(self.names)})") from None
        lo = self.bounds[i - 1] if i else 0
        hi = self.bounds[i] if i < len(self.bounds) else top + 1
        if hi <= lo:
            raise EpigeneticsError(f"bucket {name!r} starts at {lo}, above the largest size {top}")
        return lo, hi


def default_bucket_names(count: int) -> tuple[str, ...]:
    if count == 2:
        return ("small", "large")
    if count == 3:
        return ("small", "medium", "large")
    return tuple(f"s{i}" for i in range(count))


class SizeProbe(Protocol):
    """Reads the size quantity of a call from its arguments; must be cheap (it runs on every call)."""

    kind: str

    def size(self, args: Sequence[int]) -> int: ...


@dataclass(frozen=True, slots=True)
class LengthArg:
    """The size is a buffer length argument (a negative length, or one >= 2**31 as an i32, counts as 0)."""

    index: int
    kind: str = "length"

    def size(self, args: Sequence[int]) -> int:
        n = args[self.index]
        return n if 0 <= n < 0x80000000 else 0


@dataclass(frozen=True, slots=True)
class ArgMagnitude:
    """The size is the largest bit length of |x| over the integer arguments at `indices` (read as signed)."""

    indices: tuple[int, ...]
    widths: tuple[int, ...]
    kind: str = "bits"

    def size(self, args: Sequence[int]) -> int:
        best = 0
        for i, w in zip(self.indices, self.widths):
            v = args[i]
            if v >= 1 << (w - 1):
                v -= 1 << w
            b = abs(v).bit_length()
            if b > best:
                best = b
        return best


def probe_to_dict(probe: SizeProbe) -> dict:
    if isinstance(probe, LengthArg):
        return {"kind": "length", "index": probe.index}
    if isinstance(probe, ArgMagnitude):
        return {"kind": "bits", "indices": list(probe.indices), "widths": list(probe.widths)}
    raise EpigeneticsError(f"cannot describe size probe {probe!r}")


def probe_from_dict(data: dict) -> SizeProbe:
    try:
        if data["kind"] == "length":
            return LengthArg(int(data["index"]))
        if data["kind"] == "bits":
            return ArgMagnitude(tuple(int(i) for i in data["indices"]), tuple(int(w) for w in data["widths"]))
    except (KeyError, TypeError, ValueError):
        pass
    raise EpigeneticsError(f"bad size probe description {data!r}")


def system_memory_percent() -> float:
    """Share of the machine's memory in use, in percent (psutil)."""
    import psutil

    return float(psutil.virtual_memory().percent)


class MemoryGauge:
    """Memory pressure as a level ("normal" / "high" at `high_percent` and above), re-read at most every `refresh_s`."""

    def __init__(self, high_percent: float = 85.0, refresh_s: float = 1.0,
                 reader: Callable[[], float] = system_memory_percent,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 < high_percent <= 100:
            raise EpigeneticsError("high_percent must be in (0, 100]")
        self.high_percent = high_percent
        self.refresh_s = refresh_s
        self._reader = reader
        self._clock = clock
        self._next = float("-inf")
        self._level = MEMORY_LEVELS[0]

    def level(self) -> str:
        now = self._clock()
        if now >= self._next:
            self._next = now + self.refresh_s
            self._level = MEMORY_LEVELS[1] if self._reader() >= self.high_percent else MEMORY_LEVELS[0]
        return self._level


class Observer:
    """Turns a call's arguments into its Environment: size bucket from `probe`, memory level, node tags.

    `size_index` and `memory_level` are the hot path (a bisect and a cached level); `environment`
    builds the full value.
    """

    def __init__(self, probe: SizeProbe, buckets: SizeBuckets, *, memory: MemoryGauge | None = None,
                 node_tags: Sequence[str] = ()) -> None:
        self.probe = probe
        self.buckets = buckets
        self.memory = memory
        self.node = Environment(node=tuple(node_tags)).node
        self._envs: dict[tuple[int, str], Environment] = {}

    def size_index(self, args: Sequence[int]) -> int:
        return bisect.bisect_right(self.buckets.bounds, self.probe.size(args))

    def memory_level(self) -> str:
        return self.memory.level() if self.memory is not None else ANY

    def environment(self, args: Sequence[int]) -> Environment:
        key = (self.size_index(args), self.memory_level())
        env = self._envs.get(key)
        if env is None:  # a handful of distinct values: build each once
            env = self._envs[key] = Environment(self.buckets.names[key[0]], key[1], self.node)
        return env

    def memory_levels(self) -> tuple[str, ...]:
        return MEMORY_LEVELS if self.memory is not None else (ANY,)

    def to_dict(self) -> dict:
        return {"probe": probe_to_dict(self.probe), "bounds": list(self.buckets.bounds),
                "names": list(self.buckets.names), "node": list(self.node),
                "memory": None if self.memory is None else {"high_percent": self.memory.high_percent,
                                                            "refresh_s": self.memory.refresh_s}}

    @classmethod
    def from_dict(cls, data: dict, *, reader: Callable[[], float] | None = None) -> "Observer":
        try:
            buckets = SizeBuckets(tuple(int(b) for b in data["bounds"]), tuple(data["names"]))
            mem = data.get("memory")
            gauge = None if mem is None else MemoryGauge(float(mem["high_percent"]), float(mem["refresh_s"]),
                                                         **({"reader": reader} if reader else {}))
            return cls(probe_from_dict(data["probe"]), buckets, memory=gauge, node_tags=tuple(data.get("node", ())))
        except (KeyError, TypeError, ValueError) as exc:
            raise EpigeneticsError(f"bad observer description: {exc}") from None
