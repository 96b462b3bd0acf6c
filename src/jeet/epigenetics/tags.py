"""Environments as gossip tags ("env:size=small", "env:mem=high", "env:arch=x86_64").

Specimens and announcements carry `env: tuple[str, ...]` (see `jeet.net.messages`); a node that
found a variant winning in some environment says so there, and a receiver reads it back with
`from_tags`. Tags without the "env:" prefix are someone else's and are ignored.
"""

from __future__ import annotations

from typing import Iterable

from ..specimen import Specimen
from .environment import ANY, Environment, check_label, parse_node_tag
from ..errors import EpigeneticsError

PREFIX = "env:"
MAX_TAGS = 16  # jeet.net.config.Limits.max_tags: an announcement carries at most this many


def to_tags(env: Environment) -> tuple[str, ...]:
    """The tags of `env`; components that are ANY are left out."""
    tags = []
    if env.size != ANY:
        tags.append(f"{PREFIX}size={env.size}")
    if env.memory != ANY:
        tags.append(f"{PREFIX}mem={env.memory}")
    tags += [PREFIX + t for t in env.node]
    if len(tags) > MAX_TAGS:
        raise EpigeneticsError(f"environment {env.key} needs {len(tags)} tags; an announcement carries {MAX_TAGS}")
    return tuple(tags)


def from_tags(tags: Iterable[str]) -> Environment:
    """The environment the "env:" tags describe (ANY where a component is absent)."""
    size, memory, node, keys = ANY, ANY, [], set()
    for tag in tags:
        if not isinstance(tag, str) or not tag.startswith(PREFIX):
            continue
        body = tag[len(PREFIX):]
        key, sep, value = body.partition("=")
        if not sep:
            raise EpigeneticsError(f"bad environment tag {tag!r}: expected env:key=value")
        if key in keys:
            raise EpigeneticsError(f"environment tag key {key!r} appears twice")
        keys.add(key)
        if key == "size":
            check_label(key, value)
            size = value
        elif key == "mem":
            check_label(key, value)
            memory = value
        else:
            parse_node_tag(body)
            node.append(body)
    return Environment(size, memory, tuple(node))


def tag_specimen(function: str, wasm: bytes, fitness: float, fuel: int, env: Environment) -> Specimen:
    """A specimen for gossip that says in which environment it is the variant to express."""
    return Specimen.of(function, wasm, fitness, fuel, env=to_tags(env))


def environment_of(item) -> Environment:
    """The environment a received Specimen or Announce was tagged with (the any-environment when untagged)."""
    return from_tags(getattr(item, "env", ()) or ())
