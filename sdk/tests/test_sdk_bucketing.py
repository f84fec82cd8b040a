"""Bucketing: golden vectors, the split walk, monotonicity and uniformity."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mmh3
import pytest

from flagplane.bucketing import BUCKET_SPACE, bucket, cumulative_thresholds, unit_key
from flagplane.engine import compile_document, evaluate

VECTORS = json.loads(
    (Path(__file__).resolve().parents[2] / "docs/golden/bucketing.json").read_text("utf-8")
)["cases"]


@pytest.mark.parametrize("case", VECTORS, ids=[f"{c['salt']}:{c['unit']}" for c in VECTORS])
def test_bucket_matches_golden_vector(case: dict[str, Any]) -> None:
    assert bucket(case["salt"], case["unit"]) == case["bucket"]


@pytest.mark.parametrize("case", VECTORS, ids=[f"{c['salt']}:{c['unit']}" for c in VECTORS])
def test_split_serves_golden_variant(
    case: dict[str, Any], flag_factory: Any, document_factory: Any
) -> None:
    variants = [{"key": v, "value": v} for v in "abcd"]
    flag = flag_factory(
        "golden",
        kind="multivariate",
        variant_type="string",
        salt=case["salt"],
        variants=variants,
        off_variant="a",
        default={"split": case["split"]},
    )
    snapshot = compile_document(document_factory(flag))
    result = evaluate(snapshot, "golden", {"key": case["unit"]})
    assert (result.variant, result.bucket, result.reason) == (
        case["variant"],
        case["bucket"],
        "SPLIT",
    )


def test_bucket_is_the_documented_formula() -> None:
    assert (
        bucket("new-checkout", "user-42") == mmh3.hash("new-checkout:user-42", 0, False) % 100_000
    )
    assert bucket("s", 17) == bucket("s", "17")


@pytest.mark.parametrize("unit", [True, 1.0, None, b"x", ["a"]])
def test_bucket_rejects_units_that_are_not_str_or_int(unit: Any) -> None:
    with pytest.raises(TypeError):
        bucket("salt", unit)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("a", "a"), (12, "12"), (-1, "-1"), (True, None), (1.0, None), (None, None)],
)
def test_unit_key_normalisation(value: Any, expected: str | None) -> None:
    assert unit_key(value) == expected


def test_cumulative_thresholds_add_up_the_weights() -> None:
    assert cumulative_thresholds([10, 0, 99_990]) == (10, 10, 100_000)


def _enabled_units(
    weight: int, units: list[str], flag_factory: Any, document_factory: Any
) -> set[str]:
    flag = flag_factory(
        "ramp",
        default={
            "split": [
                {"variant": "on", "weight": weight},
                {"variant": "off", "weight": BUCKET_SPACE - weight},
            ]
        },
    )
    snapshot = compile_document(document_factory(flag))
    return {u for u in units if evaluate(snapshot, "ramp", u).value is True}


def test_raising_the_first_slice_never_turns_a_unit_off(
    flag_factory: Any, document_factory: Any
) -> None:
    units = [f"user-{i}" for i in range(5_000)]
    previous: set[str] = set()
    for weight in (0, 1, 1_000, 5_000, 25_000, 50_000, 99_999, 100_000):
        enabled = _enabled_units(weight, units, flag_factory, document_factory)
        assert previous <= enabled, f"units lost when raising to {weight}"
        previous = enabled
    assert previous == set(units)


def test_rollout_share_tracks_the_weight(flag_factory: Any, document_factory: Any) -> None:
    units = [f"user-{i}" for i in range(20_000)]
    share = len(_enabled_units(10_000, units, flag_factory, document_factory)) / len(units)
    assert 0.09 < share < 0.11


# Chi-square critical value for 99 degrees of freedom at p = 0.001.
CHI2_CRITICAL_DF99_P001 = 148.23


@pytest.mark.parametrize("salt", ["new-checkout", "search-v2", "ユニコード"])
def test_buckets_are_uniform_over_100k_keys(salt: str) -> None:
    cells = [0] * 100
    n = 100_000
    for i in range(n):
        cells[bucket(salt, f"user-{i}") * 100 // BUCKET_SPACE] += 1
    expected = n / 100
    chi2 = sum((observed - expected) ** 2 / expected for observed in cells)
    assert chi2 < CHI2_CRITICAL_DF99_P001


def test_different_salts_bucket_independently() -> None:
    units = [f"user-{i}" for i in range(10_000)]
    a = {u for u in units if bucket("flag-a", u) < 50_000}
    b = {u for u in units if bucket("flag-b", u) < 50_000}
    overlap = len(a & b) / len(units)
    assert 0.23 < overlap < 0.27


def test_enum_units_bucket_like_their_values() -> None:
    import enum

    class Org(enum.StrEnum):
        ACME = "acme"

    class Seat(enum.IntEnum):
        TEN = 10

    assert bucket("s", Org.ACME) == bucket("s", "acme")
    assert bucket("s", Seat.TEN) == bucket("s", "10")
    assert unit_key(Org.ACME) == "acme"
