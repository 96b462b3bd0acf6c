"""Test hooks for the runtime: what tests need and shipped code must never call.

`force_champion` serves a variant WITHOUT verification, to exercise the live safety nets
(shadow checks, trap checks, demotion). Nothing under `jeet` imports this module.
"""

from __future__ import annotations

from .function import Function
from .variant import Variant


def force_champion(fn: Function, wasm: bytes) -> str:
    """Serve `wasm` as `fn`'s champion at once, unverified; its sha256."""
    variant = Variant(fn.original.serving, wasm, fn.function, fn.signature)
    fn.record.verified[variant.sha256] = (variant, 0)  # the lie that makes it servable: tests only
    fn.install(variant)
    fn.record.set_tier("evolved", fn.calls)
    fn.refresh()
    return variant.sha256
