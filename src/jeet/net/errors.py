"""The one exception family of the gossip protocol package."""


class NetError(ValueError):
    """Bytes or a value from the network (or a key file) that jeet.net refuses: malformed, oversized,
    unsigned, badly signed, replayed, of an unknown type or with fields of the wrong type."""
