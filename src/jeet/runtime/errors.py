"""The runtime's one exception family: what the caller got wrong, in one line."""

from __future__ import annotations

from ..errors import JeetError


class JeetRuntimeError(JeetError):
    """A bad module, an unknown function, bad tests or misuse of a closed runtime."""


class ArgumentError(JeetRuntimeError, TypeError):
    """A call with the wrong number of arguments, or an argument wasmtime cannot pass.

    Also a `TypeError`, which is what calling a Python function wrongly raises."""
