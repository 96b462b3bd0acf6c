"""Which built-in kernels the tuner learns on and which it is judged on.

The built-in kernels are split so that a tuned configuration is always measured on kernels the
tuner never saw: TRAIN_KERNELS, a fixed dozen covering every category, feed `jeet tune`'s objective
by default; EVAL_KERNELS, every other kernel (including any added later), are what
`jeet bench --suite tuner` compares tuned and default settings on.
"""

from __future__ import annotations

from ..kernels import KERNELS, get_kernel
from ..errors import TuneError

TRAIN_KERNELS: tuple[str, ...] = (
    "popcount", "ctz", "next_pow2",                   # bits
    "gcd", "modpow", "collatz", "smoothstep",         # arith
    "clamp", "alu", "days_in_month",                  # branch
    "sum_bytes", "count_byte",                        # buffer
)

EVAL_KERNELS: tuple[str, ...] = tuple(k.name for k in KERNELS if k.name not in TRAIN_KERNELS)


def parse_kernels(spec: str | None, default: tuple[str, ...] = TRAIN_KERNELS) -> tuple[str, ...]:
    """A comma-separated list of built-in kernel names (or `default` when empty), checked and deduplicated."""
    if not spec:
        return default
    names = tuple(dict.fromkeys(n.strip() for n in spec.split(",") if n.strip()))
    if not names:
        raise TuneError("--kernels names no kernel")
    for n in names:
        try:
            get_kernel(n)
        except ValueError as exc:
            raise TuneError(str(exc)) from None
    return names
