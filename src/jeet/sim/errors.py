"""The one exception family of the simulator."""


class SimError(ValueError):
    """A simulation that cannot be run as asked (an out-of-range parameter)."""
