"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest

from jeet.sandbox import Sandbox


@pytest.fixture(scope="module")
def sandbox():
    """A sandbox with the default limits, one per test module."""
    with Sandbox() as sb:
        yield sb
