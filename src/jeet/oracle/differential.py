"""Inputs for differential testing: edge values first, then random values over the whole range.

All values are canonical (see `jeet.oracle.values`); every function takes an explicit
`random.Random`, so a seed reproduces the same inputs.
"""

from __future__ import annotations

import itertools
import math
import random
from typing import Any, Iterable, Sequence

from ..errors import OracleError
from .values import MASK, VALTYPES, WIDTH, float_to_bits, valtype_name

_F32_SPECIAL_BITS = (
    0x00000001, 0x80000001,  # smallest subnormals
    0x007FFFFF,  # largest subnormal
    0x00800000, 0x80800000,  # smallest normals
    0x7F7FFFFF, 0xFF7FFFFF,  # largest finite
    0x7F800000, 0xFF800000,  # infinities
    0x7FC00000, 0xFFC00000,  # quiet NaNs
    0x7FA00001,  # a signalling NaN with payload
    0x4EFFFFFF,  # largest f32 below 2**31
    0x4B800001,  # 2**24 + 2: first odd step
)
_F64_SPECIAL_BITS = (
    0x0000000000000001, 0x8000000000000001,
    0x000FFFFFFFFFFFFF,
    0x0010000000000000, 0x8010000000000000,
    0x7FEFFFFFFFFFFFFF, 0xFFEFFFFFFFFFFFFF,
    0x7FF0000000000000, 0xFFF0000000000000,
    0x7FF8000000000000, 0xFFF8000000000000,
    0x7FF4000000000001,
    0x43DFFFFFFFFFFFFF,  # largest f64 below 2**63
)
_NICE_FLOATS = (0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, -1.5, 2.0, -2.0, 3.0, 0.1, -0.1, 10.0, 100.0, 255.0,
                256.0, 65535.0, 65536.0, math.pi, math.e, 1 / 3, 1e10, -1e10, 2.0 ** 24, 2.0 ** 24 + 1,
                2.0 ** 31, -(2.0 ** 31), 2.0 ** 31 - 1, -(2.0 ** 31) - 1, 2.0 ** 32, 2.0 ** 32 - 1, 2.0 ** 53,
                2.0 ** 53 + 1, 2.0 ** 63, -(2.0 ** 63), 2.0 ** 64, 1e-10, 1e30, -1e30, 1e300, 1e-300)


def _dedupe(values: Iterable[int]) -> list[int]:
    seen: set[int] = set()
    out = []
    for v in values:
        if v not in seen:
            seen.add(v)
            out.append(v)
    return out


def edge_values(valtype: Any) -> list[int]:
    """Values where integer and float code usually breaks, most telling first, as canonical values.

    Integers: 0, ±1, ±2, 3, min, max, min+1, max-1, small decimals, then every power of two
    with its neighbours and negations. Floats: ±0, ±1, 0.5, 1.5, ..., integer-conversion
    boundaries, largest/smallest normal and subnormal values, ±inf and NaNs.
    """
    t = valtype_name(valtype)
    if t not in VALTYPES:
        raise OracleError(f"no edge values for {t}")
    mask = MASK[t]
    if t in ("i32", "i64"):
        w = WIDTH[t]
        lo, hi = -(1 << (w - 1)), (1 << (w - 1)) - 1
        first = [0, 1, -1, 2, -2, 3, lo, hi, lo + 1, hi - 1, 7, 10, 100, 255, 1000, -100]
        powers = []
        for k in range(2, w):
            p = 1 << k
            powers += [p, p - 1, p + 1, -p, -p + 1, -p - 1]
        return _dedupe(v & mask for v in first + powers)
    specials = _F32_SPECIAL_BITS if t == "f32" else _F64_SPECIAL_BITS
    nice = [float_to_bits(t, x) for x in _NICE_FLOATS]
    return _dedupe(nice[:12] + list(specials) + nice[12:])


def random_value(valtype: Any, rng: random.Random) -> int:
    """A random canonical value over the whole range: uniform bits mixed with small and log-uniform magnitudes."""
    t = valtype_name(valtype)
    if t not in VALTYPES:
        raise OracleError(f"no random values for {t}")
    w = WIDTH[t]
    r = rng.random()
    if t in ("i32", "i64"):
        if r < 0.4:
            return rng.getrandbits(w)
        if r < 0.7:
            return rng.randint(-300, 300) & MASK[t]
        bits = rng.randint(1, w)
        value = rng.getrandbits(bits) | (1 << (bits - 1))
        return (-value if rng.random() < 0.5 else value) & MASK[t]
    if r < 0.3:
        return rng.getrandbits(w)
    sign = -1.0 if rng.random() < 0.5 else 1.0
    if r < 0.55:
        x = rng.randint(-1000, 1000) / rng.choice((1, 2, 4, 8, 10, 100))
    elif r < 0.85:
        x = sign * rng.uniform(1.0, 2.0) * 2.0 ** rng.randint(-40, 40)
    else:
        lo, hi = (-149, 127) if t == "f32" else (-1074, 1023)
        x = sign * math.ldexp(rng.uniform(1.0, 2.0), rng.randint(lo, hi))
    return float_to_bits(t, x)


def generate_inputs(params: Sequence[Any], rng: random.Random, n: int,
                    exclude: Iterable[tuple] = ()) -> list[tuple]:
    """Up to `n` distinct argument tuples: edge-value combinations first, then random ones.

    About half are combinations of edge values (first the product of each parameter's
    three most telling edges, then random picks among all edges), the rest random values
    with an occasional edge mixed in. Tuples in `exclude` are never produced. Fewer than
    `n` come back only when the input space is that small (no parameters: just ()).
    """
    types = tuple(valtype_name(t) for t in params)
    bad = [t for t in types if t not in VALTYPES]
    if bad:
        raise OracleError(f"cannot generate {bad[0]} values (only i32, i64, f32, f64)")
    seen = set(exclude)
    out: list[tuple] = []

    def add(args: tuple) -> None:
        if args not in seen:
            seen.add(args)
            out.append(args)

    if n <= 0:
        return out
    if not types:
        add(())
        return out
    edges = [edge_values(t) for t in types]
    n_edges = n // 2
    for combo in itertools.islice(itertools.product(*(e[:3] for e in edges)), n_edges // 2):
        add(combo)
    attempts = 0
    while len(out) < n_edges and attempts < 20 * n_edges + 20:
        attempts += 1
        add(tuple(rng.choice(e) for e in edges))
    attempts = 0
    while len(out) < n and attempts < 50 * n + 100:
        attempts += 1
        add(tuple(rng.choice(e) if rng.random() < 0.15 else random_value(t, rng) for t, e in zip(types, edges)))
    return out
