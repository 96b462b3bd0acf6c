"""jeet: evolve faster WebAssembly functions that provably pass the same tests, in a strict sandbox."""

__version__ = "0.1.0"
