"""promote_slot on narrow frame slots: a byte (or half-word) slot becomes a local holding the masked value."""

from __future__ import annotations

import wasmtime

from jeet.genetics import Genome
from jeet.genetics.promote_slot import find_slots, promote_all
from jeet.genetics.sites import facts
from jeet.wasm import decode

# clang -O0's shape: a frame below the stack pointer, an unsigned char kept at offset 15 of it
FRAME = """(module
  (memory (export "memory") 1)
  (global $sp (mut i32) (i32.const 4096))
  (func (export "f") (param i32) (result i32)
    (local i32)
    (local.set 1 (i32.sub (global.get $sp) (i32.const 16)))
    (i32.store8 offset=15 (local.get 1) (local.get 0))
    (i32.store8 offset=15 (local.get 1) (i32.add ({load} offset=15 (local.get 1)) (i32.const 1)))
    ({load} offset=15 (local.get 1))))"""


def _promoted(load: str) -> tuple[Genome, bytes]:
    g = Genome.from_bytes(wasmtime.wat2wasm(FRAME.format(load=load)), "f")
    out = promote_all(g)
    assert out is not None
    return out, g.wasm


def _body(g: Genome) -> list[str]:
    return [" ".join([ins.name, *(str(x) for x in ins.imm)]) for ins in decode(g.wasm).bodies[0].instrs]


def _run(wasm: bytes, x: int) -> int:
    store = wasmtime.Store()
    inst = wasmtime.Instance(store, wasmtime.Module(store.engine, wasm), [])
    return inst.exports(store)["f"](store, x)


def test_a_byte_slot_becomes_a_local_masked_where_it_is_stored():
    out, before = _promoted("i32.load8_u")
    body = _body(out)
    assert not any("store8" in line or "load8" in line for line in body), body
    assert body.count("i32.const 255") == 2 and body.count("local.set 2") == 2
    for x in (0, 1, 200, 255, 256, 1000, -1, -128, 0x7FFFFFFF):
        assert _run(out.wasm, x) == _run(before, x)


def test_a_signed_byte_load_becomes_the_local_sign_extended():
    out, before = _promoted("i32.load8_s")
    body = _body(out)
    assert body.count("i32.extend8_s") == 2, body
    for x in (0, 1, 126, 127, 128, 255, 256, -1, -129):
        assert _run(out.wasm, x) == _run(before, x)


def test_a_slot_read_at_another_width_stays_in_memory():
    wat = FRAME.format(load="i32.load8_u").replace("(i32.load8_u offset=15 (local.get 1))))",
                                                   "(i32.load16_u offset=14 (local.get 1))))")
    g = Genome.from_bytes(wasmtime.wat2wasm(wat), "f")
    assert all(s.offset != 15 for s in find_slots(facts(g, g.targets[0])))
