"""Acceptance with a client nobody here wrote: the PyPI package openfeature-provider-ofrep with
openfeature-sdk, against a running control plane (live_server)."""

import pytest

pytest.importorskip("openfeature.contrib.provider.ofrep")

from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from tests.ofrep.helpers import make_world


@pytest.fixture
def openfeature_client(transactional_db, live_server):
    world = make_world()
    provider = OFREPProvider(live_server.url, headers_factory=lambda: {"Authorization": f"Bearer {world.client_key}"})
    api.set_provider_and_wait(provider)
    yield api.get_client()
    api.clear_providers()


def test_boolean_string_number_and_object_flags(openfeature_client):
    ctx = EvaluationContext("user-1")
    banner = openfeature_client.get_string_details("banner-text", "fallback", ctx)
    assert (banner.value, banner.variant, banner.reason, banner.error_code) == ("Hello", "hello", Reason.STATIC, None)
    assert openfeature_client.get_integer_value("max-items", 1, ctx) == 25
    assert openfeature_client.get_object_value("theme", {}, ctx) == {"dark": True, "n": 3}
    checkout = openfeature_client.get_boolean_details("new-checkout", True, ctx)
    assert (checkout.value, checkout.reason) == (False, Reason.DEFAULT)
    assert checkout.flag_metadata == {"team": "payments"}


def test_targeting(openfeature_client):
    pro = openfeature_client.get_boolean_details("new-checkout", False, EvaluationContext("user-1", {"plan": "pro"}))
    assert (pro.value, pro.variant, pro.reason) == (True, "on", Reason.TARGETING_MATCH)
    assert pro.flag_metadata["rule"] == "pro"


def test_a_disabled_flag_gives_the_callers_default(openfeature_client):
    # The server answers {"key", "reason": "DISABLED", "metadata"} without a value (OFREP's
    # codeDefaultFlag). openfeature-provider-ofrep 0.3.0 reads a missing "variant" as an error, so
    # the SDK reports GENERAL, but the value is the caller's default either way.
    for default in (True, False):
        details = openfeature_client.get_boolean_details("killed", default, EvaluationContext("user-1"))
        assert details.value is default


def test_a_missing_flag_and_a_server_only_flag_are_flag_not_found(openfeature_client):
    for key in ("no-such-flag", "server-only"):
        details = openfeature_client.get_boolean_details(key, True, EvaluationContext("user-1"))
        assert (details.value, details.error_code, details.reason) == (True, ErrorCode.FLAG_NOT_FOUND, Reason.ERROR)


def test_a_type_mismatch_is_reported_by_the_provider(openfeature_client):
    details = openfeature_client.get_boolean_details("banner-text", True, EvaluationContext("user-1"))
    assert (details.value, details.error_code) == (True, ErrorCode.TYPE_MISMATCH)
