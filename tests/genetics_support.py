"""Modules and helpers shared by the genetics tests."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import wasmtime

from jeet.genetics import Genome, Operator

ENGINE = wasmtime.Engine()
KERNEL_DIR = Path(__file__).resolve().parents[1] / "src" / "jeet" / "kernels" / "wasm"

# A bit-count loop in the shape a compiler emits for `while (x) { c += x & 1; x >>= 1; }`; POPCOUNT_TRIP
# is one trip of it (the test and the updates, without the branch back).
POPCOUNT_TRIP = """        local.get 0
        i32.eqz
        br_if 1
        local.get 1
        local.get 0
        i32.const 1
        i32.and
        i32.add
        local.set 1
        local.get 0
        i32.const 1
        i32.shr_u
        local.set 0"""
POPCOUNT_LOOP = f"""
(module
  (func (export "f") (param i32) (result i32) (local i32)
    block
      loop
{POPCOUNT_TRIP}
        br 0
      end
    end
    local.get 1))
"""

# clang -O0 style: a frame in linear memory addressed through local 3.
FRAME = """
(module
  (memory 1)
  (global $sp (mut i32) (i32.const 4096))
  (func (export "f") (param i32 i32) (result i32) (local i32 i32 i32 i32 i32)
    global.get $sp
    local.set 2
    i32.const 16
    local.set 4
    local.get 2
    local.get 4
    i32.sub
    local.set 3
    local.get 3
    global.set $sp
    local.get 3
    local.get 0
    i32.store offset=12
    local.get 3
    local.get 1
    i32.store offset=8
    local.get 3
    i32.load offset=12
    local.get 3
    i32.load offset=8
    i32.add
    local.set 5
    local.get 3
    i32.const 16
    i32.add
    local.set 6
    local.get 6
    global.set $sp
    local.get 5))
"""

# Several functions, every kind of block, branches with values, i64/f64, select, calls, memory.
MIXED = """
(module
  (type $bin (func (param i32 i32) (result i32)))
  (import "env" "ext" (func $ext (param i32) (result i32)))
  (memory 1)
  (global $g (mut i64) (i64.const 7))
  (table 2 funcref)
  (elem (i32.const 0) $helper $leaf)
  (func $helper (type $bin)
    local.get 0
    local.get 1
    i32.mul
    i32.const 3
    i32.add)
  (func $leaf (type $bin)
    local.get 0
    local.get 1
    i32.sub)
  (func $unused (param f32) (result f32)
    local.get 0
    f32.const 2.5
    f32.mul)
  (func (export "f") (param $x i32) (param $y i32) (result i32)
    (local $acc i64) (local $d f64) (local $i i32)
    i64.const 0
    local.set $acc
    block $done
      loop $next
        local.get $i
        local.get $x
        i32.ge_s
        br_if $done
        local.get $acc
        local.get $i
        i64.extend_i32_u
        i64.const 3
        i64.mul
        i64.add
        local.set $acc
        local.get $i
        i32.const 1
        i32.add
        local.set $i
        br $next
      end
    end
    local.get $y
    i32.const 4
    i32.mul
    local.get $acc
    i64.store offset=16
    local.get $x
    f64.convert_i32_s
    f64.const 0.5
    f64.mul
    local.set $d
    block $b (result i32)
      local.get $x
      i32.const 10
      i32.gt_s
      if (result i32)
        local.get $x
        local.get $y
        call $helper
      else
        local.get $y
        local.get $x
        i32.const 0
        call_indirect (type $bin)
      end
      local.get $y
      br_if $b
      drop
      block $c
        block $a
          local.get $y
          i32.const 3
          i32.and
          br_table $a $c $a
        end
        i32.const 5
        call $ext
        drop
      end
      local.get $d
      i32.trunc_f64_s
      global.get $g
      i32.wrap_i64
      i32.xor
    end
    i32.const 1
    i32.const 2
    local.get $x
    select
    i32.add
    i32.const 0
    i64.load offset=16
    i64.popcnt
    i32.wrap_i64
    i32.add
    return))
