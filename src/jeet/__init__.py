"""jeet: evolve faster WebAssembly functions that provably pass the same tests, in a strict sandbox."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """`jeet.Runtime` without importing wasmtime and the runtime for every `import jeet`."""
    if name == "Runtime":
        from .runtime import Runtime

        return Runtime
    raise AttributeError(f"module 'jeet' has no attribute {name!r}")
