"""The expression object a runtime asks, on every call, which variant of a function to run.

It satisfies the runtime's hook (`Function.express(expression)`): `variants` maps sha256 -> wasm,
`choose(args)` names the variant for these arguments (None: the loaded champion), and
`observe(args, sha, seconds)` feeds back what a call cost. Winners are precomputed per (size bucket,
memory level) from the fitness table, so `choose` is a bisect, a cached memory level and a dict
lookup. With metric "seconds" the observations can move a winner (re-ranked every `refresh_every`
observations); `explore` > 0 sends that share of calls to the runner-up contenders so they get
observed at all.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from types import MappingProxyType
from typing import Iterable, Mapping, Sequence

from .environment import Environment, Observer
from ..address import content_address
from ..errors import EpigeneticsError
from .table import METRICS, FitnessTable

FORMAT = "jeet-expression/1"
CONTENDERS = 3


class Expression:
    """Environment-triggered expression of `function`'s variants."""

    def __init__(self, function: str, variants: Mapping[str, bytes], table: FitnessTable, observer: Observer, *,
                 champion: str | None = None, metric: str = "fuel", min_calls: int = 8, explore: float = 0.0,
                 rng: random.Random | None = None, refresh_every: int = 256,
                 labels: Mapping[str, str] | None = None) -> None:
        if metric not in METRICS:
            raise EpigeneticsError(f"unknown metric {metric!r}: use {' or '.join(METRICS)}")
        if not 0 <= explore < 1:
            raise EpigeneticsError("explore must be in [0, 1)")
        if explore and rng is None:
            raise EpigeneticsError("exploring needs a random.Random")
        for sha, wasm in variants.items():
            if content_address(wasm) != sha:
                raise EpigeneticsError(f"variant {sha[:12]} does not hash to its name")
        self.function = function
        self.variants: Mapping[str, bytes] = MappingProxyType(dict(variants))
        self.table = table
        self.observer = observer
        self.champion = champion
        self.metric = metric
        self.min_calls = min_calls
        self.explore = explore
        self.labels = dict(labels or {})
        self._rng = rng
        self._refresh_every = max(1, refresh_every)
        self._pending = 0
        self._winners: dict[tuple[int, str], str | None] = {}
        self._contenders: dict[tuple[int, str], tuple[str, ...]] = {}
        self.refresh()

    # --- the runtime's hook --------------------------------------------------------------

    def choose(self, args: Sequence[int]) -> str | None:
        key = (self.observer.size_index(args), self.observer.memory_level())
        if self.explore and self._rng.random() < self.explore:
            options = self._contenders.get(key, ())
            if options:
                sha = self._rng.choice(options)
                return None if sha == self.champion else sha
        return self._winners.get(key)

    def observe(self, args: Sequence[int], sha: str | None, seconds: float) -> None:
        sha = sha or self.champion
        if sha is None:
            return
        self.table.observe(self.observer.environment(args), sha, seconds)
        if self.metric == "seconds":
            self._pending += 1
            if self._pending >= self._refresh_every:
                self.refresh()

    # --- the winners ---------------------------------------------------------------------

    def restrict(self, accepted: Iterable[str]) -> None:
        """Keep only the variants in `accepted` (e.g. what `Function.express` returned: the ones the
        runtime verified itself), so each environment expresses its best accepted variant."""
        keep = set(accepted)
        self.variants = MappingProxyType({sha: w for sha, w in self.variants.items() if sha in keep})
        self.refresh()

    def refresh(self) -> None:
        """Recompute the winner (and contenders) of every (size bucket, memory level) from the table."""
        self._pending = 0
        among = set(self.variants) | ({self.champion} if self.champion else set())
        winners, contenders = {}, {}
        for i, name in enumerate(self.observer.buckets.names):
            for level in self.observer.memory_levels():
                env = Environment(name, level, self.observer.node)
                ranked = [sha for sha, _ in self.table.ranking(env, self.metric, min_calls=self.min_calls,
                                                               among=among)]
                best = ranked[0] if ranked else None
                winners[(i, level)] = None if best == self.champion else best
                contenders[(i, level)] = tuple(ranked[:CONTENDERS])
        self._winners, self._contenders = winners, contenders

    def winner(self, env: Environment) -> str | None:
        """The sha expressed in `env` (the champion's when that is the winner), or None when nothing is known."""
        ranked = self.table.ranking(env, self.metric, min_calls=self.min_calls,
                                    among=set(self.variants) | ({self.champion} if self.champion else set()))
        return ranked[0][0] if ranked else None

    def winners(self) -> dict[str, str | None]:
        """Environment key -> expressed sha, for every size bucket and memory level."""
        return {Environment(n, lvl, self.observer.node).key: self.winner(Environment(n, lvl, self.observer.node))
                for n in self.observer.buckets.names for lvl in self.observer.memory_levels()}

    # --- persistence ---------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {"format": FORMAT, "function": self.function, "champion": self.champion, "metric": self.metric,
                "min_calls": self.min_calls, "observer": self.observer.to_dict(), "table": self.table.to_dict(),
                "variants": {sha: self.labels.get(sha, "") for sha in self.variants}}

    def save(self, folder: str | Path) -> Path:
        """Write expression.json and one SHA.wasm per variant into `folder`; returns the JSON's path."""
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for sha, wasm in self.variants.items():
                (folder / f"{sha}.wasm").write_bytes(wasm)
            path = folder / "expression.json"
            path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        except OSError as exc:
            raise EpigeneticsError(f"cannot write {folder}: {exc.strerror or exc}") from None
        return path

    @classmethod
    def load(cls, folder: str | Path, **kw) -> "Expression":
        """Read what `save` wrote; every variant's bytes must hash to its name."""
        folder = Path(folder)
        try:
            data = json.loads((folder / "expression.json").read_text())
        except (OSError, ValueError) as exc:
            raise EpigeneticsError(f"cannot read {folder / 'expression.json'}: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise EpigeneticsError(f"{folder / 'expression.json'} is not a {FORMAT} file")
        try:
            labels = dict(data["variants"])
            variants = {sha: (folder / f"{sha}.wasm").read_bytes() for sha in labels}
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise EpigeneticsError(f"cannot read the variants in {folder}: {exc}") from None
        return cls(data["function"], variants, FitnessTable.from_dict(data["table"]),
                   Observer.from_dict(data["observer"]), champion=data.get("champion"),
                   metric=kw.pop("metric", data.get("metric", "fuel")),
                   min_calls=kw.pop("min_calls", data.get("min_calls", 8)), labels=labels, **kw)
