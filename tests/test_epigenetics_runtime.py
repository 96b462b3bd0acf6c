"""Serving crc8 through jeet.Runtime with the epigenetics expression: each call runs the variant of its environment."""

from __future__ import annotations

import hashlib


from jeet.epigenetics import Environment, ExpressConfig, build_expression, resolve_target
from jeet.kernels import BUFFER_BASE, get_kernel

import jeet.runtime as runtime

CONFIG = ExpressConfig(budget_s=0, held_out_per_env=60, measure_cases=24, use_wasm_opt=False)


def test_the_runtime_serves_each_environment_its_best_verified_variant(tmp_path):
    built = build_expression(resolve_target("crc8", config=CONFIG), CONFIG)
    kernel = get_kernel("crc8")
    expr = built.expression()
    original = hashlib.sha256(kernel.wasm("O0")).hexdigest()
    with runtime.Runtime(tmp_path / "data", hot=10**9) as rt:  # never hot: only expression changes what runs
        f = rt.load(kernel.wasm("O0"), "crc8")
        accepted = f.express(expr)
        # the runtime re-verifies every variant on its own held-out cases and proof, and serves only what it
        # accepted (a bit loop whose proof against the original's does not finish is not served)
        assert set(accepted) <= set(built.table.variants()) and set(accepted) - {original}
        expr.restrict(accepted)
        chosen = {}
        for env in ("small", "large"):
            ranked = built.table.ranking(Environment(env), among=set(accepted))
            chosen[env] = ranked[0][0]
        assert built.table.fuel(Environment("large"), chosen["large"]) < \
            built.table.fuel(Environment("large"), original) / 2  # a table variant
        # the buffer page of a fresh instance is zero, and the CRC-8 (init 0) of zero bytes is 0
        for n in (0, 3, 7, 8, 2000, 8000):
            assert f(BUFFER_BASE, n, 7) == 0
        stats = f.stats()["expression"]
        assert stats["choose_errors"] == 0 and stats["observe_errors"] == 0
    # every call went through choose() and came back through observe(), booked in its environment
    observed = {(env.size, sha): e.calls for env in expr.table.environments()
                for sha in built.table.variants() if (e := expr.table.entry(env, sha)) is not None and e.calls}
    assert observed == {("small", chosen["small"]): 3, ("large", chosen["large"]): 3}
