"""The one exception family of the fitness package."""


class FitnessError(ValueError):
    """Figures that cannot be scored: negative measurements, bad weights, mismatched objective vectors."""
