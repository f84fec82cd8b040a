"""FlagplaneProvider through the real openfeature-sdk: values, reasons, error codes, metadata."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

pytest.importorskip("openfeature")

from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from flagplane import Client
from flagplane.openfeature import FlagplaneProvider


def clause(attribute: str, op: str, values: list[Any]) -> dict[str, Any]:
    return {
        "attribute": attribute,
        "op": op,
        "values": values,
        "negate": False,
        "case_insensitive": False,
    }


def rule(rule_id: str, serve: dict[str, Any], *clauses: dict[str, Any]) -> dict[str, Any]:
    return {"id": rule_id, "description": "", "serve": serve, "clauses": list(clauses)}


def number_flag(make_flag: Any, key: str, *values: float, **overrides: Any) -> dict[str, Any]:
    variants = [{"key": f"v{index}", "value": value} for index, value in enumerate(values)]
    split = [{"variant": v["key"], "weight": 100_000 // len(values)} for v in variants]
    split[-1]["weight"] += 100_000 - sum(s["weight"] for s in split)
    settings: dict[str, Any] = {
        "kind": "multivariate",
        "variant_type": "number",
        "variants": variants,
        "off_variant": "v0",
        "default": {"split": split},
    }
    settings.update(overrides)
    return make_flag(key, **settings)


@pytest.fixture
def document(flag_factory: Any, document_factory: Any) -> dict[str, Any]:
    return document_factory(
        flag_factory(
            "checkout",
            targets=[{"variant": "on", "keys": ["vip"]}],
            rules=[rule("pro", {"variant": "on"}, clause("plan", "equals", ["pro"]))],
            metadata={"team": "payments", "ticket": 4711, "beta": True},
        ),
        flag_factory("static-on", default={"variant": "on"}),
        flag_factory(
            "pro-only",
            rules=[rule("pro", {"variant": "on"}, clause("plan", "equals", ["pro"]))],
            default={"variant": "off"},
        ),
        flag_factory("killed", on=False, metadata={"reason": "incident 12"}),
        flag_factory(
            "layout",
            kind="multivariate",
            variant_type="string",
            variants=[{"key": "a", "value": "classic"}, {"key": "b", "value": "new"}],
            off_variant="a",
            default={"variant": "b"},
        ),
        number_flag(flag_factory, "whole", 10, 20.0, 0.0),
        number_flag(flag_factory, "fractional", 10, 2.5),
        flag_factory(
            "theme",
            kind="multivariate",
            variant_type="json",
            variants=[{"key": "dark", "value": {"bg": "#000"}}],
            off_variant="dark",
            default={"variant": "dark"},
        ),
        flag_factory(
            "launch",
            rules=[
                rule("after", {"variant": "on"}, clause("signup", "date_after", ["2025-01-01"]))
            ],
            default={"variant": "off"},
        ),
        flag_factory("by-org", bucket_by="org"),
    )


@pytest.fixture
def of_client(document: dict[str, Any]) -> Iterator[Any]:
    api.set_provider_and_wait(FlagplaneProvider(Client.from_document(document)))
    yield api.get_client()
    api.clear_providers()


def test_a_flag_with_no_targeting_serving_one_variant_is_static(of_client: Any) -> None:
    details = of_client.get_boolean_details("static-on", False, EvaluationContext("u"))
    assert (details.value, details.variant, details.reason) == (True, "on", Reason.STATIC)
    assert (
        of_client.get_string_details("layout", "x", EvaluationContext("u")).reason == Reason.STATIC
    )


def test_a_fall_through_after_rules_that_did_not_match_is_default(of_client: Any) -> None:
    details = of_client.get_boolean_details(
        "pro-only", True, EvaluationContext("u", {"plan": "free"})
    )
    assert (details.value, details.variant, details.reason) == (False, "off", Reason.DEFAULT)


def test_targets_rules_and_splits_map_to_targeting_match_and_split(of_client: Any) -> None:
    target = of_client.get_boolean_details("checkout", False, EvaluationContext("vip"))
    assert (target.value, target.variant, target.reason) == (True, "on", Reason.TARGETING_MATCH)
    matched = of_client.get_boolean_details(
        "checkout", False, EvaluationContext("u", {"plan": "pro"})
    )
    assert (matched.reason, matched.flag_metadata["rule"]) == (Reason.TARGETING_MATCH, "pro")
    split = of_client.get_boolean_details("checkout", False, EvaluationContext("user-1"))
    assert split.reason == Reason.SPLIT and 0 <= split.flag_metadata["bucket"] < 100_000


def test_a_disabled_flag_resolves_to_the_callers_default_with_reason_disabled(
    of_client: Any,
) -> None:
    for default in (True, False):
        details = of_client.get_boolean_details("killed", default, EvaluationContext("u"))
        assert (details.value, details.reason, details.variant) == (default, Reason.DISABLED, None)
        assert details.error_code is None and details.error_message is None
        assert details.flag_metadata == {"reason": "incident 12"}


def test_flag_metadata_is_returned_with_the_evaluation(of_client: Any) -> None:
    details = of_client.get_boolean_details("checkout", False, EvaluationContext("vip"))
    assert details.flag_metadata == {"team": "payments", "ticket": 4711, "beta": True}
    matched = of_client.get_boolean_details(
        "checkout", False, EvaluationContext("u", {"plan": "pro"})
    )
    assert matched.flag_metadata == {
        "team": "payments",
        "ticket": 4711,
        "beta": True,
        "rule": "pro",
    }


def test_string_float_and_object_resolution(of_client: Any) -> None:
    ctx = EvaluationContext("u")
    assert of_client.get_string_value("layout", "x", ctx) == "new"
    assert of_client.get_object_value("theme", {}, ctx) == {"bg": "#000"}
    for user in ("a", "b", "c", "d", "e", "f"):
        value = of_client.get_float_value("fractional", 0.0, EvaluationContext(user))
        assert isinstance(value, float) and value in (10.0, 2.5)


def test_an_integer_read_behaves_the_same_for_every_value_of_the_flag(of_client: Any) -> None:
    served: set[int] = set()
    for user in (f"user-{n}" for n in range(60)):
        whole = of_client.get_integer_details("whole", -1, EvaluationContext(user))
        assert whole.error_code is None and type(whole.value) is int
        served.add(whole.value)
        fractional = of_client.get_integer_details("fractional", -1, EvaluationContext(user))
        assert (fractional.value, fractional.error_code) == (-1, ErrorCode.TYPE_MISMATCH)
    assert served == {0, 10, 20}  # 0.0 and 20.0 are integral too, and read as 0 and 20


def test_a_type_mismatch_returns_the_default_with_an_error_code(of_client: Any) -> None:
    details = of_client.get_string_details("checkout", "fallback", EvaluationContext("u"))
    assert (details.value, details.reason, details.error_code) == (
        "fallback",
        Reason.ERROR,
        ErrorCode.TYPE_MISMATCH,
    )


def test_an_unknown_flag_is_flag_not_found_and_logs_nothing(of_client: Any, caplog: Any) -> None:
    with caplog.at_level(logging.DEBUG, logger="flagplane"):
        for _ in range(3):
            details = of_client.get_boolean_details("nope", True, EvaluationContext("u"))
            assert (details.value, details.error_code, details.reason) == (
                True,
                ErrorCode.FLAG_NOT_FOUND,
                Reason.ERROR,
            )
    assert [r for r in caplog.records if r.name == "flagplane"] == []


def test_a_split_by_key_without_a_targeting_key_is_targeting_key_missing(of_client: Any) -> None:
    details = of_client.get_boolean_details(
        "checkout", True, EvaluationContext(None, {"plan": "x"})
    )
    assert (details.value, details.error_code) == (True, ErrorCode.TARGETING_KEY_MISSING)
    unneeded = of_client.get_boolean_details("static-on", False, EvaluationContext())
    assert (unneeded.value, unneeded.error_code) == (True, None)


def test_a_split_on_a_missing_attribute_is_invalid_context(of_client: Any) -> None:
    details = of_client.get_boolean_details("by-org", True, EvaluationContext("u"))
    assert (details.value, details.error_code) == (True, ErrorCode.INVALID_CONTEXT)
    assert (
        of_client.get_boolean_details(
            "by-org", True, EvaluationContext("u", {"org": "o"})
        ).error_code
        is None
    )


def test_targeting_key_and_datetime_attributes_are_passed_through(of_client: Any) -> None:
    late = EvaluationContext("u", {"signup": datetime(2025, 6, 1, tzinfo=UTC)})
    early = EvaluationContext("u", {"signup": datetime(2024, 6, 1, tzinfo=UTC)})
    assert of_client.get_boolean_value("launch", False, late) is True
    assert of_client.get_boolean_value("launch", True, early) is False


def test_evaluations_through_openfeature_count_for_rollout_metrics(
    document: dict[str, Any],
) -> None:
    client = Client.from_document(document)
    api.set_provider_and_wait(FlagplaneProvider(client))
    try:
        api.get_client().get_boolean_value("static-on", False, EvaluationContext("u"))
        assert sum(client.flag("static-on").counts) == 1
    finally:
        api.clear_providers()