"""

# Multi-value blocks with parameters, typed select, dead code with nested blocks, f32, memory.grow.
EXOTIC = """
(module
  (type $pair (func (param i32) (result i32 i32)))
  (type $acc (func (param i32 i32) (result i32)))
  (memory 1 4)
  (func $split (type $pair) local.get 0 i32.const 16 i32.shr_u local.get 0 i32.const 65535 i32.and)
  (func (export "f") (param $x i32) (param $y f32) (result i32) (local $z f32) (local $k i32)
    local.get $x
    call $split
    block (type $acc)
      i32.add
      local.get $x
      i32.const 7
      i32.rem_u
      br_if 0
      i32.const 3
      i32.mul
    end
    local.set $k
    local.get $y
    f32.const 1.5
    f32.mul
    local.tee $z
    f32.const 0
    f32.gt
    if
      local.get $k
      local.get $z
      i32.trunc_sat_f32_s
      i32.add
      local.set $k
    end
    i32.const 0
    loop (param i32) (result i32)
      local.get $k
      i32.add
      local.get $k
      i32.const 1
      i32.sub
      local.tee $k
      i32.const 0
      i32.gt_s
      br_if 0
    end
    local.get $k
    i32.const 5
    local.get $x
    select (result i32)
    i32.add
    memory.size
    i32.add
    local.get $x
    i32.const 1000
    i32.gt_u
    if (result i32)
      i32.const 1
      return
      block
        i32.const 2
        drop
        nop
      end
      i32.const 9
    else
      i32.const 0
    end
    i32.add
    return
    unreachable))
