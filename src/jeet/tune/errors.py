"""The tuner's one exception family."""

from __future__ import annotations

from ..errors import JeetError


class TuneError(JeetError):
    """A tuning request that cannot be carried out (bad kernels, budget, storage); the CLI shows one line."""
