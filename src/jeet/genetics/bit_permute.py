"""bit_permute: a function that only moves the bits of its argument becomes shifts and masks, without a loop.

Reversing the bits of x, swapping its bytes or gathering some of its bits are loops at -O0 and at -O2
(clang keeps a loop of 4 bits a trip), though each output bit is one fixed input bit. When the evolved
function takes one integer x, returns one of the same type, and only computes (no memory, globals or
calls), the operator runs it on probes: f(0) = c, and for each one-hot input e_i, f(e_i) ^ c is 0 or one
bit π(i), no two alike; and f(x) = π(x) ^ c on random x too. Then the body becomes, cheapest first:

    π(i) = i ^ k          one swap of adjacent 2^j-bit blocks per bit j of k (a rotation for the halves):
                          reversal is k = W - 1 (5 swaps for i32), a byte swap k = 24
    π(i) = (i + r) mod W  rotl by r
    otherwise             the OR over each distinct distance d = π(i) - i of (x << d, or x >>u -d) & mask,
                          when there are at most MAX_GROUPS distances
followed by `^ c` when c is not 0. Probes are a filter, not a proof: the gate's held-out cases and the
equivalence proof judge the child, as for closed_form and stoke. The function runs in jeet's sandbox
(`_probe`), once per body: the answer is memoised with it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from jeet.wasm.ir import Instr
from jeet.wasm.types import I32, I64

from ._probe import pure_function
from ._rewrite import I, checked_child, signed
from .operator import Genome, Operator
from .sites import Facts, facts, pick_target

__all__ = ["BitPermute", "Permutation", "permutation_of", "network"]

MAX_GROUPS = 8          # distances the general form may OR together before it costs more than it saves
RANDOM_PROBES = 24      # random inputs the permutation must also explain

Permutation = tuple[tuple[int, ...], int]  # π as the output bit of each input bit (-1: dropped), and c


def permutation_of(f, width: int, rng: random.Random) -> Permutation | None:
    """π and c with f(x) == π(x) ^ c on every probe, or None; `f` maps an unsigned int to one (None: it failed)."""
    mask = (1 << width) - 1
    c = f(0)
    if c is None:
        return None
    targets = []
    for i in range(width):
        y = f(1 << i)
        if y is None:
            return None
        y ^= c
        if y & (y - 1):
            return None  # more than one bit: not a permutation
        targets.append(y.bit_length() - 1 if y else -1)
    hit = [t for t in targets if t >= 0]
    if len(hit) != len(set(hit)) or not hit:
        return None
    perm = (tuple(targets), c)
    for _ in range(RANDOM_PROBES):
        x = rng.getrandbits(width) & mask
        if f(x) != apply(perm, x):
            return None
    return perm


def apply(perm: Permutation, x: int) -> int:
    targets, c = perm
    out = 0
    for i, t in enumerate(targets):
        if t >= 0 and x >> i & 1:
            out |= 1 << t
    return out ^ c


def network(perm: Permutation, width: int, x: int) -> list[Instr] | None:
    """Straight-line code leaving π(local x) ^ c (it may overwrite local x), or None when no form is cheap."""
    targets, c = perm
    t = "i32" if width == 32 else "i64"
    mask = (1 << width) - 1

    def k_(v: int) -> Instr:
        return I(f"{t}.const", signed(v & mask, I32 if width == 32 else I64))

    code: list[Instr] | None = None
    if all(p >= 0 for p in targets):
        key = targets[0]
        if all(p == i ^ key for i, p in enumerate(targets)) and key:
            code = []
            for j in range(width.bit_length() - 1):
                s = 1 << j
                if not key & s:
                    continue
                if 2 * s == width:
                    code += [I("local.get", x), k_(s), I(f"{t}.rotl"), I("local.set", x)]
                    continue
                m = _block_mask(s, width)
                code += [I("local.get", x), k_(s), I(f"{t}.shr_u"), k_(m), I(f"{t}.and"),
                         I("local.get", x), k_(m), I(f"{t}.and"), k_(s), I(f"{t}.shl"), I(f"{t}.or"), I("local.set", x)]
            code.append(I("local.get", x))
        elif all(p == (i + key) % width for i, p in enumerate(targets)) and key:
            code = [I("local.get", x), k_(key), I(f"{t}.rotl")]
    if code is None:
        groups: dict[int, int] = {}
        for i, p in enumerate(targets):
            if p >= 0:
                groups[p - i] = groups.get(p - i, 0) | 1 << p
        if len(groups) > MAX_GROUPS:
            return None
        code = []
        for n, (d, m) in enumerate(sorted(groups.items())):
            code.append(I("local.get", x))
            if d:
                code += [k_(abs(d)), I(f"{t}.shl" if d > 0 else f"{t}.shr_u")]
            if m != mask:
                code += [k_(m), I(f"{t}.and")]
            if n:
                code.append(I(f"{t}.or"))
    if c:
        code += [k_(c), I(f"{t}.xor")]
    return code


def _block_mask(s: int, width: int) -> int:
    """The bits whose index has bit log2(s) clear: 0x55555555 for s = 1, 0x0000FFFF for s = 16 (width 32)."""
    return sum(1 << i for i in range(width) if not i & s)


def find_permutation(genome: Genome, index: int) -> tuple[Permutation, int] | None:
    """(π and c, width) when defined function `index` is a pure function of one integer that permutes its bits."""
    f: Facts = facts(genome, index)
    if len(f.params) != 1 or f.params != f.results:
        return None
    width = 32 if f.params[0] == I32 else 64
    with pure_function(genome, index) as call:
        perm = permutation_of(call, width, random.Random(f"jeet.genetics.bit_permute/{width}")) if call else None
    return (perm, width) if perm is not None else None


class BitPermute(Operator):
    name = "bit_permute"

    def propose(self, rng: random.Random, parents: Sequence[Genome]) -> Genome | None:
        parent = parents[0]
        index = pick_target(parent, rng)
        if index is None:
            return None
        found = parent.memo_body("bit_permutation", index, lambda: find_permutation(parent, index))
        if found is None:
            return None
        perm, width = found
        code = network(perm, width, 0)
        if code is None:
            return None
        body = facts(parent, index).body
        return checked_child(parent, index, body.with_instrs(tuple(code) + (I("end"),)))
