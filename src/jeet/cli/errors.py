"""The CLI's one edge where user-facing errors become a single line on stderr and exit status 2."""

from __future__ import annotations

import functools
import sys
from typing import Callable, TypeVar

import typer

from ..errors import JeetError

F = TypeVar("F", bound=Callable)

EXIT_USAGE = 2


def fail(message: str) -> "typer.Exit":
    print(f"jeet: error: {message}", file=sys.stderr)
    return typer.Exit(EXIT_USAGE)


def user_errors(fn: F) -> F:
    """Turn every error that is the user's to fix into one line and exit status 2 (no traceback)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except JeetError as exc:
            raise fail(str(exc)) from None
        except RecursionError:  # json and the codec recurse per nesting level: a hostile input's only weapon here
            raise fail("an input is nested too deeply to read (a tests-file line, a config or a module)") from None
        except KeyboardInterrupt:
            print("jeet: interrupted", file=sys.stderr)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]
