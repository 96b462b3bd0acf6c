"""Reference semantics of the Hacker's Delight programs p01-p25 and the arguments their tests use.

Written in plain Python from the definitions, independently of the C sources, with values as wasm sees
them (i32 as signed integers; shift counts taken mod 32 as wasm's shifts take them). `make_tests`
merges these into its tables. Arguments lean on what the tricks branch on in meaning: powers of two and
their neighbours, runs of ones, equal leading-zero counts, fields and distances for p19, x drawn from
(a, b, c) for p21; p20 leaves out 0, where its division traps.
"""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["HACKER_REFERENCES", "hacker_edge_args", "hacker_sample_args"]

MASK32 = 2**32 - 1
INT_MIN = -(2**31)
INT_MAX = 2**31 - 1


def _s32(x: int) -> int:
    x &= MASK32
    return x - 2**32 if x >= 2**31 else x


def _u(x: int) -> int:
    return x & MASK32


def _nlz(x: int) -> int:
    return 32 - _u(x).bit_length()


def _p19(x: int, m: int, k: int) -> tuple[int]:
    x, m, k = _u(x), _u(m), k & 31
    o3 = (x ^ (x >> k)) & m
    return (_s32(((o3 << k) ^ o3) ^ x),)


def _p20(x: int) -> tuple[int]:
    u = _u(x)
    smallest = u & -u
    ripple = _u(u + smallest)
    ones = ((u ^ ripple) >> 2) // smallest
    return (_s32(ones | ripple),)


def _p21(x: int, a: int, b: int, c: int) -> tuple[int]:
    o1 = -1 if x == c else 0
    o3 = -1 if x == a else 0
    return (_s32(((o1 & (a ^ c)) ^ (o3 & (b ^ c))) ^ c),)


def _p24(x: int) -> tuple[int]:
    u = _u(x)
    if u == 0 or u > 2**31:
        return (0,)
    return (_s32(1 << (u - 1).bit_length()),)


HACKER_REFERENCES: dict[str, Callable[..., tuple[int]]] = {
    "p01": lambda x: (_s32(x & (x - 1)),),
    "p02": lambda x: (int(_u(x) & _u(x + 1) == 0),),
    "p03": lambda x: (_s32(x & -x),),
    "p04": lambda x: (_s32(x ^ (x - 1)),),
    "p05": lambda x: (_s32(x | (x - 1)),),
    "p06": lambda x: (_s32(x | (x + 1)),),
    "p07": lambda x: (_s32(~x & (x + 1)),),
    "p08": lambda x: (_s32(~x & (x - 1)),),
    "p09": lambda x: (_s32(abs(x)),),
    "p10": lambda x, y: (int(_nlz(x) == _nlz(y)),),
    "p11": lambda x, y: (int(_nlz(x) < _nlz(y)),),
    "p12": lambda x, y: (int(_nlz(x) <= _nlz(y)),),
    "p13": lambda x: ((x > 0) - (x < 0),),
    "p14": lambda x, y: (_s32((_u(x) + _u(y)) // 2),),
    "p15": lambda x, y: (_s32((_u(x) + _u(y) + 1) // 2),),
    "p16": lambda x, y: (max(x, y),),
    "p17": lambda x: (_s32(_u(((x | (x - 1)) + 1) & x)),),
    "p18": lambda x: (int(_u(x) != 0 and _u(x) & (_u(x) - 1) == 0),),
    "p19": _p19,
    "p20": _p20,
    "p21": _p21,
    "p22": lambda x: (bin(_u(x)).count("1") % 2,),
    "p23": lambda x: (bin(_u(x)).count("1"),),
    "p24": _p24,
    "p25": lambda x, y: (_s32((_u(x) * _u(y)) >> 32),),
}

_EDGES: tuple[int, ...] = (
    0, 1, -1, 2, -2, 3, 4, 5, 6, 7, 8, 12, 255, 256, 65535, 65536, 0x55555555, _s32(0xAAAAAAAA),
    0x0F0F0F0F, _s32(0xF0F0F0F0), INT_MIN, INT_MIN + 1, INT_MAX, INT_MAX - 1, 2**30, 2**30 + 1, 0x7FFF0000,
)
_PAIR_EDGES: tuple[int, ...] = (0, 1, -1, 2, 3, 255, 65535, 65536, INT_MIN, INT_MAX, 0x55555555)


def _word(rng: random.Random) -> int:
    """A 32-bit argument: uniform, small, a power of two and its neighbours, or a run of ones."""
    pick = rng.random()
    if pick < 0.4:
        return rng.randint(INT_MIN, INT_MAX)
    if pick < 0.6:
        return rng.randint(-1000, 1000)
    if pick < 0.8:
        return _s32((1 << rng.randrange(32)) + rng.choice((-1, 0, 1)))
    low, width = rng.randrange(32), rng.randrange(1, 33)
    return _s32(((1 << width) - 1) << low)


def _same_nlz(rng: random.Random) -> tuple[int, int]:
    """Two words with equal leading-zero counts (half of p10-p12's interesting cases)."""
    n = rng.randrange(33)
    if n == 32:
        return 0, 0
    top = 1 << (31 - n)
    return _s32(top | rng.randrange(top)), _s32(top | rng.randrange(top))


def _field_args(rng: random.Random) -> tuple[int, int, int]:
    """p19's (x, m, k): a field mask of width w at position p and a distance k that keeps both fields in the word."""
    width = rng.randint(1, 16)
    k = rng.randint(width, 32 - width)
    pos = rng.randint(0, 32 - width - k)
    return (_word(rng), _s32(((1 << width) - 1) << pos), k)


def hacker_sample_args(name: str, params: int, rng: random.Random) -> tuple:
    """One random argument tuple for program `name` (of `params` i32 parameters)."""
    if name in ("p10", "p11", "p12") and rng.random() < 0.5:
        return _same_nlz(rng)
    if name == "p19":
        return _field_args(rng) if rng.random() < 0.8 else (_word(rng), _word(rng), rng.randrange(32))
    if name == "p20":
        return (_word(rng) or 1,)
    if name == "p21":
        a, b, c = (_word(rng) for _ in range(3))
        x = rng.choice((a, b, c)) if rng.random() < 0.9 else _word(rng)
        return (x, a, b, c)
    return tuple(_word(rng) for _ in range(params))


def hacker_edge_args(name: str, params: int) -> list[tuple]:
    """Boundary argument tuples for program `name`: each edge alone, or a small grid of pairs."""
    if name == "p19":
        return [(x, m, k) for x in (0, -1, 0x12345678, INT_MIN) for m, k in ((1, 31), (0xFF, 8), (0xFFFF, 16), (0xF, 4),
                                                                            (0x3, 28), (0, 0))]
    if name == "p21":
        triples = ((1, 2, 3), (0, -1, INT_MIN), (5, 5, 7), (7, 5, 5), (INT_MAX, 0, INT_MAX))
        return [(x, a, b, c) for a, b, c in triples for x in (a, b, c)]
    if params == 1:
        return [(x,) for x in _EDGES if not (name == "p20" and x == 0)]
    return [(x, y) for x in _PAIR_EDGES for y in _PAIR_EDGES]
