"""The one exception family of jeet.genetics."""


class GeneticsError(ValueError):
    """A misuse of the genetics API: an unknown operator name, a missing export, too few parents."""
