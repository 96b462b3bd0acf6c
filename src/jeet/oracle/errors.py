"""The one exception family of the oracle."""


class OracleError(ValueError):
    """A tests file, a case set or an original module that cannot define correctness.

    The message is one line naming the source (file and line, or the function) and the reason.
    """
