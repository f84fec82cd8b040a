"""Bad targeting gets a 400 naming the field, and nothing changes."""

import pytest

from controlplane.audit.models import AuditEntry
from controlplane.flags.models import FlagState

STATE_URL = "/api/v1/projects/shop/flags/{flag}/environments/production/"


def clause(**overrides):
    return {"attribute": "plan", "op": "equals", "values": ["free"], **overrides}


def put_rule(api, flag, **clause_overrides):
    rule = {"clauses": [clause(**clause_overrides)], "serve": {"variant": "on"}}
    return api.patch(STATE_URL.format(flag=flag), {"rules": [rule]}, format="json")


@pytest.fixture
def unchanged(checkout_flag):
    """Asserts after the test body that the state kept its version and no audit entry was added."""
    state = FlagState.objects.get(flag=checkout_flag, environment__key="production")
    audit_count = AuditEntry.objects.count()
    yield
    state.refresh_from_db()
    assert state.version == 1
    assert state.rules == []
    assert AuditEntry.objects.count() == audit_count


def test_unknown_operator_is_rejected_with_its_field(api, unchanged):
    response = put_rule(api, "new-checkout", op="looks_like")
    assert response.status_code == 400
    assert "Unknown operator 'looks_like'" in response.json()["rules.0.clauses.0.op"][0]


def test_bad_regex_is_rejected_with_its_value(api, unchanged):
    response = put_rule(api, "new-checkout", op="regex", values=["^(free|pro"])
    assert response.status_code == 400
    assert "Invalid regular expression" in response.json()["rules.0.clauses.0.values.0"][0]


def test_split_weights_must_sum_to_100_percent(api, unchanged):
    split = {"split": [{"variant": "on", "percent": 10}, {"variant": "off", "percent": 80}]}
    response = api.patch(STATE_URL.format(flag="new-checkout"), {"default_serve": split}, format="json")
    assert response.status_code == 400
    assert "add up to 90" in response.json()["default_serve.split"][0]


def test_a_percentage_that_is_not_a_finite_number_is_rejected(api, unchanged):
    split = {"split": [{"variant": "on", "percent": "NaN"}, {"variant": "off", "percent": 100}]}
    response = api.patch(STATE_URL.format(flag="new-checkout"), {"default_serve": split}, format="json")
    assert response.status_code == 400
    assert "from 0 to 100" in response.json()["default_serve.split.0.percent"][0]


def test_percentages_finer_than_a_thousandth_are_rejected(api, unchanged):
    split = {"split": [{"variant": "on", "percent": 0.0005}, {"variant": "off", "percent": 99.9995}]}
    response = api.patch(STATE_URL.format(flag="new-checkout"), {"default_serve": split}, format="json")
    assert response.status_code == 400
    assert "three decimals" in response.json()["default_serve.split.0.percent"][0]


def test_unknown_segment_is_rejected(api, unchanged):
    response = put_rule(api, "new-checkout", attribute="key", op="in_segment", values=["no-such-segment"])
    assert response.status_code == 400
    assert "Unknown segment 'no-such-segment'" in response.json()["rules.0.clauses.0.values.0"][0]


def test_unknown_variant_is_rejected(api, unchanged):
    response = api.patch(STATE_URL.format(flag="new-checkout"), {"default_serve": {"variant": "maybe"}}, format="json")
    assert response.status_code == 400
    assert "Unknown variant 'maybe'" in response.json()["default_serve.variant"][0]


def test_numeric_operator_needs_numbers(api, unchanged):
    response = put_rule(api, "new-checkout", op="num_gt", values=["many"])
    assert response.status_code == 400
    assert "give a number" in response.json()["rules.0.clauses.0.values.0"][0]


def test_variant_value_of_the_wrong_type_is_rejected(api, layout_flag):
    variants = [{"key": "control", "value": "control"}, {"key": "compact", "value": 3}]
    response = api.patch("/api/v1/projects/shop/flags/checkout-layout/", {"variants": variants}, format="json")
    assert response.status_code == 400
    assert "variant type (string)" in response.json()["variants.1.value"][0]
    layout_flag.refresh_from_db()
    assert layout_flag.variants[1]["value"] == "compact"


def test_variants_without_keys_are_rejected_with_their_field(api, project):
    variants = [{"value": "compact"}, {"value": "wide"}]
    response = api.post(
        "/api/v1/projects/shop/flags/",
        {"key": "layout", "kind": "multivariate", "variant_type": "string", "variants": variants},
        format="json",
    )
    assert response.status_code == 400
    assert "variants.0.key" in response.json()


def test_flag_key_cannot_change(api, checkout_flag):
    response = api.patch("/api/v1/projects/shop/flags/new-checkout/", {"key": "renamed"}, format="json")
    assert response.status_code == 400
    assert "cannot change" in response.json()["key"][0]


def test_duplicate_flag_key_is_rejected(api, checkout_flag):
    response = api.post("/api/v1/projects/shop/flags/", {"key": "new-checkout"}, format="json")
    assert response.status_code == 400
    assert "already exists" in response.json()["key"][0]


def test_valid_rule_with_every_kind_of_value_is_saved(api, checkout_flag):
    rules = [
        {
            "description": "iOS beta",
            "clauses": [
                clause(attribute="app_version", op="semver_gte", values=["2.4.0"]),
                clause(attribute="ip", op="in_cidr", values=["10.0.0.0/8"]),
                clause(attribute="signup", op="date_after", values=["2026-01-01T00:00:00Z"]),
                clause(attribute="email", op="ends_with", values=["@EXAMPLE.com"], case_insensitive=True),
            ],
            "serve": {"split": [{"variant": "on", "weight": 1}, {"variant": "off", "weight": 99_999}]},
        }
    ]
    response = api.patch(STATE_URL.format(flag="new-checkout"), {"rules": rules, "reason": "beta"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["version"] == 2
    assert body["rules"][0]["serve"]["split"][0] == {"variant": "on", "weight": 1}
    assert body["rules"][0]["id"]


def test_a_nul_character_is_a_400_and_nothing_changes(api, unchanged):
    body = '{"targets": [{"variant": "on", "keys": ["qa\\u0000"]}], "reason": "QA accounts"}'
    response = api.patch(STATE_URL.format(flag="new-checkout"), body, content_type="application/json")
    assert response.status_code == 400
    assert "nothing was saved" in response.json()["detail"]


def test_a_regex_with_a_backreference_is_rejected_naming_re2(api, unchanged):
    response = put_rule(api, "new-checkout", op="regex", values=[r"^(a+)\1$"])
    assert response.status_code == 400
    message = response.json()["rules.0.clauses.0.values.0"][0]
    assert "invalid escape sequence" in message
    assert "RE2 syntax (no backreferences or look-around)" in message
