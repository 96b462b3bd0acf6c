"""One meaning of `with_overrides` for every config value (evolution, co-evolution, runtime)."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any, ClassVar, TypeVar

from .errors import JeetError

S = TypeVar("S", bound="Settings")


class Settings:
    """Mixin for frozen config dataclasses.

    `with_overrides(**given)` returns a copy with the settings that were actually given: None means
    "not given" (so a command line can pass every option straight through), and an unknown name is
    an error of the config's own family (`error`), never silently ignored."""

    __slots__ = ()
    error: ClassVar[type[JeetError]] = JeetError
    what: ClassVar[str] = "setting"

    def with_overrides(self: S, **overrides: Any) -> S:
        known = {f.name for f in fields(self)}  # type: ignore[arg-type]
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise self.error(f"unknown {self.what}(s): {', '.join(unknown)}")
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})  # type: ignore[type-var]