"""

# C sources compiled at test time when clang is available.
C_SOURCES = {
    "loops": """
        static int step(int a, int b) { return a * 3 + (b ^ a); }
        int f(int n, int m) {
            int s = 0;
            long long acc = 1;
            for (int i = 0; i < n && i < 64; i++) {
                s += step(i, m);
                if (s & 1) acc *= 3; else acc += s;
            }
            switch (m & 3) { case 0: s += 1; break; case 1: s -= 2; break; default: s ^= 5; }
            return s + (int)(acc >> 3);
        }
    """,
    "floats": """
        double f(double x, int k) {
            double y = x * 0.5;
            float z = (float)k;
            for (int i = 0; i < k && i < 10; i++) y = y * 1.25 + z;
            return y > 100.0 ? y - 100.0 : y;
        }
    """,
}


def wat(text: str) -> bytes:
    return wasmtime.wat2wasm(text)


def is_valid(wasm: bytes) -> bool:
    try:
        wasmtime.Module.validate(ENGINE, wasm)
    except wasmtime.WasmtimeError:
        return False
    return True


def clang_module(name: str, opt: str, tmp: Path) -> bytes | None:
    """Compile C_SOURCES[name] with clang at -O0/-O2, or None when clang cannot build wasm32."""
    clang = shutil.which("clang")
    if clang is None:
        return None
    src = tmp / f"{name}.c"
    out = tmp / f"{name}.{opt}.wasm"
    src.write_text(C_SOURCES[name])
    cmd = [clang, "--target=wasm32", f"-{opt}", "-nostdlib", "-Wl,--no-entry", "-Wl,--export=f",
           "-o", str(out), str(src)]
    if subprocess.run(cmd, capture_output=True).returncode != 0:
        return None
    return out.read_bytes()


def kernel_modules(names: tuple[str, ...], opts: tuple[str, ...] = ("O0",)) -> dict[str, tuple[bytes, str]]:
    """Built-in kernels present on disk: label -> (wasm, exported function)."""
    out = {}
    for name in names:
        for opt in opts:
            path = KERNEL_DIR / f"{name}.{opt}.wasm"
            if path.is_file():
                out[f"{name}.{opt}"] = (path.read_bytes(), name)
    return out


def offspring(op: Operator, seed_genomes: list[Genome], n: int, seed: int,
              pool_cap: int = 24) -> tuple[int, int, list[Genome]]:
    """Apply `op` n times, drawing parents from a pool that grows with valid offspring.

    Returns (children made, children valid, the valid children)."""
    rng = random.Random(seed)
    pool = list(seed_genomes)
    made = valid = 0
    kept: list[Genome] = []
    for _ in range(n):
        parents = [rng.choice(pool) for _ in range(op.arity)]
        child = op.apply(rng, parents)
        if child is None:
            continue
        made += 1
        if is_valid(child.wasm):
            valid += 1
            kept.append(child)
            if len(pool) < pool_cap:
                pool.append(child)
            else:
                pool[rng.randrange(len(seed_genomes), pool_cap)] = child
    return made, valid, kept


# -- "this WAT becomes that WAT" -----------------------------------------------------------------


def bodies(wasm: bytes) -> list[tuple[tuple, list[str]]]:
    """Every defined function as (local types, instruction texts): what two modules are compared by."""
    from jeet.wasm.decode import decode

    return [(body.local_types(), [repr(i) for i in body.instrs]) for body in decode(wasm).bodies]


def printed(wasm: bytes) -> str:
    """The module as text, for a failure message (wasm-tools when installed, else jeet's instruction lists)."""
    exe = shutil.which("wasm-tools")
    if exe is not None:
        r = subprocess.run([exe, "print"], input=wasm, capture_output=True)
        if r.returncode == 0:
            return r.stdout.decode()
    return "\n".join(f"{locals_} {instrs}" for locals_, instrs in bodies(wasm))


def assert_becomes(operator: Operator, seed: int, before_wat: str, after_wat: str | None,
                   function: str = "f") -> Genome | None:
    """Apply `operator` with `random.Random(seed)` to the module of `before_wat` (evolving `function`): every
    body of the child (locals and instructions) must equal those of `after_wat`, and the child must validate
    in jeet and in wasmtime. `after_wat` None: the operator must answer "not applicable" (None)."""
    from jeet.wasm import decode, validate

    parent = Genome.from_bytes(wat(before_wat), function)
    child = operator.apply(random.Random(seed), [parent])
    if after_wat is None:
        assert child is None, f"{operator.name} applied and produced:\n{printed(child.wasm)}"
        return None
    assert child is not None, f"{operator.name} did not apply"
    got, expected = bodies(child.wasm), bodies(wat(after_wat))
    assert got == expected, f"{operator.name} produced:\n{printed(child.wasm)}\ngot:      {got}\nexpected: {expected}"
    validate(decode(child.wasm))
    assert is_valid(child.wasm)
    return child


def edge_values(bits: int = 32) -> list[int]:
    """Signed values around the edges of a `bits`-wide integer: 0, ±1, powers of two and their
    neighbours, INT_MIN, INT_MAX, alternating bit patterns."""
    top = 1 << bits
    out = {0, 1, 2, 3, 5, 7, 9, 10, 100, 255, 256, top - 1, top - 2, (top >> 1) - 1, top >> 1, (top >> 1) + 1,
           int("55" * (bits // 8), 16), int("AA" * (bits // 8), 16)}
    for k in range(bits):
        out.update({(1 << k) - 1, 1 << k, (1 << k) + 1, top - (1 << k)})
    return sorted(v - top if v >= top >> 1 else v for v in (x % top for x in out))


def random_args(rng: random.Random, params: tuple[int, ...], n: int) -> list[tuple[int, ...]]:
    """n argument tuples of the given widths (32 or 64), half of the values drawn from the edges."""
    edges = {bits: edge_values(bits) for bits in set(params)}
    out = []
    for _ in range(n):
        args = []
        for bits in params:
            if rng.random() < 0.5:
                args.append(rng.choice(edges[bits]))
            else:
                args.append(rng.randrange(-(1 << (bits - 1)), 1 << (bits - 1)))
        out.append(tuple(args))
    return out


class _Case:
    """A call with arguments and nothing else, shaped like `jeet.oracle.Case` for the sandbox."""

    def __init__(self, args: tuple) -> None:
        self.args, self.memory, self.expect_memory, self.trap = tuple(args), (), (), False


def assert_same_behaviour(sandbox, before: bytes, after: bytes, args: list[tuple], function: str = "f") -> None:
    """Both modules return the same values, or both trap, for every argument tuple."""
    from jeet.sandbox import Outcome

    cases = [_Case(a) for a in args]
    old = sandbox.run(before, function, cases, fresh_instance_per_case=True)
    new = sandbox.run(after, function, cases, fresh_instance_per_case=True)
    for a, x, y in zip(args, old, new):
        assert x.outcome is not Outcome.INVALID and y.outcome is not Outcome.INVALID, (x.message, y.message)
        assert (x.outcome, x.results) == (y.outcome, y.results), (a, x, y)
