"""FlagplaneProvider through the real openfeature-sdk API."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

pytest.importorskip("openfeature")

from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from flagplane import Client
from flagplane.openfeature import FlagplaneProvider


def _clause(attribute: str, op: str, values: list[Any]) -> dict[str, Any]:
    return {
        "attribute": attribute,
        "op": op,
        "values": values,
        "negate": False,
        "case_insensitive": False,
    }


@pytest.fixture
def document(flag_factory: Any, document_factory: Any) -> dict[str, Any]:
    return document_factory(
        flag_factory(
            "checkout",
            targets=[{"variant": "on", "keys": ["vip"]}],
            rules=[
                {
                    "id": "pro",
                    "description": "",
                    "serve": {"variant": "on"},
                    "clauses": [_clause("plan", "equals", ["pro"])],
                }
            ],
        ),
        flag_factory("killed", on=False),
        flag_factory(
            "layout",
            kind="multivariate",
            variant_type="string",
            variants=[{"key": "a", "value": "classic"}, {"key": "b", "value": "new"}],
            off_variant="a",
            default={"variant": "b"},
        ),
        flag_factory(
            "limit",
            kind="multivariate",
            variant_type="number",
            variants=[{"key": "low", "value": 10}, {"key": "frac", "value": 2.5}],
            off_variant="low",
            default={"variant": "low"},
            rules=[
                {
                    "id": "f",
                    "description": "",
                    "serve": {"variant": "frac"},
                    "clauses": [_clause("plan", "equals", ["frac"])],
                }
            ],
        ),
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
                {
                    "id": "after",
                    "description": "",
                    "serve": {"variant": "on"},
                    "clauses": [_clause("signup", "date_after", ["2025-01-01T00:00:00Z"])],
                }
            ],
            default={"variant": "off"},
        ),
    )


@pytest.fixture
def of_client(document: dict[str, Any]) -> Iterator[Any]:
    provider = FlagplaneProvider(Client.from_document(document))
    api.set_provider_and_wait(provider)
    yield api.get_client()
    api.clear_providers()


def test_boolean_resolution_maps_reasons_and_variants(of_client: Any) -> None:
    target = of_client.get_boolean_details("checkout", False, EvaluationContext("vip"))
    assert (target.value, target.variant, target.reason) == (True, "on", Reason.TARGETING_MATCH)
    rule = of_client.get_boolean_details("checkout", False, EvaluationContext("u", {"plan": "pro"}))
    assert (rule.reason, rule.flag_metadata["rule"]) == (Reason.TARGETING_MATCH, "pro")
    split = of_client.get_boolean_details("checkout", False, EvaluationContext("user-1"))
    assert split.reason == Reason.SPLIT and isinstance(split.flag_metadata["bucket"], int)
    off = of_client.get_boolean_details("killed", True, EvaluationContext("u"))
    assert (off.value, off.reason) == (False, Reason.DISABLED)


def test_string_integer_float_and_object_resolution(of_client: Any) -> None:
    ctx = EvaluationContext("u")
    assert of_client.get_string_value("layout", "x", ctx) == "new"
    assert of_client.get_integer_value("limit", 0, ctx) == 10
    assert of_client.get_float_value("limit", 0.0, ctx) == 10.0
    assert of_client.get_object_value("theme", {}, ctx) == {"bg": "#000"}
    details = of_client.get_string_details("layout", "x", ctx)
    assert (details.variant, details.reason) == ("b", Reason.DEFAULT)


def test_type_mismatch_returns_the_default_with_an_error_code(of_client: Any) -> None:
    details = of_client.get_string_details("checkout", "fallback", EvaluationContext("u"))
    assert (details.value, details.error_code) == ("fallback", ErrorCode.TYPE_MISMATCH)
    fractional = of_client.get_integer_details("limit", 7, EvaluationContext("u", {"plan": "frac"}))
    assert (fractional.value, fractional.error_code) == (7, ErrorCode.TYPE_MISMATCH)


def test_unknown_flag_returns_the_default_with_flag_not_found(of_client: Any) -> None:
    details = of_client.get_boolean_details("nope", True, EvaluationContext("u"))
    assert (details.value, details.error_code, details.reason) == (
        True,
        ErrorCode.FLAG_NOT_FOUND,
        Reason.ERROR,
    )


def test_targeting_key_and_datetime_attributes_are_passed_through(of_client: Any) -> None:
    late = EvaluationContext("u", {"signup": datetime(2025, 6, 1, tzinfo=UTC)})
    early = EvaluationContext("u", {"signup": datetime(2024, 6, 1, tzinfo=UTC)})
    assert of_client.get_boolean_value("launch", False, late) is True
    assert of_client.get_boolean_value("launch", True, early) is False


def test_configuration_changed_event_after_a_refresh(
    control_plane: Any, make_client: Any, flag_factory: Any, document_factory: Any
) -> None:
    control_plane.publish(document_factory(flag_factory("checkout"), version=1))
    provider = FlagplaneProvider(make_client())
    changed = threading.Event()
    seen: list[EventDetails] = []

    def on_changed(details: EventDetails) -> None:
        seen.append(details)
        changed.set()

    api.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, on_changed)
    try:
        api.set_provider_and_wait(provider)
        control_plane.publish(
            document_factory(flag_factory("checkout", version=2, on=False), version=2)
        )
        assert changed.wait(5)
        assert seen[0].flags_changed == ["checkout"]
        assert api.get_client().get_boolean_value("checkout", True, EvaluationContext("u")) is False
    finally:
        api.remove_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, on_changed)
        api.clear_providers()
