"""No false rejection: every kernel's -O0 and -O2 builds pass the oracle built from them, and the -O2 build
passes the -O0 build's oracle (what evolving from -O0 must be free to reach). Not the reverse: -O0 code
writes a frame below the stack pointer where the -O2 original writes nothing, and only the original's
frame is scratch."""

from __future__ import annotations

import pytest

from jeet.kernels import get_kernel, kernel_names
from jeet.oracle import differential_oracle, load_tests, tests_oracle


def build(sandbox, kernel, opt: str, held_out_seed: int):
    data = kernel.wasm(opt)
    sig = sandbox.signature(data, kernel.function)
    path = kernel.tests_path()
    if path is None:
        return differential_oracle(sandbox, data, kernel.function, seed=0, held_out_seed=held_out_seed,
                                   held_out_factor=100)
    tests = load_tests(path, sig.params, sig.results)
    return tests_oracle(sandbox, data, kernel.function, tests, seed=0, held_out_seed=held_out_seed,
                        held_out_factor=100)


@pytest.mark.parametrize("name", kernel_names())
def test_builds_pass_their_own_oracle_and_O2_passes_O0s(sandbox, name):
    kernel = get_kernel(name)
    for opt, subjects in (("O0", ("O0", "O2")), ("O2", ("O2",))):
        oracle = build(sandbox, kernel, opt, held_out_seed=sum(name.encode()))
        for subject in subjects:
            verdict = oracle.verify(sandbox, kernel.wasm(subject), kernel.function, oracle.held_out,
                                    stop_at_first_failure=False)
            assert verdict.ok, f"{name} {subject} against the {opt} oracle: {verdict.message}"
