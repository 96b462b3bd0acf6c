"""jeet.runtime: call wasm functions that get faster while you call them.

`Runtime(data_dir)` loads functions (`load(wasm, function, tests=None, *, expression=None, pure=False)`);
a `Function` is called like the original and serves the current verified champion; hot
functions evolve in a background process and better variants are swapped in atomically.
See `runtime.py` for the overview and `function.py` for the exact guarantees.
"""

from .config import RuntimeConfig
from ..errors import ArgumentError, ArgumentValueError, CallInterrupted, CallTimeout, JeetRuntimeError
from .expressed import Expression
from .function import Function
from .runtime import Runtime

__all__ = ["ArgumentError", "ArgumentValueError", "CallInterrupted", "CallTimeout", "Expression", "Function",
           "JeetRuntimeError", "Runtime", "RuntimeConfig"]
