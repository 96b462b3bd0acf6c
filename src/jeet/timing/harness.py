"""The harness: the candidate module plus one exported function that calls the function under test
over a table of inputs, `reps` times, inside wasm.

Calling a wasm function from Python costs about a microsecond, more than many kernels take, so the
call loop runs in wasm and Python makes one call per sample. Each case becomes one call site with its
arguments as constants; a case's memory blocks are passive data segments copied in with `memory.init`
right before its call, so every call sees exactly its case's memory, as the oracle ran it. Every
result is folded (wrapping add, as i64 bits) into an accumulator the harness returns: nothing the
function computes is dead, and the returned sum, `reps * sum(results)`, checks that the harness
computes what the function does. The candidate's own code is untouched (its bytes are re-emitted as
decoded), so what is timed is what the host would run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .. import wasm as w
from ..oracle import Case
from ..errors import TimingError

HARNESS_EXPORT = "__jeet_time"
"""The name the harness function is exported under (suffixed with _ if the module already uses it)."""

_M64 = (1 << 64) - 1
_CONST = {w.I32: "i32.const", w.I64: "i64.const", w.F32: "f32.const", w.F64: "f64.const"}
# How one result becomes i64 bits to add into the accumulator.
_TO_I64 = {w.I32: ("i64.extend_i32_u",), w.I64: (), w.F32: ("i32.reinterpret_f32", "i64.extend_i32_u"),
           w.F64: ("i64.reinterpret_f64",)}
_WIDTH = {w.I32: 32, w.I64: 64, w.F32: 32, w.F64: 64}


@dataclass(frozen=True, slots=True)
class Harness:
    """A harnessed module: call `export(reps)` to run every case `reps` times; it returns the i64 sum."""

    wasm: bytes
    export: str
    cases: int

    def expected_sink(self, results: Sequence[Sequence[int]], reps: int) -> int:
        """What `export(reps)` returns when case i returns `results[i]` (canonical values): the check that
        the harness computes the function's results (`timing.testing` and `measure` use it)."""
        return (reps * sum(sum(r) for r in results)) & _M64


def _i(name: str, *imm: object) -> w.Instr:
    return w.Instr.named(name, *imm)


def _target(module: w.Module, function: str) -> tuple[int, w.FuncType]:
    index = module.export_func(function)
    if index is None:
        names = ", ".join(sorted(module.exported_functions())) or "none"
        raise TimingError(f"no exported function {function!r} to time (exported functions: {names})")
    ft = module.func_type(index)
    bad = [t for t in ft.params + ft.results if t not in _CONST]
    if bad:
        raise TimingError(f"function {function!r} has signature {ft}: only i32, i64, f32 and f64 can be timed")
    return index, ft


def decode_module(wasm: bytes) -> w.Module:
    try:
        return w.decode(bytes(wasm))
    except w.WasmError as exc:
        raise TimingError(f"cannot read the module to time: {exc}") from None


def timing_cases(cases: Sequence[Case]) -> tuple[Case, ...]:
    """The cases a timing run uses: those that return normally (a case that must trap cannot be
    repeated in a loop); TimingError when none is left."""
    usable = tuple(c for c in cases if not c.trap)
    if not usable:
        raise TimingError("no cases to time the function on (every case is expected to trap, or none given)")
    return usable


def build_harness(wasm: bytes, function: str, cases: Sequence[Case]) -> Harness:
    """`wasm` with the harness function added; `cases` are used in order (see `timing_cases`)."""
    module = decode_module(wasm)
    index, ft = _target(module, function)
    cases = timing_cases(cases)
    if any(c.memory for c in cases) and not module.memory_types:
        raise TimingError("the cases write memory but the module defines or imports none")
    segments: dict[bytes, int] = {}
    data = list(module.data)
    body: list[w.Instr] = [_i("loop", w.EMPTY_BLOCK)]
    for case in cases:
        if len(case.args) != len(ft.params):
            raise TimingError(f"a case passes {len(case.args)} arguments to {function!r}, which takes {len(ft.params)}")
        for offset, block in case.memory:
            seg = segments.get(block)
            if seg is None:
                seg = segments[block] = len(data)
                data.append(w.Data("passive", bytes(block)))
            body += [_i("i32.const", offset), _i("i32.const", 0), _i("i32.const", len(block)),
                     _i("memory.init", seg, 0)]
        for t, value in zip(ft.params, case.args):
            body.append(_i(_CONST[t], value & ((1 << _WIDTH[t]) - 1)))
        body.append(_i("call", index))
        for t in reversed(ft.results):  # the last result is on top
            body += [_i(name) for name in _TO_I64[t]]
            body += [_i("local.get", 1), _i("i64.add"), _i("local.set", 1)]
    body += [_i("local.get", 0), _i("i32.const", 1), _i("i32.sub"), _i("local.tee", 0), _i("br_if", 0),
             _i("end"), _i("local.get", 1), _i("end")]
    module, type_index = module.add_type(w.FuncType((w.I32,), (w.I64,)))
    export = HARNESS_EXPORT
    taken = {e.name for e in module.exports}
    while export in taken:
        export += "_"
    changes: dict = dict(
        funcs=module.funcs + (type_index,),
        bodies=module.bodies + (w.Body(((1, w.I64),), tuple(body)),),
        exports=module.exports + (w.Export(export, w.FUNC, module.num_funcs),),
    )
    if segments:
        changes.update(data=tuple(data), data_count=len(data))
    try:
        out = module.replace(**changes).encode()
    except w.WasmError as exc:
        raise TimingError(f"cannot build the timing harness: {exc}") from None
    return Harness(out, export, len(cases))


def empty_variant(wasm: bytes, function: str) -> bytes:
    """`wasm` with `function` doing nothing but return zeros: timed alongside the variants in the
    same harness, its time (the call, the loop, the memory copies, the fold) is what is subtracted."""
    module = decode_module(wasm)
    index, ft = _target(module, function)
    try:
        defined = module.defined_index(index)
    except IndexError:
        raise TimingError(f"function {function!r} is imported: only a defined function can be timed") from None
    zeros = tuple(_i(_CONST[t], 0) for t in ft.results) + (_i("end"),)
    return module.with_body(defined, w.Body((), zeros)).encode()
