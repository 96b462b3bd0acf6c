"""jeet's errors: one root, one family per package, all in one place.

Every error that is the user's to fix (a file, a module, an export, a config, a message from the network)
is a `JeetError`; the command line and the node catch that one class at their edge and turn it into one
clear line. Families keep the built-in base a caller may already catch (`ValueError` for bad values,
`RuntimeError` for a store that cannot do what was asked, `TypeError` for a call with wrong arguments).
Whatever a candidate module does is never raised: the sandbox reports it as an `ExecutionResult`.
"""

from __future__ import annotations

__all__ = [
    "JeetError", "WasmError", "SandboxError", "OracleError", "FitnessError", "GeneticsError", "StoreError",
    "NetError", "SimError", "JeetRuntimeError", "ArgumentError", "ArgumentValueError", "CallTimeout",
    "CallInterrupted", "SymbiosisError", "EpigeneticsError", "TuneError", "TimingError", "UntimeableError", "ProveError", "Unprovable",
]


class JeetError(Exception):
    """A problem with what the user gave jeet (a file, a module, an export, a config), not a bug."""


class WasmError(JeetError, ValueError):
    """A malformed or unsupported module. Always names the byte offset and the reason.

    `offset` is -1 when the error is not about input bytes (a module built in memory that
    cannot be encoded or validated).
    """

    def __init__(self, offset: int, reason: str) -> None:
        self.offset = offset
        self.reason = reason
        super().__init__(f"offset {offset:#x}: {reason}" if offset >= 0 else reason)

    def __reduce__(self):
        return (type(self), (self.offset, self.reason))


class SandboxError(JeetError):
    """A caller's mistake with the sandbox (bad limits, a closed sandbox, a foreign compiled module)."""


class OracleError(JeetError, ValueError):
    """A tests file, a case set or an original module that cannot define correctness.

    The message is one line naming the source (file and line, or the function) and the reason.
    """


class FitnessError(JeetError, ValueError):
    """Figures that cannot be scored: negative measurements, bad weights, mismatched objective vectors."""


class GeneticsError(JeetError, ValueError):
    """A misuse of the genetics API: an unknown operator name, a missing export, too few parents."""


class StoreError(JeetError, RuntimeError):
    """The store cannot do what was asked: unreadable or foreign file, corruption, bad argument.

    The message is one line that names the database file when one is involved; the
    underlying sqlite3 or OS error, if any, is kept as ``__cause__``.
    """


class NetError(JeetError, ValueError):
    """Bytes or a value from the network (or a key file) that jeet.net refuses: malformed, oversized,
    unsigned, badly signed, replayed, of an unknown type or with fields of the wrong type."""


class SimError(JeetError, ValueError):
    """A simulation that cannot be run as asked (an out-of-range parameter)."""


class JeetRuntimeError(JeetError):
    """A bad module, an unknown function, bad tests or misuse of a closed runtime."""


class ArgumentError(JeetRuntimeError, TypeError):
    """A call with the wrong number of arguments, or an argument wasmtime cannot pass.

    Also a `TypeError`, which is what calling a Python function wrongly raises."""


class ArgumentValueError(ArgumentError, ValueError):
    """An argument a tests file would reject too: out of range for its type, or not a number.

    The message is the tests file's own (`jeet.oracle.parse_case`), after the signature."""


class CallTimeout(JeetRuntimeError, TimeoutError):
    """A served call (or a module's start function) ran past the runtime's per-call deadline."""


class CallInterrupted(JeetRuntimeError):
    """A served call stopped because the process got SIGINT (Ctrl-C) while it ran."""


class SymbiosisError(JeetError):
    """A pair that cannot be linked or run as asked, a malformed bundle, or a misuse of the API.

    The message is one line naming the module (caller or callee) or the field at fault.
    """


class EpigeneticsError(JeetError):
    """Environments, tags, tables or variant pools that cannot be built or read; one line, user-facing."""


class TuneError(JeetError):
    """A tuning request that cannot be carried out (bad kernels, budget, storage); the CLI shows one line."""


class TimingError(JeetError):
    """A measurement cannot be made as asked (no usable cases, a module jeet cannot read, bad options)."""


class UntimeableError(TimingError):
    """A variant cannot be timed natively: it traps, runs past the deadline or does not compile on the
    timing inputs. `index` is its position in the measured variants and `status` says which of those."""

    def __init__(self, message: str, index: int | None = None, status: str = "trap") -> None:
        super().__init__(message)
        self.index = index
        self.status = status

    def __reduce__(self):
        return (type(self), (str(self), self.index, self.status))


class ProveError(JeetError, ValueError):
    """Two modules that cannot be compared: unreadable, invalid, no such function, other signatures."""


class Unprovable(ProveError):
    """Something the symbolic semantics does not cover; `jeet.prove` answers `unknown` with `reason`
    instead (it never escapes `prove`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __reduce__(self):
        return (type(self), (self.reason,))
