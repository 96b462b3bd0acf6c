"""Native time decides: the race never prefers a variant to itself, the output does no harm, and
`--objective fuel` (or an input that cannot be timed) keeps the fuel behaviour."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import wasmtime

from jeet.evolve import EvolveConfig, Evolution, load_problem
from jeet.evolve import loop as loop_module
from jeet.evolve.gate import Candidate
from jeet.evolve.race import NativeTimeRace, decide_output, final_judgement, probe
from jeet.kernels import get_kernel
from jeet.oracle import Case
from jeet.timing import FEATURES
from jeet.wasm import decode

FEATURES_INDEX = {name: i for i, name in enumerate(FEATURES)}

POPCNT = bytes(wasmtime.wat2wasm('(module (func (export "f") (param i32) (result i32) (i32.popcnt (local.get 0))))'))
# the same code with a name section: other bytes, another key, identical machine code
POPCNT_NAMED = bytes(wasmtime.wat2wasm(
    '(module $other (func $g (export "f") (param i32) (result i32) (i32.popcnt (local.get 0))))'))
LOOP_WAT = """
(module (func (export "f") (param $x i32) (result i32) (local $n i32)
  (block $done (loop $l
    (br_if $done (i32.eqz (local.get $x)))
    (local.set $n (i32.add (local.get $n) (i32.and (local.get $x) (i32.const 1))))
    (local.set $x (i32.shr_u (local.get $x) (i32.const 1)))
    (br $l)))
  (local.get $n)))"""
LOOP = bytes(wasmtime.wat2wasm(LOOP_WAT))
LOOP_COPY = bytes(wasmtime.wat2wasm(LOOP_WAT.replace("(module", "(module $copy")))
TRAPS_ON_5 = bytes(wasmtime.wat2wasm("""
(module (func (export "f") (param i32) (result i32)
  (if (i32.eq (local.get 0) (i32.const 5)) (then unreachable)) (i32.popcnt (local.get 0))))"""))
CASES = [Case((x,)) for x in (0, 1, 5, 0xFF, 0xFFFFFFFF, 0x12345678, 0x80000000, 0xDEADBEEF)]
ROOT = Path(__file__).resolve().parents[1]


def quick_race(**kw) -> NativeTimeRace:
    return NativeTimeRace("f", CASES, share=0.99, started=0.0, min_time_s=0.1, **kw)


def test_a_variant_against_itself_is_never_chosen_as_faster() -> None:
    race = quick_race()
    incumbent = Candidate("a", POPCNT)
    assert race.choose(incumbent, [Candidate("b", POPCNT_NAMED), Candidate("c", POPCNT)]) is incumbent
    assert race.races == 1 and race.last is not None and not race.last.improved
    # and the losers are not raced again against the same incumbent
    assert race.choose(incumbent, [Candidate("b", POPCNT_NAMED)]) is incumbent and race.races == 1


def test_the_race_crowns_a_natively_faster_contender() -> None:
    race = quick_race()
    incumbent, fast = Candidate("loop", LOOP), Candidate("popcnt", POPCNT)
    assert race.choose(incumbent, [Candidate("same", LOOP), fast]) is fast
    assert race.seconds > 0 and race.last_winner == "popcnt" and race.last.time_ratio < 1
    assert race.choose(fast, [Candidate("same", POPCNT_NAMED)]) is fast and race.last_winner is None


def test_a_race_teaches_the_cost_store_what_it_timed(tmp_path: Path) -> None:
    """Every module a race times is observed once (class counts, measured ns per call) and saved in the data
    folder, where the next run's fitness finds this machine's costs."""
    from jeet.timing import CostStore

    store = CostStore(tmp_path, refit_every=2)
    race = quick_race(costs=store)
    incumbent, fast = Candidate("loop", LOOP), Candidate("popcnt", POPCNT)
    race.choose(incumbent, [fast])
    assert len(store.observations) == 2
    counts, ns = store.observations[1] if store.observations[0][0][FEATURES_INDEX["bitcount"]] == 0 else \
        store.observations[0]
    assert counts[FEATURES_INDEX["bitcount"]] == 1.0 and ns > 0  # popcnt: one bitcount per call
    race.choose(Candidate("popcnt", POPCNT), [Candidate("loop copy", LOOP_COPY)])
    assert len(store.observations) == 3  # the incumbent was timed before: only the newcomer is added
    assert CostStore(tmp_path).observations == store.observations  # saved
    assert store.model.samples == 2  # refitted once two had arrived


def test_a_race_over_its_timing_share_changes_nothing_and_times_nothing() -> None:
    race = NativeTimeRace("f", CASES, share=0.1)
    race.seconds = 1e9
    incumbent = Candidate("loop", LOOP)
    assert race.choose(incumbent, [Candidate("popcnt", POPCNT)]) is incumbent
    assert race.skipped == 1 and race.races == 0
    # the run's final promotion picks the output: it races whatever the share says
    race.last_call = True
    assert race.ready() and race.choose(incumbent, [Candidate("popcnt", POPCNT)]).key == "popcnt"
    assert race.races == 1


def test_the_output_itself_is_not_timed_against_the_input() -> None:
    assert final_judgement(POPCNT, POPCNT, "f", CASES) is None


def test_probe_names_why_a_function_cannot_be_timed() -> None:
    assert probe(POPCNT, "f", CASES) is None
    assert "trap" in probe(TRAPS_ON_5, "f", CASES)


def test_an_untimeable_input_falls_back_to_fuel_with_a_notice(monkeypatch) -> None:
    monkeypatch.setattr(loop_module, "probe", lambda *a: "traps on the timing inputs")
    problem = load_problem(None, kernel="parity", seed=1)
    cfg = EvolveConfig(population=8, generations=2, budget_s=None, workers=1, use_wasm_opt=False)
    with Evolution(problem, cfg) as evo:
        evo.run()
        assert evo.race is None and evo.judgement is None
        assert evo.notices == ["parity cannot be timed natively (traps on the timing inputs); using the fuel objective"]
        assert evo.improved == (evo.champion.sha256 != problem.sha256)


def test_the_output_of_a_fuel_ranked_search_is_the_fastest_verified_and_never_slower_than_the_input() -> None:
    fast = decide_output(Candidate("loop", LOOP), [Candidate("same", LOOP_COPY), Candidate("popcnt", POPCNT)], "f",
                         CASES, min_time_s=0.1)
    assert fast.output.key == "popcnt" and fast.improved and fast.judgement.time_ratio < 1
    same = decide_output(Candidate("popcnt", POPCNT), [Candidate("named", POPCNT_NAMED)], "f", CASES, min_time_s=0.1)
    assert same.output.key == "popcnt" and not same.improved  # identical code: the input stays
    nothing = decide_output(Candidate("popcnt", POPCNT), [], "f", CASES)
    assert nothing.output.key == "popcnt" and nothing.judgement is None and nothing.race.seconds == 0
    trapping = decide_output(Candidate("t", TRAPS_ON_5), [Candidate("popcnt", POPCNT)], "f", CASES)
    assert trapping.output.key == "popcnt" and "trap" in trapping.untimeable  # fuel decides, and says why


def jeet(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jeet", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})


def test_do_no_harm_writes_the_input_unchanged_when_nothing_is_faster(tmp_path: Path) -> None:
    out = tmp_path / "out.wasm"
    r = jeet("evolve", "--kernel", "sign", "--level", "O2opt", "--generations", "1", "--workers", "1",
             "--population", "8", "--json", "--data", str(tmp_path / "d"), "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["objective"] == "time" and d["improved"] is False
    assert out.read_bytes() == get_kernel("sign").wasm("O2opt")
    # without --out nothing is written at all
    r = jeet("evolve", "--kernel", "sign", "--level", "O2opt", "--generations", "1", "--workers", "1",
             "--population", "8", "--data", str(tmp_path / "d"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "no faster variant found" in r.stdout and "nothing written" in r.stdout
    assert not list(tmp_path.glob("*.evolved.wasm*"))


def test_objective_fuel_keeps_the_fuel_behaviour(tmp_path: Path) -> None:
    out = tmp_path / "out.wasm"
    r = jeet("evolve", "--kernel", "sign", "--level", "O2opt", "--generations", "1", "--workers", "1",
             "--population", "8", "--objective", "fuel", "--json", "--data", str(tmp_path / "d"), "--out", str(out),
             cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["objective"] == "fuel" and d["races"] == 0 and d["timing_seconds"] == 0
    assert d["time_ratio"] is None and d["best_fuel"] <= d["baseline_fuel"]
    assert out.exists() and "native_time" not in json.loads(Path(str(out) + ".evidence.json").read_text())


def test_a_bad_objective_is_one_line_and_status_2(tmp_path: Path) -> None:
    r = jeet("evolve", "--kernel", "sign", "--objective", "speed", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip() == "jeet: error: unknown objective 'speed': use 'time' or 'fuel'"


@pytest.mark.slow
def test_popcount_from_o2opt_is_natively_faster_with_its_interval(tmp_path: Path) -> None:
    out = tmp_path / "popcount.wasm"
    r = jeet("evolve", "--kernel", "popcount", "--level", "O2opt", "--budget", "20", "--json",
             "--data", str(tmp_path / "d"), "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["improved"] is True and d["time_ratio"] < 1
    low, high = d["time_ratio_ci"]
    assert low <= d["time_ratio"] <= high < 0.97
    assert 0 < d["timing_seconds"] and 0 < d["timing_share"] < 1
    # the champion became champion by winning a race: its operator is credited with the measured speedup
    won = [o for o in d["operators"] if o["native_wins"]]
    assert won and all(o["native_speedup"] > 1 for o in won)
    evidence = json.loads(Path(str(out) + ".evidence.json").read_text())["native_time"]
    assert evidence["timing"]["method"]["cases"] > 0 and evidence["timing"]["variants"][2]["samples_ns"]


def test_a_run_interrupted_during_a_race_resumes_from_its_checkpoint(tmp_path: Path, monkeypatch) -> None:
    """The race keeps nothing the checkpoint needs: stopping in the middle of one loses nothing stored."""
    from jeet.store import Store

    problem = load_problem(None, kernel="popcount", seed=1)
    cfg = EvolveConfig(population=12, generations=20, budget_s=None, workers=1, use_wasm_opt=False, seed=5,
                       verify_every=2, timing_share=0.99)

    def killed(self, candidates, *, min_time_s):
        raise KeyboardInterrupt  # what Ctrl-C (or a kill) in the middle of a measurement looks like

    with Store(tmp_path / "d") as store:
        with monkeypatch.context() as m:
            m.setattr(NativeTimeRace, "_measure", killed)
            with Evolution(problem, cfg, store=store) as evo, pytest.raises(KeyboardInterrupt):
                evo.run()
            stopped_at = evo.state.generation
        assert stopped_at >= 2, "no race was reached"
        cp = store.load_checkpoint(1)
        assert cp is not None and cp[0] >= stopped_at - 1
        with Evolution(problem, cfg, store=store, resume=True) as evo:
            evo.start()
            assert evo.state.generation == cp[0] and evo.race is not None  # continued, not restarted
            evo.run()  # steps to the end and finishes (the final check and do no harm)
            assert evo.state.generation == 20 and evo.champion_evidence.failures == 0
            assert evo.improved is not None and evo.race.races >= 1


CLAMP_BRANCHY = """(module (func (export "clamp") (param i32 i32 i32) (result i32)
  block
    local.get 0 local.get 1 i32.lt_s
    if local.get 1 local.set 0 br 1 end
    local.get 0 local.get 2 i32.gt_s
    if local.get 2 local.set 0 end
  end
  local.get 0))"""


def test_a_branchy_champion_races_its_branch_free_form_whatever_the_predictor_says(tmp_path) -> None:
    """The predictor cannot see mispredictions, so the select form of a branchy champion is offered to the
    race even with a lower predicted fitness; once it has lost to that champion it is not offered again.
    A champion with neither branches nor selects nor divisions has no form."""
    path = tmp_path / "clamp.wasm"
    path.write_bytes(wasmtime.wat2wasm(CLAMP_BRANCHY))
    problem = load_problem(path, "clamp", seed=1)
    cfg = EvolveConfig(population=8, generations=1, budget_s=None, workers=1, use_wasm_opt=False, prove=False)
    with Evolution(problem, cfg) as evo:
        evo.start()
        alt = evo._form_contenders(evo.champion)[0]
        assert alt.operator == "if_convert" and alt.evaluation.correct
        body = [i.name for i in decode(alt.wasm).bodies[0].instrs]
        assert "if" not in body and body.count("select") == 2
        evo.race._lost.add((evo.champion.sha256, alt.sha256))
        assert all(m.sha256 != alt.sha256 for m in evo._form_contenders(evo.champion))
    k = get_kernel("popcount")
    problem = load_problem(k.wasm_path("O2opt"), k.function, seed=1)
    with Evolution(problem, cfg) as evo:  # nothing to convert
        evo.start()
        assert evo._form_contenders(evo.champion) == []
