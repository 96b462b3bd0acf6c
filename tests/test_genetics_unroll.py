"""unroll: loops repeated 2 or 4 times per trip, computing the same for every trip count."""

from __future__ import annotations

import random

import pytest
from genetics_support import POPCOUNT_LOOP, POPCOUNT_TRIP, assert_becomes, assert_same_behaviour, edge_values, wat

from jeet.genetics import Genome
from jeet.genetics.sites import facts
from jeet.genetics.unroll import Counter, Unroll, find_loops, guard

UNROLL = Unroll()

# do { s += i; } while (++i < n);   i starts at the first parameter, n is the second
COUNTED = """(module (func (export "f") (param i32 i32) (result i32) (local i32 i32)
  local.get 0 local.set 2
  loop
    local.get 3 local.get 2 i32.add local.set 3
    local.get 2 i32.const 1 i32.add local.tee 2 local.get 1 i32.lt_s br_if 0
  end
  local.get 3))"""

BODY = "local.get 3 local.get 2 i32.add local.set 3 local.get 2 i32.const 1 i32.add local.tee 2 local.get 1 i32.lt_s"


def test_a_counted_loop_runs_two_trips_per_test_when_both_are_due():
    # seed 0 unrolls by 2: the guard says i + 1 < n without overflow, so the first test would pass
    assert_becomes(UNROLL, 0, COUNTED, f"""(module (func (export "f") (param i32 i32) (result i32) (local i32 i32)
      local.get 0 local.set 2
      loop
        local.get 2 i32.const 2147483646 i32.le_s local.get 2 i32.const 1 i32.add local.get 1 i32.lt_s i32.and
        if (result i32) {BODY} drop {BODY} else {BODY} end
        br_if 0
      end
      local.get 3))""")


def test_by_four_the_guard_looks_three_trips_ahead():
    assert_becomes(UNROLL, 1, COUNTED, f"""(module (func (export "f") (param i32 i32) (result i32) (local i32 i32)
      local.get 0 local.set 2
      loop
        local.get 2 i32.const 2147483644 i32.le_s local.get 2 i32.const 3 i32.add local.get 1 i32.lt_s i32.and
        if (result i32) {BODY} drop {BODY} drop {BODY} drop {BODY} else {BODY} end
        br_if 0
      end
      local.get 3))""")


def test_clangs_loop_shapes_are_counted():
    """`local.tee i br_if 0` counting down (the -O2 remainder loops) and `n (i += 4) ne br_if 0`."""
    down = Genome.from_bytes(wat("""(module (func (export "f") (param i32) (result i32) (local i32)
      loop local.get 1 local.get 0 i32.add local.set 1 local.get 0 i32.const -1 i32.add local.tee 0 br_if 0 end
      local.get 1))"""), "f")
    assert [lp.counter for lp in find_loops(facts(down, 0))] == [Counter(0, -1, "ne", ("const", 0))]
    by_four = Genome.from_bytes(wat("""(module (func (export "f") (param i32 i32) (result i32) (local i32)
      loop local.get 2 local.get 0 i32.xor local.set 2 local.get 1 local.get 0 i32.const 4 i32.add local.tee 0 i32.ne br_if 0 end
      local.get 2))"""), "f")
    assert [lp.counter for lp in find_loops(facts(by_four, 0))] == [Counter(0, 4, "ne", ("local", 1))]


def test_a_loop_tested_first_is_repeated_with_every_test_kept():
    assert_becomes(UNROLL, 0, POPCOUNT_LOOP, f"""(module (func (export "f") (param i32) (result i32) (local i32)
      block loop {POPCOUNT_TRIP} {POPCOUNT_TRIP} br 0 end end local.get 1))""")


def test_a_loop_tested_last_but_not_counted_keeps_every_test():
    text = """(module (func (export "f") (param i32) (result i32) (local i32)
      loop local.get 1 i32.const 1 i32.add local.set 1 local.get 0 i32.const 1 i32.shr_u local.tee 0 br_if 0 end
      local.get 1))"""
    b = "local.get 1 i32.const 1 i32.add local.set 1 local.get 0 i32.const 1 i32.shr_u local.tee 0"
    assert_becomes(UNROLL, 0, text, f"""(module (func (export "f") (param i32) (result i32) (local i32)
      block loop {b} i32.eqz br_if 1 {b} br_if 0 end end
      local.get 1))""")


