"""Instruction-level IR of a function body.

A body is a flat sequence of instructions, exactly as in the binary format: structured
control (`block`, `loop`, `if`, `else`, `end`) appears as instructions and nesting is
recovered by `jeet.wasm.analysis`. Values are immutable, so an operator that changes a
body builds a new `Body` and the parent specimen is never touched.

Each `Instr` remembers its exact original encoding in `raw`; the encoder reuses it, so an
unmodified body re-encodes to the identical bytes (even non-minimal LEB128s survive). An
instruction built by an operator has `raw=None` and is encoded canonically.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .types import ValType


@dataclass(frozen=True, slots=True)
class Instr:
    """One instruction.

    `op` is the opcode byte, or `(prefix << 8) | subopcode` for prefixed opcodes
    (0xFC bulk-memory / saturating truncation, e.g. 0xFC00 is i32.trunc_sat_f32_s).
    `imm` holds the decoded immediates; their meaning per opcode is given by the
    immediate kind in `jeet.wasm.opcodes.OPCODES[op].imm`. Block types are s33 values
    (see `jeet.wasm.types.EMPTY_BLOCK`).
    """

    op: int
    imm: tuple = ()
    raw: bytes | None = field(default=None, compare=False)

    @classmethod
    def named(cls, name: str, *imm: object) -> "Instr":
        """A new instruction by spec text name, e.g. `Instr.named("i32.const", 5)`."""
        from .opcodes import BY_NAME

        return cls(BY_NAME[name], tuple(imm))

    def with_imm(self, *imm: object) -> "Instr":
        """The same opcode with other immediates (and no stale `raw`)."""
        return Instr(self.op, tuple(imm))

    @property
    def name(self) -> str:
        from .opcodes import OPCODES

        info = OPCODES.get(self.op)
        return info.name if info else f"op{self.op:#x}"

    def __repr__(self) -> str:
        return f"{self.name}{''.join(' ' + repr(i) for i in self.imm)}"


@dataclass(frozen=True, slots=True)
class Body:
    """A function body: local declarations plus the instruction sequence.

    `locals` keeps the run-length groups as encoded, `(count, type)`. `instrs` is None
    when the body uses instructions the IR does not model (e.g. relaxed SIMD, tail calls): such a body is
    opaque, carried as `raw` and never mutated. `instrs` always ends with the final `end`.
    `raw` is the exact original encoding (locals and expression, without the size
    prefix) or None once the body has been changed.
    """

    locals: tuple[tuple[int, ValType], ...]
    instrs: tuple[Instr, ...] | None
    raw: bytes | None = field(default=None, compare=False)

    def __eq__(self, other: object) -> bool:
        # opaque bodies have no instructions to compare: their bytes decide
        if not isinstance(other, Body):
            return NotImplemented
        if self.instrs is None or other.instrs is None:
            return self.instrs is other.instrs and self.raw == other.raw
        return self.locals == other.locals and self.instrs == other.instrs

    def __hash__(self) -> int:
        return hash((self.locals, self.instrs if self.instrs is not None else self.raw))

    @property
    def opaque(self) -> bool:
        return self.instrs is None

    def local_types(self) -> tuple[ValType, ...]:
        """The declared locals, expanded (parameters not included)."""
        out: list[ValType] = []
        for count, t in self.locals:
            out.extend([t] * count)
        return tuple(out)

    def with_instrs(self, instrs: tuple[Instr, ...] | list[Instr]) -> "Body":
        return Body(self.locals, tuple(instrs), None)

    def with_locals(self, locals_: tuple[tuple[int, ValType], ...]) -> "Body":
        return Body(tuple(locals_), self.instrs, None)
