"""Typed conversions used by the operators."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from flagplane.conversions import to_epoch_ms, to_ip, to_number, to_semver


def test_semver_precedence_follows_the_semver_spec_example() -> None:
    chain = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.1",
        "v2",
    ]
    keys = [to_semver(v) for v in chain]
    assert all(a is not None and b is not None and a < b for a, b in itertools.pairwise(keys))


@pytest.mark.parametrize("text", ["1.x", "", "v", "1.2.3.4", "01.2.3", "1.0.0-01", "1..2", " 1.0"])
def test_semver_rejects_invalid_versions(text: str) -> None:
    assert to_semver(text) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, 3),
        (2.5, 2.5),
        ("42", 42),
        ("-1.5e3", -1500.0),
        (" 7 ", 7),
        (True, None),
        ("abc", None),
        ("1_000", None),
        ("inf", None),
        (float("nan"), None),
        (None, None),
    ],
)
def test_to_number(value: Any, expected: Any) -> None:
    assert to_number(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0.0),
        ("1970-01-01T00:00:01Z", 1000.0),
        ("1970-01-01T00:00:01", 1000.0),
        ("1970-01-01 01:00:00+01:00", 0.0),
        ("1970-01-02", 86_400_000.0),
        ("yesterday", None),
        (False, None),
    ],
)
def test_to_epoch_ms(value: Any, expected: float | None) -> None:
    assert to_epoch_ms(value) == expected


def test_to_ip_distinguishes_versions() -> None:
    assert to_ip("0.0.0.1") == (4, 1)
    assert to_ip("::1") == (6, 1)
    assert to_ip("1.2.3") is None
    assert to_ip("::ffff:10.0.0.1") == to_ip("10.0.0.1")
