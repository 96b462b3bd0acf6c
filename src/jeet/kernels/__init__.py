"""jeet's built-in kernel suite: small C functions compiled to wasm at -O0 and -O2.

Three builds ship per kernel (its "levels"): "O0" is clang -O0, the default starting point for `jeet
evolve` (clang's unoptimised code leaves a lot to find); "O2" is clang -O2 alone; "O2opt" is clang -O2
followed by Binaryen's `wasm-opt -O3`, a production build as users ship it: the yardstick a result is
compared against, and the harder starting point. Every kernel's files ship inside the package: c/NAME.c,
wasm/NAME.{O0,O2,O2opt}.wasm and tests/NAME.jsonl.

Two groups ship: `KERNELS`, the suite every benchmark and the tuner run by default, and `HACKER_KERNELS`
(category "hacker"), the 25 loop-free bit tricks p01-p25 from Hacker's Delight that superoptimisers
(STOKE, Brahma) are measured on, run by `jeet bench --suite bits`. They are a group of their own so
that adding them did not double what the default benchmarks run; `get_kernel` finds both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jeet.wasm.types import F64, I32, I64, FuncType, ValType

__all__ = [
    "BUFFER_BASE",
    "BUFFER_LIMIT",
    "CATEGORIES",
    "CLANG_LEVELS",
    "ALL_KERNELS",
    "DEFAULT_KERNEL",
    "HACKER_CATEGORY",
    "HACKER_KERNELS",
    "KERNELS",
    "OPT_LEVELS",
    "Kernel",
    "KernelError",
    "get_kernel",
    "kernel_names",
]

_HERE = Path(__file__).resolve().parent

CATEGORIES = ("bits", "arith", "branch", "buffer")  # of KERNELS
HACKER_CATEGORY = "hacker"  # of HACKER_KERNELS
OPT_LEVELS = ("O0", "O2", "O2opt")
CLANG_LEVELS = ("O0", "O2")  # the levels clang builds directly; "O2opt" is wasm-opt -O3 of "O2"

# Memory layout every module shares (see build.sh): the shadow stack fills [0, 4096), static data
# (none today) follows it, and the second page [BUFFER_BASE, BUFFER_LIMIT) is never touched by the
# kernels' own code, so callers put input buffers there.
BUFFER_BASE = 65536
BUFFER_LIMIT = 131072

_VALTYPES: dict[str, ValType] = {"i32": I32, "i64": I64, "f64": F64}


class KernelError(ValueError):
    """A kernel name, optimisation level or file that the suite does not have."""


@dataclass(frozen=True, slots=True)
class Kernel:
    """One built-in kernel: an exported function `function` of signature params -> results."""

    name: str
    function: str
    category: str
    description: str
    params: tuple[str, ...] = ("i32",)
    results: tuple[str, ...] = ("i32",)

    def functype(self) -> FuncType:
        """The function's type in jeet.wasm's encoding, for comparing against a decoded module."""
        return FuncType(tuple(_VALTYPES[t] for t in self.params), tuple(_VALTYPES[t] for t in self.results))

    def source_path(self) -> Path:
        return _HERE / "c" / f"{self.name}.c"

    def wasm_path(self, opt: str = "O0") -> Path:
        if opt not in OPT_LEVELS:
            raise KernelError(f"unknown optimisation level {opt!r}; expected one of {', '.join(OPT_LEVELS)}")
        return _HERE / "wasm" / f"{self.name}.{opt}.wasm"

    def wasm(self, opt: str = "O0") -> bytes:
        path = self.wasm_path(opt)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise KernelError(f"kernel {self.name!r} has no {opt} build at {path}; run build.sh") from None

    def tests_path(self) -> Path | None:
        """The kernel's JSON Lines test cases, or None when it ships none."""
        path = _HERE / "tests" / f"{self.name}.jsonl"
        return path if path.is_file() else None


def _k(name: str, category: str, description: str, params: tuple[str, ...] = ("i32",),
       results: tuple[str, ...] = ("i32",)) -> Kernel:
    return Kernel(name, name, category, description, params, results)


_BUF = ("i32", "i32")

