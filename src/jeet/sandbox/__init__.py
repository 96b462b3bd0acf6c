"""jeet.sandbox: run untrusted candidates in wasmtime under fuel, memory, table and time limits."""

from .cache import ModuleCache
from .compiled import CompiledModule, ImportSpec, Signature
from .engine import COMPILERS, Sandbox, SandboxStats
from ..errors import SandboxError
from .limits import MAX_CYCLES, WASM_PAGE, Limits
from .result import ExecutionResult, Outcome

__all__ = [
    "COMPILERS", "MAX_CYCLES", "WASM_PAGE", "CompiledModule", "ExecutionResult", "ImportSpec", "Limits",
    "ModuleCache", "Outcome", "Sandbox", "SandboxError", "SandboxStats", "Signature",
]
