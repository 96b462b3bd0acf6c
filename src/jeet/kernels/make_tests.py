"""Reference implementations of the built-in kernels and the generator of their tests files.

The references are written in plain Python (or with the standard library's own zlib, math and
calendar), independently of the C sources, and define what each kernel must compute. Values are
given as wasm sees them: i32/i64 as signed integers, f64 as Python floats. Regenerate the shipped
files with `python -m jeet.kernels.make_tests`; `--check` only compares. Output is deterministic:
each kernel's cases come from a random.Random seeded with the kernel's name.
"""

from __future__ import annotations

import argparse
import base64
import calendar
import json
import math
import random
import sys
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

from jeet.kernels import ALL_KERNELS, BUFFER_BASE, HACKER_CATEGORY, Kernel, get_kernel
from jeet.kernels.hacker_refs import HACKER_REFERENCES, hacker_edge_args, hacker_sample_args

__all__ = [
    "BUFFER_REFERENCES",
    "I32_EDGES",
    "REFERENCES",
    "buffer_cases",
    "edge_args",
    "generate",
    "render",
    "sample_args",
    "scalar_cases",
]

INT_MIN = -(2**31)
INT_MAX = 2**31 - 1
MASK32 = 2**32 - 1
MASK64 = 2**64 - 1

SCALAR_CASES = 256
BUFFER_CASES = 320
MAX_BUFFER_LEN = 512
MAX_PTR_OFFSET = 256


def s32(x: int) -> int:
    x &= MASK32
    return x - 2**32 if x >= 2**31 else x


def s64(x: int) -> int:
    x &= MASK64
    return x - 2**64 if x >= 2**63 else x


def u32(x: int) -> int:
    return x & MASK32


# --- scalar references: wasm arguments in, tuple of wasm results out ---------------------------

def _popcount(x: int) -> tuple[int]:
    return (bin(u32(x)).count("1"),)


def _parity(x: int) -> tuple[int]:
    return (bin(u32(x)).count("1") % 2,)


def _ctz(x: int) -> tuple[int]:
    u = u32(x)
    return (32 if u == 0 else (u & -u).bit_length() - 1,)


def _bit_reverse(x: int) -> tuple[int]:
    return (s32(int(format(u32(x), "032b")[::-1], 2)),)


def _is_power_of_two(x: int) -> tuple[int]:
    u = u32(x)
    return (int(u != 0 and u & (u - 1) == 0),)


def _next_pow2(x: int) -> tuple[int]:
    u = u32(x)
    p = 1 if u <= 1 else 1 << (u - 1).bit_length()
    return (s32(p) if p <= MASK32 else 0,)


def _gcd(a: int, b: int) -> tuple[int]:
    return (s32(math.gcd(u32(a), u32(b))),)


def _isqrt(x: int) -> tuple[int]:
    return (math.isqrt(u32(x)),)


def _modpow(base: int, exp: int, mod: int) -> tuple[int]:
    m = u32(mod)
    return (0 if m == 0 else s32(pow(u32(base), u32(exp), m)),)


def _fib_table(n: int) -> list[int]:
    table = [0, 1]
    while len(table) <= n:
        table.append((table[-1] + table[-2]) & MASK64)
    return table


_FIB = _fib_table(1000)


def _fib(n: int) -> tuple[int]:
    return (0 if n < 0 else s64(_FIB[min(n, 1000)]),)


def _collatz(n: int) -> tuple[int]:
    x, steps = u32(n), 0
    while x > 1 and steps < 1000:
        x = x // 2 if x % 2 == 0 else (3 * x + 1) & MASK64
        steps += 1
    return (steps,)


def _digit_sum(n: int) -> tuple[int]:
    return (sum(int(d) for d in str(abs(n))),)


def _smoothstep(x: float) -> tuple[float]:
    if x <= 0.0:
        return (0.0,)
    if x >= 1.0:
        return (1.0,)
    return (x * x * (3.0 - 2.0 * x),)


def _clamp(x: int, lo: int, hi: int) -> tuple[int]:
    return (lo if x < lo else hi if x > hi else x,)


def _sign(x: int) -> tuple[int]:
    return ((x > 0) - (x < 0),)


def _iabs(x: int) -> tuple[int]:
    return (s32(abs(x)),)


def _max3(a: int, b: int, c: int) -> tuple[int]:
    return (max(a, b, c),)


_ALU_OPS: dict[int, Callable[[int, int], int]] = {
    0: lambda a, b: a + b,
    1: lambda a, b: a - b,
    2: lambda a, b: a * b,
    3: lambda a, b: a & b,
    4: lambda a, b: a | b,
    5: lambda a, b: a ^ b,
    6: lambda a, b: u32(a) << (b & 31),
    7: lambda a, b: u32(a) >> (b & 31),
    8: min,
    9: max,
}


def _alu(op: int, a: int, b: int) -> tuple[int]:
    f = _ALU_OPS.get(op)
    return (0 if f is None else s32(f(a, b)),)