KERNELS: tuple[Kernel, ...] = (
    _k("popcount", "bits", "number of set bits, one bit per loop iteration"),
    _k("parity", "bits", "1 when the number of set bits is odd, by loop"),
    _k("ctz", "bits", "count trailing zero bits by loop; 32 for zero"),
    _k("bit_reverse", "bits", "reverse the 32 bits, one per loop iteration"),
    _k("is_power_of_two", "bits", "1 when the unsigned input is a power of two"),
    _k("next_pow2", "bits", "smallest power of two >= x (unsigned), 0 on overflow, by loop"),
    _k("gcd", "arith", "greatest common divisor of two unsigned numbers (Euclid)", ("i32", "i32")),
    _k("isqrt", "arith", "floor square root of an unsigned number, bit by bit"),
    _k("modpow", "arith", "base ** exp % mod on unsigned numbers, square-and-multiply with 64-bit products",
       ("i32", "i32", "i32")),
    _k("fib", "arith", "n-th Fibonacci number modulo 2**64, iterative, n capped at 1000", ("i32",), ("i64",)),
    _k("collatz", "arith", "Collatz steps to reach 1 in 64-bit arithmetic, capped at 1000"),
    _k("digit_sum", "arith", "sum of the decimal digits of |n|"),
    _k("smoothstep", "arith", "Hermite smoothstep 3x^2 - 2x^3 clamped to [0, 1], in f64", ("f64",), ("f64",)),
    _k("clamp", "branch", "x limited to [lo, hi], signed", ("i32", "i32", "i32")),
    _k("sign", "branch", "-1, 0 or 1 by the sign of x"),
    _k("iabs", "branch", "absolute value, wrapping at INT_MIN"),
    _k("max3", "branch", "largest of three signed numbers", ("i32", "i32", "i32")),
    _k("alu", "branch", "switch over ten 32-bit operations (add, sub, mul, and, or, xor, shl, shr, min, max)",
       ("i32", "i32", "i32")),
    _k("days_in_month", "branch", "days in a Gregorian month by switch, 0 for an invalid month", ("i32", "i32")),
    _k("sum_bytes", "buffer", "sum of a byte buffer (ptr, len) modulo 2**32", _BUF),
    _k("fnv1a32", "buffer", "32-bit FNV-1a hash of a byte buffer (ptr, len)", _BUF),
    _k("count_byte", "buffer", "occurrences of a byte value in a buffer (ptr, len, byte)", ("i32", "i32", "i32")),
    _k("max_byte", "buffer", "largest byte in a buffer (ptr, len), 0 when empty", _BUF),
    _k("adler32", "buffer", "Adler-32 checksum of a byte buffer (ptr, len)", _BUF),
    _k("crc8", "buffer", "CRC-8 of a byte buffer (ptr, len) with the polynomial in the low byte of poly, bit by bit",
       ("i32", "i32", "i32")),
)


def _h(name: str, description: str, params: int = 1) -> Kernel:
    return Kernel(name, name, HACKER_CATEGORY, description, ("i32",) * params, ("i32",))


# Hacker's Delight p01-p25 as the program-synthesis literature states them (Gulwani et al.'s Brahma,
# STOKE), straight-line C: clang -O0 leaves every intermediate in a stack slot; -O2 finds most, not all.
HACKER_KERNELS: tuple[Kernel, ...] = (
    _h("p01", "turn off the rightmost 1-bit: x & (x - 1)"),
    _h("p02", "1 when unsigned x is 2^n - 1: x & (x + 1) == 0"),
    _h("p03", "isolate the rightmost 1-bit: x & -x"),
    _h("p04", "mask of the rightmost 1-bit and trailing 0s: x ^ (x - 1)"),
    _h("p05", "right-propagate the rightmost 1-bit: x | (x - 1)"),
    _h("p06", "turn on the rightmost 0-bit: x | (x + 1)"),
    _h("p07", "isolate the rightmost 0-bit: ~x & (x + 1)"),
    _h("p08", "mask of the trailing 0s: ~x & (x - 1)"),
    _h("p09", "absolute value without a branch, wrapping at INT_MIN"),
    _h("p10", "1 when nlz(x) == nlz(y)", 2),
    _h("p11", "1 when nlz(x) < nlz(y)", 2),
    _h("p12", "1 when nlz(x) <= nlz(y)", 2),
    _h("p13", "sign function: -1, 0 or 1, without a branch"),
    _h("p14", "floor of the unsigned average without overflow", 2),
    _h("p15", "ceiling of the unsigned average without overflow", 2),
    _h("p16", "larger of two signed numbers without a branch", 2),
    _h("p17", "turn off the rightmost contiguous string of 1-bits"),
    _h("p18", "1 when unsigned x is a power of 2"),
    _h("p19", "exchange two bit fields of x (mask m, distance k)", 3),
    _h("p20", "next higher unsigned number with the same number of 1-bits (traps at 0)"),
    _h("p21", "cycle through three values a -> b -> c -> a", 4),
    _h("p22", "parity of x by shifts, xors and a multiply"),
    _h("p23", "number of 1-bits of x by adding bit fields in parallel"),
    _h("p24", "round up to the next power of 2 by right-propagating bits"),
    _h("p25", "high word of the unsigned 32 x 32 product from 16-bit halves", 2),
)

ALL_KERNELS: tuple[Kernel, ...] = KERNELS + HACKER_KERNELS

DEFAULT_KERNEL = "popcount"

_BY_NAME: dict[str, Kernel] = {k.name: k for k in ALL_KERNELS}


def kernel_names() -> list[str]:
    """The default suite's names (KERNELS); `get_kernel` also knows the HACKER_KERNELS."""
    return [k.name for k in KERNELS]


def get_kernel(name: str) -> Kernel:
    """The kernel called `name`; KernelError (a ValueError) naming the valid choices otherwise."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise KernelError(f"unknown kernel {name!r}; available: {', '.join(kernel_names())}, "
                          f"and the Hacker's Delight programs p01 to p25") from None
