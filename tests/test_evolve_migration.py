"""Migration between islands: immigrants are re-scored on the receiving island and join its population
only if correct; fair replacement never lets a worse immigrant push out a better resident."""

from __future__ import annotations

import pytest
import wasmtime

from jeet.errors import JeetError
from jeet.evolve import EvolveConfig, Evolution, load_problem


def _evo(problem, **kw) -> Evolution:
    # fuel decides here: migration is about who joins, not about the native-time race at the end
    cfg = dict(population=12, generations=4, budget_s=None, workers=1, use_wasm_opt=False, seed=5, objective="fuel")
    cfg.update(kw)
    return Evolution(problem, EvolveConfig(**cfg))


def test_a_better_immigrant_joins_and_survives_the_next_round():
    problem = load_problem(None, kernel="popcount", seed=1)
    with _evo(problem, generations=30, seed=7) as donor:
        donor.run()
        best = donor.champion
    assert best.evaluation.fuel < donor.baseline.fuel
    with _evo(problem, generations=2) as island:
        island.start()
        joined = island.immigrate([best.wasm], source="island-1")
        assert [m.sha256 for m in joined] == [best.sha256]
        assert joined[0].operator == "island-1"
        assert island.population[0].evaluation.fuel <= best.evaluation.fuel
        island.step()
        assert best.sha256 in {m.sha256 for m in island.population}  # elitism keeps it


def test_wrong_and_invalid_immigrants_are_refused():
    problem = load_problem(None, kernel="popcount", seed=1)
    with _evo(problem) as island:
        island.start()
        before = [m.sha256 for m in island.population]
        wrong = wasmtime.wat2wasm(f'(module (func (export "{problem.function}") (param i32) (result i32) i32.const 0))')
        assert island.immigrate([b"\0asm\x01\0\0\0garbage", bytes(wrong)]) == []
        assert [m.sha256 for m in island.population] == before


def test_fair_replacement_keeps_better_residents_and_policies_are_checked():
    problem = load_problem(None, kernel="popcount", seed=1)
    with _evo(problem, generations=20) as island:
        island.run()
        size = len(island.population)
        worst = island.population[-1]
        # a copy of a resident is not an immigrant
        assert island.immigrate([island.population[0].wasm, island.population[-1].wasm]) == []
        assert len(island.population) == size
        assert island.emigrants(3) == island.population[:3]
        assert len(island.emigrants(3, "random")) == 3
        with pytest.raises(JeetError):
            island.emigrants(1, "worst-first")
        with pytest.raises(JeetError):
            island.immigrate([worst.wasm], policy="nope")