def _days_in_month(month: int, year: int) -> tuple[int]:
    if not 1 <= month <= 12:
        return (0,)
    if month == 2:
        return (29 if calendar.isleap(year) else 28,)
    return (calendar.mdays[month],)


REFERENCES: dict[str, Callable[..., tuple]] = {
    "popcount": _popcount,
    "parity": _parity,
    "ctz": _ctz,
    "bit_reverse": _bit_reverse,
    "is_power_of_two": _is_power_of_two,
    "next_pow2": _next_pow2,
    "gcd": _gcd,
    "isqrt": _isqrt,
    "modpow": _modpow,
    "fib": _fib,
    "collatz": _collatz,
    "digit_sum": _digit_sum,
    "smoothstep": _smoothstep,
    "clamp": _clamp,
    "sign": _sign,
    "iabs": _iabs,
    "max3": _max3,
    "alu": _alu,
    "days_in_month": _days_in_month,
    **HACKER_REFERENCES,
}


# --- buffer references: (buffer bytes, extra args) in, tuple of wasm results out -------------

def _fnv1a32(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & MASK32
    return h


def _crc8(data: bytes, poly: int) -> int:
    crc, g = 0, poly & 0xFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ g) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


BUFFER_REFERENCES: dict[str, Callable[..., tuple[int]]] = {
    "sum_bytes": lambda data: (s32(sum(data)),),
    "fnv1a32": lambda data: (s32(_fnv1a32(data)),),
    "count_byte": lambda data, b: (data.count(b & 0xFF),),
    "max_byte": lambda data: (max(data, default=0),),
    "adler32": lambda data: (s32(zlib.adler32(data)),),
    "crc8": lambda data, poly: (_crc8(data, poly),),
}


# --- inputs ---------------------------------------------------------------------------------

I32_EDGES: tuple[int, ...] = (
    0, 1, -1, 2, -2, 3, 7, 10, 255, 256, 65535, 65536, 0x55555555, s32(0xAAAAAAAA),
    INT_MIN, INT_MIN + 1, INT_MAX, INT_MAX - 1, 2**30, 2**30 + 1,
)
_SMALL_EDGES: tuple[int, ...] = (0, 1, -1, INT_MIN, INT_MAX)
F64_EDGES: tuple[float, ...] = (
    0.0, -0.0, 1.0, -1.0, 0.5, 0.25, 0.75, 1e-300, -1e-300, 5e-324, 1.0 - 2**-53, 1.0 + 2**-52, 1e300, -1e300,
)
F64_SPECIALS: tuple[float, ...] = (math.inf, -math.inf, math.nan)


def _random_i32(rng: random.Random) -> int:
    pick = rng.random()
    if pick < 0.45:
        return rng.randint(INT_MIN, INT_MAX)
    if pick < 0.75:
        return rng.randint(-1000, 1000)
    shift = rng.randrange(32)
    return s32((1 << shift) + rng.choice((-1, 0, 1)))


def _random_year(rng: random.Random) -> int:
    pick = rng.random()
    if pick < 0.5:
        return rng.randint(1582, 2400)
    if pick < 0.7:
        return rng.randrange(-40, 40) * 100
    if pick < 0.85:
        return rng.randint(-10000, 10000)
    return rng.randint(INT_MIN, INT_MAX)


