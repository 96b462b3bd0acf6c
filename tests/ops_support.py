"""Helpers for the loop and window operators' tests: "before and after agree under the sandbox on many
buffers", kernels and buffer cases ("this WAT becomes that WAT" is `genetics_support.assert_becomes`)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from genetics_support import KERNEL_DIR, wat  # noqa: F401 (wat: for the tests)
from genetics_support import is_valid as wasmtime_valid

from jeet.genetics import Genome, Operator
from jeet.sandbox import Outcome, Sandbox
from jeet.wasm import decode, validate

MEMORY_END = 2 * 65536  # the kernels' memory: 2 pages
# wasm-tools smith flags for WebAssembly 2.0 modules with SIMD (and nothing after 2.0)
SMITH_SIMD = [
    "--simd-enabled", "true", "--relaxed-simd-enabled", "false", "--gc-enabled", "false",
    "--exceptions-enabled", "false", "--memory64-enabled", "false", "--tail-call-enabled", "false",
    "--threads-enabled", "false", "--extended-const-enabled", "false", "--wide-arithmetic-enabled", "false",
    "--custom-page-sizes-enabled", "false", "--compact-imports-enabled", "false",
    "--custom-descriptors-enabled", "false", "--shared-everything-threads-enabled", "false",
    "--max-memories", "1", "--min-funcs", "3",
]
KERNEL_NAMES = tuple(sorted({p.name.rsplit(".", 2)[0] for p in KERNEL_DIR.glob("*.O2.wasm")}))


def _function_code(wasm: bytes, function: str) -> tuple[tuple, tuple]:
    m = decode(wasm)
    d = m.defined_index(m.export_func(function))
    body = m.bodies[d]
    return body.local_types(), tuple((i.op, i.imm) for i in body.instrs)


def assert_only_inserts(parent: bytes, child: bytes, function: str) -> int:
    """The child's function is the parent's with one run of new instructions inserted: every instruction
    the parent had (an earlier loop, its exit test) is still there, in order and unchanged. Returns the
    index of the insertion in the parent."""
    old, new = _function_code(parent, function)[1], _function_code(child, function)[1]
    head = next((k for k, (a, b) in enumerate(zip(old, new)) if a != b), len(old))
    tail = next((k for k, (a, b) in enumerate(zip(reversed(old), reversed(new))) if a != b), len(old))
    assert len(new) > len(old) and head + tail >= len(old), \
        f"{function}: the parent's instructions {head}..{len(old) - tail} changed"
    return head


BufferCase = tuple[tuple, tuple]  # (args, memory writes)


def buffer_cases(rng: random.Random, n: int, extra: Callable[[random.Random], tuple] = lambda r: (),
                 max_len: int = 40, two_buffers: bool = False) -> list[BufferCase]:
    """Cases (p, len, *extra) over random bytes: every length 0..max_len, unaligned starts, long
    buffers, buffers that end exactly at the end of memory, runs of one byte value."""
    cases = []
    lengths = list(range(max_len + 1)) + [rng.randint(41, 700) for _ in range(max(0, n - max_len - 1))]
    for k, length in enumerate(lengths):
        if k % 5 == 4:
            start = MEMORY_END - length  # the last byte of memory is the buffer's last byte
        else:
            start = 5000 + rng.randrange(64) + (k % 16)
        if k % 7 == 3:
            data = bytes([rng.choice((0, 7, 255))] * length)
        else:
            data = rng.randbytes(length)
        writes = [(start, data)]
        cases.append(((start, length, *extra(rng)), tuple(writes)))
    return cases


def two_buffer_cases(rng: random.Random, n: int, max_len: int = 40) -> list[BufferCase]:
    """Cases (a, b, len) over two buffers: equal, or differing in one random byte; every length
    0..max_len and longer ones; unaligned starts; one buffer ending at the end of memory; and a
    length that runs past the end of memory after an early difference (which the original never reads)."""
    cases = []
    for k in range(n):
        length = k if k <= max_len else rng.randint(max_len + 1, 400)
        a = rng.randbytes(length)
        b = bytearray(a)
        if length and rng.random() < 0.7:
            b[rng.randrange(length)] ^= 1 << rng.randrange(8)
        pa = 5000 + rng.randrange(64)
        pb = MEMORY_END - length if k % 4 == 1 else 9000 + rng.randrange(64)
        if k % 6 == 5 and length > 20:
            pb = MEMORY_END - length // 2
            b = bytearray(a[: length // 2])
            b[rng.randrange(len(b))] ^= 1
        cases.append(((pa, pb, length), ((pa, a), (pb, bytes(b)))))
    return cases


def target_cases(rng: random.Random, n: int, target: int | None = None) -> list[BufferCase]:
    """Cases (p, len[, target]) over buffers made mostly of one byte value with the odd other byte, so
    that searches run long and stop anywhere; some lengths run past the end of memory after a stop."""
    cases = []
    for k in range(n):
        length = k if k <= 40 else rng.randint(41, 400)
        fill = rng.choice((32, 0, 7)) if target is None else target
        data = bytearray([fill] * length)
        for _ in range(rng.choice((0, 0, 1, 2))):
            if length:
                data[rng.randrange(length)] = rng.choice((fill ^ 1, rng.randrange(256)))
        start = 5000 + rng.randrange(64)
        if k % 5 == 4:
            start = MEMORY_END - length
        elif k % 7 == 6 and length > 20:
            start = MEMORY_END - length // 2
            data = data[: length // 2]
            data[rng.randrange(len(data))] = fill ^ 1  # a search stops here, before the end of memory
        extra = () if target is not None else (rng.choice((fill, fill ^ 1, 300 + fill, -1)),)
        cases.append(((start, length, *extra), ((start, bytes(data)),)))
    return cases


def assert_same_behaviour(before: bytes, after: bytes, function: str, cases: Sequence[BufferCase],
                          sandbox: Sandbox | None = None) -> None:
    """Both modules give the same outcome and results on every case (a trap must match a trap); the
    original runs normally on most cases (so the comparison is not vacuous)."""
    box = sandbox or Sandbox(compiler="cranelift")
    ok = 0
    for args, memory in cases:
        a = box.call(before, function, args, memory)
        b = box.call(after, function, args, memory)
        ok += a.outcome is Outcome.OK
        assert a.outcome is b.outcome and (a.outcome is not Outcome.OK or a.results == b.results), \
            (function, args, [len(m[1]) for m in memory], a, b)
    assert ok >= 0.75 * len(cases), f"only {ok} of {len(cases)} cases ran normally"


def kernel(name: str, level: str) -> bytes:
    return (KERNEL_DIR / f"{name}.{level}.wasm").read_bytes()


def applied_over_kernels(op: Operator, seeds: int = 3) -> set[str]:
    """Apply `op` to every built-in kernel at -O0 and -O2 with `seeds` seeds each; every child must validate in
    jeet and in wasmtime. Returns the builds (`name.level`) it applied to."""
    applied = set()
    for name in KERNEL_NAMES:
        for level in ("O0", "O2"):
            wasm = kernel(name, level)
            g = Genome.from_bytes(wasm, next(iter(decode(wasm).exported_functions())))
            for seed in range(seeds):
                child = op.apply(random.Random(seed), [g])
                if child is not None:
                    validate(decode(child.wasm))
                    assert wasmtime_valid(child.wasm), (op.name, name, level, seed)
                    applied.add(f"{name}.{level}")
    return applied


def promoted(name: str) -> Genome:
    """A clang -O0 kernel after promote_slot lifted its frame slots into locals (as a run would)."""
    from jeet.genetics import OPERATORS

    g = Genome.from_bytes(kernel(name, "O0"), name)
    rng = random.Random(0)
    for _ in range(60):
        child = OPERATORS["promote_slot"]().apply(rng, [g])
        g = child or g
    return g
