"""Retry timing as a specification: the first attempt at once, then delays that double up to a cap, each
jittered into [delay/2, delay], and back to the start after a success."""

from __future__ import annotations

import random

import pytest

from jeet.net import Backoff, NetError


def test_delays_double_up_to_the_cap_with_jitter_and_reset():
    b = Backoff(random.Random(1), first=0.25, cap=1.0)
    assert b.due(0.0)
    now, gaps = 0.0, []
    for _ in range(6):
        b.attempted(now)
        gaps.append(b.next_at() - now)
        now = b.next_at()
        assert not b.due(now - 1e-9) and b.due(now)
    for gap, delay in zip(gaps, [0.25, 0.5, 1.0, 1.0, 1.0, 1.0]):
        assert delay / 2 <= gap <= delay
    assert b.attempts == 6
    b.reset()
    assert b.due(now) and b.attempts == 0
    b.attempted(now)
    assert b.next_at() - now <= 0.25


def test_bad_settings_are_refused():
    with pytest.raises(NetError):
        Backoff(random.Random(0), first=2.0, cap=1.0)
