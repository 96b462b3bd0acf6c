"""The runtime's one exception family: what the caller got wrong, in one line."""

from __future__ import annotations

from ..errors import JeetError


class JeetRuntimeError(JeetError):
    """A bad module, an unknown function, bad tests or misuse of a closed runtime."""


class ArgumentError(JeetRuntimeError, TypeError):
    """A call with the wrong number of arguments, or an argument wasmtime cannot pass.

    Also a `TypeError`, which is what calling a Python function wrongly raises."""


class ArgumentValueError(ArgumentError, ValueError):
    """An argument a tests file would reject too: out of range for its type, or not a number.

    The message is the tests file's own (`jeet.oracle.parse_value`), after the signature."""


class CallTimeout(JeetRuntimeError, TimeoutError):
    """A call (or a module's start function) ran past the runtime's per-call deadline."""


class CallInterrupted(JeetRuntimeError):
    """A call stopped because the process got SIGINT (Ctrl-C) while it ran."""
