"""`jeet node`: the gossip protocol of `jeet.net` on real sockets, with a sandbox, a store and an island.

The daemon is the I/O host of a `GossipNode`: it carries frames over asyncio TCP, runs the protocol's
timers, verifies received specimens in its own sandbox, keeps what it adopts in the specimen store, evolves
its workload as an island of the swarm, and answers HTTP (/status, /specimens/<sha256>, /metrics).
"""

from .daemon import Node
from .settings import NodeSettings, NodeWorkload
from .workload import Check, Workload

__all__ = ["Check", "Node", "NodeSettings", "NodeWorkload", "Workload"]
