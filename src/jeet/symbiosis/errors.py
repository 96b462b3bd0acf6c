"""The one exception family of jeet.symbiosis."""

from __future__ import annotations

from ..errors import JeetError


class SymbiosisError(JeetError):
    """A pair that cannot be linked or run as asked, a malformed bundle, or a misuse of the API.

    The message is one line naming the module (caller or callee) or the field at fault. It is a
    `JeetError`, so the command line reports it as one line with exit status 2.
    """