def sample_args(name: str, rng: random.Random) -> tuple:
    """One random argument tuple for scalar kernel `name`, biased towards the values its code branches on."""
    kernel = get_kernel(name)
    if kernel.category == HACKER_CATEGORY:
        return hacker_sample_args(name, len(kernel.params), rng)
    if name == "smoothstep":
        return (rng.choice((rng.uniform(-0.5, 1.5), rng.uniform(0.0, 1.0), rng.uniform(-1e6, 1e6))),)
    if name == "alu":
        op = rng.randint(-2, 12) if rng.random() < 0.9 else _random_i32(rng)
        return (op, _random_i32(rng), _random_i32(rng))
    if name == "days_in_month":
        month = rng.randint(-1, 14) if rng.random() < 0.9 else _random_i32(rng)
        return (month, _random_year(rng))
    if name == "fib":
        return (rng.randint(-5, 1100) if rng.random() < 0.8 else _random_i32(rng),)
    if name == "clamp":
        x, lo, hi = (_random_i32(rng) for _ in range(3))
        if rng.random() < 0.8 and lo > hi:
            lo, hi = hi, lo
        return (x, lo, hi)
    if name == "gcd" and rng.random() < 0.5:
        g = rng.randint(1, 5000)
        return (s32(g * rng.randint(0, 2**32 // g - 1)), s32(g * rng.randint(0, 2**32 // g - 1)))
    return tuple(_random_i32(rng) for _ in kernel.params)


def edge_args(name: str, *, specials: bool = True) -> list[tuple]:
    """Argument tuples built from boundary values: every edge alone for one parameter, a small grid for more.

    With specials=False the f64 edges leave out inf and NaN, which JSON cannot carry.
    """
    kernel = get_kernel(name)
    if kernel.category == HACKER_CATEGORY:
        return hacker_edge_args(name, len(kernel.params))
    if kernel.params == ("f64",):
        return [(x,) for x in F64_EDGES + (F64_SPECIALS if specials else ())]
    if len(kernel.params) == 1:
        return [(x,) for x in I32_EDGES]
    grid: list[tuple] = [()]
    for _ in kernel.params:
        grid = [g + (x,) for g in grid for x in _SMALL_EDGES]
    if name == "alu":
        grid += [(op, a, b) for op in range(-1, 11) for a in (INT_MIN, -1, 7) for b in (-1, 33, 3)]
    if name == "days_in_month":
        grid += [(m, y) for m in range(0, 14) for y in (1900, 2000, 2023, 2024, -4, -100)]
    return grid


# --- tests files ----------------------------------------------------------------------------

def scalar_cases(kernel: Kernel, rng: random.Random, count: int = SCALAR_CASES) -> list[dict]:
    ref = REFERENCES[kernel.name]
    args_list: list[tuple] = []
    seen: set[str] = set()

    def add(args: tuple) -> None:
        key = repr(args)  # repr keeps 0.0 and -0.0 apart
        if key not in seen:
            seen.add(key)
            args_list.append(args)

    for args in edge_args(kernel.name, specials=False):
        add(args)
    while len(args_list) < count:
        add(sample_args(kernel.name, rng))
    return [{"args": list(args), "expect": list(ref(*args))} for args in args_list]


def _random_buffer(rng: random.Random, length: int) -> bytes:
    style = rng.random()
    if style < 0.6:
        return rng.randbytes(length)
    if style < 0.8:
        return bytes(rng.choice(b"\x00\x01\x7f\x80\xfe\xff") for _ in range(length))
    alphabet = bytes(rng.sample(range(256), rng.randint(1, 4)))
    return bytes(rng.choice(alphabet) for _ in range(length))


def _buffer_inputs(rng: random.Random, count: int) -> list[tuple[int, bytes]]:
    fixed_lengths = (1, 2, 3, 4, 5, 7, 8, 15, 16, 31, 32, 63, 64, 255, 256, MAX_BUFFER_LEN)
    inputs: list[tuple[int, bytes]] = [(BUFFER_BASE, b"")]
    for length in fixed_lengths:
        inputs += [(BUFFER_BASE, bytes(length)), (BUFFER_BASE, b"\xff" * length)]
    inputs += [(BUFFER_BASE + rng.randrange(MAX_PTR_OFFSET), bytes([b])) for b in (0, 1, 0x7F, 0x80, 0xFE, 0xFF)]
    while len(inputs) < count:
        length = rng.randint(0, 16) if rng.random() < 0.3 else rng.randint(0, MAX_BUFFER_LEN)
        ptr = BUFFER_BASE + (rng.randrange(MAX_PTR_OFFSET) if rng.random() < 0.5 else 0)
        inputs.append((ptr, _random_buffer(rng, length)))
    return inputs


def _byte_arg(rng: random.Random, data: bytes) -> int:
    pick = rng.random()
    if data and pick < 0.5:
        return rng.choice(data)
    if pick < 0.8:
        return rng.randrange(256)
    # Only the low byte counts; keep some cases that say so.
    return s32(rng.randrange(256) + 256 * rng.randint(-2**23, 2**23 - 1))


def buffer_cases(kernel: Kernel, rng: random.Random, count: int = BUFFER_CASES) -> list[dict]:
    ref = BUFFER_REFERENCES[kernel.name]
    cases = []
    for ptr, data in _buffer_inputs(rng, count):
        extra = (_byte_arg(rng, data),) if kernel.name in ("count_byte", "crc8") else ()
        cases.append({
            "args": [ptr, len(data), *extra],
            "expect": list(ref(data, *extra)),
            "memory": [[ptr, base64.b64encode(data).decode("ascii")]],
        })
    return cases


def generate(kernel: Kernel) -> list[dict]:
    """The kernel's test cases, the same on every run."""
    rng = random.Random(f"jeet.kernels:{kernel.name}")
    if kernel.category == "buffer":
        return buffer_cases(kernel, rng)
    return scalar_cases(kernel, rng)


def render(cases: Sequence[dict]) -> str:
    return "".join(json.dumps(case, separators=(",", ":"), allow_nan=False) + "\n" for case in cases)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write (or check) the built-in kernels' tests files.")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "tests")
    parser.add_argument("--check", action="store_true", help="only report files that differ from a fresh run")
    opts = parser.parse_args(argv)
    stale = []
    opts.out.mkdir(parents=True, exist_ok=True)
    for kernel in ALL_KERNELS:
        path = opts.out / f"{kernel.name}.jsonl"
        text = render(generate(kernel))
        if opts.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(path)
        else:
            path.write_text(text)
    for path in stale:
        print(f"stale: {path}", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
