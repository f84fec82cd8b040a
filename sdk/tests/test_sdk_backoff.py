"""Backoff delays and Retry-After parsing."""

from __future__ import annotations

import random
from email.utils import formatdate

import pytest

from flagplane.backoff import Backoff
from flagplane.transport import parse_retry_after


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    backoff = Backoff(base=1.0, cap=8.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(6)]
    ceilings = [1, 2, 4, 8, 8, 8]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling


def test_backoff_never_retries_sooner_than_retry_after() -> None:
    backoff = Backoff(base=1.0, cap=8.0)
    assert backoff.next_delay(retry_after=30.0) == 30.0
    assert backoff.next_delay(retry_after=10**9) == 3600.0


def test_backoff_reset_starts_over() -> None:
    backoff = Backoff(base=1.0, cap=60.0)
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() <= 1.0


@pytest.mark.parametrize(
    ("header", "expected"), [("120", 120.0), ("", None), (None, None), ("soon", None)]
)
def test_parse_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_parse_retry_after_http_date() -> None:
    now = 1_800_000_000.0
    assert parse_retry_after(formatdate(now + 90, usegmt=True), now=now) == pytest.approx(90)
    assert parse_retry_after(formatdate(now - 90, usegmt=True), now=now) == 0.0
