"""The store survives SIGKILL mid-write and is shared safely by several processes."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from jeet.store import Store, sha256_hex

SRC = str(Path(__file__).resolve().parents[1] / "src")

# Writes generations forever; prints a generation's hashes only after its transactions committed.
WRITER = textwrap.dedent(
    """
    import random, sys, time
    from pathlib import Path
    from jeet.store import SpecimenRecord, Store

    root, seed, batch, pause = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    rng = random.Random(seed)
    with Store(root) as s:
        run = s.start_run(f"writer-{seed}", {"seed": seed})
        print("run", run, flush=True)
        sys.stdin.readline()  # start signal: lets the test line several writers up
        parents = ()
        gen = 0
        while True:
            mods = [rng.randbytes(rng.randrange(100, 3000)) for _ in range(batch)]
            hashes = s.put_many(
                SpecimenRecord(m, "f", fuel=len(m), fitness=rng.random(), metrics={"gen": gen},
                               parents=parents, operator="op", generation=gen, run_id=run)
                for m in mods
            )
            s.save_checkpoint(run, gen, {"generation": gen, "population": hashes})
            s.log_generation(run, gen, {"generation": gen, "n": len(hashes)})
            print(gen, seed, *hashes, flush=True)
            parents = (hashes[0],)
            gen += 1
            time.sleep(pause)  # the evaluation work a real loop does between writes
    """
)


def spawn_writer(root: Path, seed: int, batch: int, pause: float = 0.0) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root), str(seed), str(batch), str(pause)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def wait_ready(proc: subprocess.Popen) -> int:
    """Wait until the writer has opened the store and started its run; return the run id."""
    line = proc.stdout.readline().split()
    assert line[:1] == ["run"], proc.stderr.read()
    return int(line[1])


def go(proc: subprocess.Popen) -> None:
    proc.stdin.write("go\n")
    proc.stdin.flush()


def regenerate(seed: int, batch: int, generations: int) -> list[list[bytes]]:
    """The modules the writer with this seed produced, generation by generation."""
    rng = random.Random(seed)
    out = []
    for gen in range(generations):
        mods = [rng.randbytes(rng.randrange(100, 3000)) for _ in range(batch)]
        for _ in mods:
            rng.random()  # the fitness drawn per record
        out.append(mods)
    return out


def read_generations(proc: subprocess.Popen, count: int) -> list[list[str]]:
    gens = []
    while len(gens) < count:
        line = proc.stdout.readline()
        assert line, f"writer died: {proc.stderr.read()}"
        gens.append(line.split()[2:])
    return gens


def complete_lines(text: str) -> list[list[str]]:
    """Hash lists of the fully printed lines (a kill can cut the last line short)."""
    lines = text.split("\n")[:-1]  # whatever follows the last newline is incomplete
    return [line.split()[2:] for line in lines if line.strip()]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_mid_write_never_corrupts_and_keeps_every_commit(tmp_path, seed):
    batch = 150
    proc = spawn_writer(tmp_path, seed, batch)
    try:
        run = wait_ready(proc)
        go(proc)
        gens = read_generations(proc, 3)
        time.sleep(random.Random(seed).uniform(0.0, 0.05))  # land the kill somewhere inside a write
    finally:
        proc.kill()
        rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    gens += complete_lines(rest)
    expected = regenerate(seed, batch, len(gens))

    with Store(tmp_path) as s:
        assert s.integrity_check() == []
        for printed, mods in zip(gens, expected):
            assert printed == [sha256_hex(m) for m in mods]
            for sha, wasm in zip(printed, mods):
                assert s.get_specimen(sha) == wasm
        last = len(gens) - 1
        gen, state = s.load_checkpoint(run)
        assert gen >= last
        if gen == last:
            assert state["population"] == gens[last]
        book = s.logbook(run)
        assert [row["generation"] for row in book][: len(gens)] == list(range(len(gens)))
        assert s.parents_of(gens[last][0]) == ([(gens[last - 1][0], "op", last)] if last else [])
        # still writable after recovery
        s.put_specimen(b"after the crash", function="f")
        assert s.run_info(run)["status"] == "running"
        assert s.find_resumable_run(f"writer-{seed}") == run


def test_two_processes_write_the_same_store_concurrently(tmp_path):
    batch, generations = 20, 40
    Store(tmp_path).close()
    procs = [spawn_writer(tmp_path, seed, batch, pause=0.003) for seed in (10, 11)]
    seen: dict[int, tuple[int, list[list[str]]]] = {}
    try:
        runs = [wait_ready(proc) for proc in procs]
        for proc in procs:
            go(proc)
        for seed, run, proc in zip((10, 11), runs, procs):
            seen[seed] = (run, read_generations(proc, generations))
    finally:
        for proc in procs:
            proc.kill()
            proc.communicate(timeout=30)
    with Store(tmp_path) as s:
        assert s.integrity_check() == []
        runs = {seed: run for seed, (run, _) in seen.items()}
        assert len(set(runs.values())) == 2
        for seed, (run, gens) in seen.items():
            for printed, mods in zip(gens, regenerate(seed, batch, generations)):
                for sha, wasm in zip(printed, mods):
                    assert s.get_specimen(sha) == wasm
            assert len(s.logbook(run)) >= generations
        assert s.count_specimens() >= 2 * batch * generations
        # the two writers really overlapped in time (otherwise this test would prove nothing)
        spans = [
            (s.specimen_info(gens[0][0])["created"], s.specimen_info(gens[-1][0])["created"])
            for _, gens in seen.values()
        ]
        assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1]


OPENER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from jeet.store import Store

    sys.stdin.readline()
    with Store(Path(sys.argv[1])) as s:
        print(s.put_specimen(sys.argv[2].encode(), function="f"), flush=True)
    """
)


def test_processes_racing_to_create_a_fresh_store(tmp_path):
    root = tmp_path / "fresh"
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = [
        subprocess.Popen([sys.executable, "-c", OPENER, str(root), f"module {i}"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for i in range(4)
    ]
    time.sleep(0.3)  # let every interpreter reach the start line
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = [proc.communicate(timeout=60) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 4, [err for _, err in outputs]
    with Store(root) as s:
        assert s.count_specimens() == 4
        assert {out.strip() for out, _ in outputs} == {sha256_hex(f"module {i}".encode()) for i in range(4)}
        assert s.integrity_check() == []