@pytest.mark.parametrize("text", [
    # the body leaves the loop from the middle
    """(module (func (export "f") (param i32) (result i32) (local i32)
      block loop local.get 1 i32.const 9 i32.gt_u br_if 1 local.get 1 i32.const 1 i32.add local.tee 1 local.get 0 i32.lt_u br_if 0 end end
      local.get 1))""",
    # a loop with a result
    """(module (func (export "f") (param i32) (result i32)
      loop (result i32) local.get 0 i32.const 1 i32.sub local.tee 0 local.get 0 br_if 0 end))""",
])
def test_loops_it_leaves_alone(text):
    assert_becomes(UNROLL, 0, text, None)


I32_MIN, I32_MAX = -2**31, 2**31 - 1


def _trips(start: int, step: int, rel: str, bound: int, limit: int = 64) -> int | None:
    """How many trips the do-while runs, with 32-bit wrap-around; None beyond `limit`."""
    i = start
    for n in range(1, limit + 1):
        i = (i + step + 2**31) % 2**32 - 2**31
        a, b = (i, bound) if rel.endswith("_s") or rel == "ne" else (i % 2**32, bound % 2**32)
        go = {"ne": a != b, "lt_s": a < b, "lt_u": a < b, "le_s": a <= b, "le_u": a <= b,
              "gt_s": a > b, "gt_u": a > b, "ge_s": a >= b, "ge_u": a >= b}[rel]
        if not go:
            return n
    return None


@pytest.mark.parametrize("step, rel", [(1, "lt_s"), (1, "lt_u"), (1, "le_s"), (1, "ne"), (3, "lt_s"), (4, "ne"),
                                       (-1, "gt_s"), (-1, "ge_u"), (-2, "gt_u"), (-1, "ne"), (5, "le_u")])
def test_every_trip_count_computes_the_same(sandbox, step, rel):
    """Trip counts 1 to 64 (a loop tested last always runs once: `n - i` of 0 is one trip), starts
    and bounds at the edges of the signed and unsigned ranges, by 2 and by 4."""
    text = f"""(module (func (export "f") (param i32 i32) (result i32) (local i32 i32)
      local.get 0 local.set 2
      loop
        local.get 3 i32.const 31 i32.mul local.get 2 i32.xor local.set 3
        local.get 2 i32.const {step} i32.add local.tee 2 local.get 1 i32.{rel} br_if 0
      end
      local.get 3 local.get 2 i32.add))"""
    g = Genome.from_bytes(wat(text), "f")
    assert find_loops(facts(g, 0))[0].counter is not None
    rng = random.Random(step * 100 + len(rel))
    starts = [0, 1, -1, 7, I32_MAX, I32_MAX - 1, I32_MAX - 5, I32_MIN, I32_MIN + 2, -7, 2**31 - 40]
    args = []
    for start in starts:
        for delta in list(range(-6, 12)) + [rng.randrange(-64, 64) for _ in range(6)]:
            bound = (start + delta * step + 2**31) % 2**32 - 2**31
            if _trips(start, step, rel, bound) is not None:
                args.append((start, bound))
    trip_counts = {_trips(a, step, rel, b) for a, b in args}
    assert {1, 2, 3, 5} <= trip_counts
    children = {UNROLL.apply(random.Random(seed), [g]).wasm for seed in range(6)}
    assert len(children) == 2  # by 2 and by 4
    for child in children:
        assert_same_behaviour(sandbox, g.wasm, child, args)


@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("step, rel", [(1, "lt_s"), (1, "lt_u"), (2, "le_s"), (1, "ne"), (4, "ne"), (-1, "gt_s"),
                                       (-3, "ge_u"), (-1, "ne")])
def test_the_guard_is_sound_and_takes_the_fast_path_when_it_can(sandbox, k, step, rel):
    """guard(i, n) = 1 only when the K - 1 tests after the next steps all pass; and it is 1 whenever
    they pass without the counter wrapping (so the unrolled path is taken in the common case)."""
    code = " ".join(repr(ins) for ins in guard(Counter(0, step, rel, ("local", 1)), k))
    module = wat(f"""(module (func (export "f") (param i32 i32) (result i32) {code}))""")
    rng = random.Random(k * 10 + step)
    values = edge_values(32)
    args = [(rng.choice(values), rng.choice(values)) for _ in range(300)]
    args += [(i, i + d * step) for i in (0, 5, -9, 1000) for d in range(-3, 3 * k)]
    args = [((a + 2**31) % 2**32 - 2**31, (b + 2**31) % 2**32 - 2**31) for a, b in args]
    results = sandbox.run(module, "f", [_Args(a) for a in args])
    for (i, n), result in zip(args, results):
        passes = all(_trips(i, step, rel, n, limit=j) is None for j in range(1, k))
        wraps = not I32_MIN <= i + (k - 1) * step <= I32_MAX if rel.endswith("_s") or rel == "ne" \
            else not 0 <= (i % 2**32) + (k - 1) * step < 2**32
        assert not result.results[0] or passes, (i, n)
        # with a step of 4 and `!=`, a bound the counter never meets (n - i not a multiple of 4) runs
        # forever or wraps: the guard need not look for the fast path there
        lands = rel != "ne" or (n - i) % step == 0
        if passes and not wraps and lands:
            assert result.results[0] == 1, (i, n)


