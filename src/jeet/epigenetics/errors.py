"""The one exception family of jeet.epigenetics."""

from ..errors import JeetError


class EpigeneticsError(JeetError):
    """Environments, tags, tables or variant pools that cannot be built or read; one line, user-facing."""
