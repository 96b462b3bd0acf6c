"""The network simulator: many `jeet.net.GossipNode`s in one process over a simulated transport, against
plain flooding and push gossip on the same scenario. Seeded and deterministic."""

from .config import SimConfig
from ..errors import SimError
from .plot import plot_coverage
from .runner import simulate, simulate_many
from .world import World, build_world

__all__ = ["SimConfig", "SimError", "World", "build_world", "plot_coverage", "simulate", "simulate_many"]