class _Args:
    def __init__(self, args):
        self.args, self.memory, self.expect_memory, self.trap = args, (), (), False


# clang -O0's `for (i = start; i < n; i++) s = s * 31 ^ i;` after promote_slot: tested first, the test
# and the step passing through temporaries 4, 5 and 6.
FOR_O0 = """(module (func (export "f") (param i32 i32) (result i32) (local i32 i32 i32 i32 i32 i32)
  local.get 0 local.set 2
  block
    loop
      local.get 2 local.set 4 local.get 4 local.get 1 i32.{rel} i32.const 1 i32.and i32.eqz br_if 1
      local.get 3 i32.const 31 i32.mul local.get 2 i32.xor local.set 3
      local.get 2 local.set 5 local.get 5 i32.const {step} i32.add local.set 6 local.get 6 local.set 2
      br 0
    end
  end
  local.get 3 local.get 2 i32.add))"""

STEP = "local.get 3 i32.const 31 i32.mul local.get 2 i32.xor local.set 3 " \
       "local.get 2 local.set 5 local.get 5 i32.const 1 i32.add local.set 6 local.get 6 local.set 2"
TEST = "local.get 2 local.set 4 local.get 4 local.get 1 i32.lt_s i32.const 1 i32.and i32.eqz"


def test_a_counted_loop_tested_first_runs_two_trips_per_guard():
    # the guard looks at i - 1 (local 8): the tests of i and i + 1 pass
    assert_becomes(UNROLL, 0, FOR_O0.format(rel="lt_s", step=1), f"""(module
      (func (export "f") (param i32 i32) (result i32) (local i32 i32 i32 i32 i32 i32 i32)
      local.get 0 local.set 2
      block
        loop
          local.get 2 i32.const 1 i32.sub local.set 8
          local.get 8 i32.const 2147483645 i32.le_s local.get 8 i32.const 2 i32.add local.get 1 i32.lt_s i32.and
          if {STEP} {STEP} br 1 end
          {TEST} br_if 1 {STEP} br 0
        end
      end
      local.get 3 local.get 2 i32.add))""")


def _trips_first(start: int, step: int, rel: str, bound: int, limit: int = 64) -> int | None:
    """Trips of the loop tested first: the do-while's count less one, or 0 when the first test fails."""
    first = _trips(start - step, step, rel, bound, limit + 1)
    return None if first is None else first - 1


@pytest.mark.parametrize("step, rel", [(1, "lt_s"), (1, "lt_u"), (1, "le_s"), (1, "ne"), (3, "lt_s"), (4, "ne"),
                                       (-1, "gt_s"), (-1, "ge_u"), (-2, "gt_u"), (-1, "ne")])
def test_every_trip_count_of_a_loop_tested_first_computes_the_same(sandbox, step, rel):
    """Trip counts 0 to 64, starts and bounds at the edges, by 2 and by 4."""
    g = Genome.from_bytes(wat(FOR_O0.format(rel=rel, step=step)), "f")
    loop = find_loops(facts(g, 0))[0]
    assert loop.counter is not None and loop.counter.step == step and loop.counter.rel == rel
    rng = random.Random(step * 10 + len(rel))
    args = []
    for start in [0, 1, -1, 7, I32_MAX, I32_MAX - 1, I32_MAX - 5, I32_MIN, I32_MIN + 2, -7, 2**31 - 40]:
        for delta in list(range(-6, 12)) + [rng.randrange(-64, 64) for _ in range(6)]:
            bound = (start + delta * step + 2**31) % 2**32 - 2**31
            if _trips_first(start, step, rel, bound) is not None:
                args.append((start, bound))
    assert {0, 1, 2, 3, 5} <= {_trips_first(a, step, rel, b) for a, b in args}
    children = {UNROLL.apply(random.Random(seed), [g]).wasm for seed in range(6)}
    assert len(children) == 2
    for child in children:
        assert_same_behaviour(sandbox, g.wasm, child, args)
