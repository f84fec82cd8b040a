"""Every API error is one JSON shape, whatever went wrong and wherever; no input makes a 500."""

from rest_framework.test import APIClient

from controlplane.flags.models import FlagState

STATE = "/api/v1/projects/shop/flags/new-checkout/environments/production/"


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code and isinstance(body["detail"], str) and body["detail"]
    return body


def test_an_unknown_api_path_is_a_json_404(api, project):
    assert_error(api.get("/api/v1/nothing-here/"), 404, "not_found")
    assert_error(api.get("/api/v1/projects/shop/webhook-deliveries/null,null/retry/"), 404, "not_found")


def test_a_method_a_path_does_not_have_is_a_json_405_and_is_not_in_the_schema(api, checkout_flag):
    assert_error(api.get(STATE + "toggle"), 405, "method_not_allowed")
    schema = APIClient().get("/api/schema/?format=json").json()
    assert set(
        schema["paths"]["/api/v1/projects/{project_key}/flags/{flag_key}/environments/{environment_key}/toggle"]
    ) == {"post"}


def test_unknown_fields_are_refused_not_ignored(api, checkout_flag):
    body = assert_error(api.patch(STATE, {"enabled": True}, format="json"), 400, "invalid")
    assert body["enabled"][0].startswith("Unknown field")
    assert FlagState.objects.get(flag=checkout_flag, environment__key="production").version == 1


def test_json_nested_thousands_deep_is_a_400(api, checkout_flag):
    for depth in (100, 5_000, 100_000):
        response = api.patch(STATE, "[" * depth + "]" * depth, content_type="application/json")
        assert "nested more than 64 levels" in assert_error(response, 400, "parse_error")["detail"]


def test_a_body_over_the_limit_is_a_413(api, checkout_flag, settings):
    settings.API_MAX_BODY_BYTES = 1000
    response = api.patch(STATE, {"reason": "x" * 2000}, format="json")
    assert_error(response, 413, "too_large")


def test_a_body_under_the_limit_but_over_djangos_default_is_read(api, checkout_flag):
    # Django refuses bodies over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MiB by default) before our parser
    # reads them: a 10,000-series metrics batch with unit groups is ~8 MiB.
    response = api.patch(STATE, {"reason": "x" * (3 * 1024 * 1024)}, format="json")
    assert response.status_code == 400, response.content[:500]


def test_a_body_over_api_max_body_bytes_is_a_json_413_naming_the_limit(api, checkout_flag, settings):
    assert settings.API_MAX_BODY_BYTES == 10 * 1024 * 1024  # the default, four times Django's own
    response = api.patch(STATE, {"reason": "x" * settings.API_MAX_BODY_BYTES}, format="json")
    assert "larger than 10485760 bytes (API_MAX_BODY_BYTES)" in assert_error(response, 413, "too_large")["detail"]


def test_the_api_limit_is_not_djangos(api, checkout_flag, settings):
    # Django's DATA_UPLOAD_MAX_MEMORY_SIZE bounds the admin's and OFREP's bodies; the API's parser
    # reads the stream itself, so only API_MAX_BODY_BYTES applies to an API body.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.patch(STATE, {"reason": "x" * 2000}, format="json")
    assert response.status_code == 200, response.content[:500]


def test_field_errors_keep_their_paths_beside_the_detail(api, checkout_flag):
    rule = {"clauses": [{"attribute": "plan", "op": "looks_like", "values": ["x"]}], "serve": {"variant": "on"}}
    body = assert_error(api.patch(STATE, {"rules": [rule], "reason": "test"}, format="json"), 400, "invalid")
    assert "Unknown operator 'looks_like'" in body["rules.0.clauses.0.op"][0]


def test_a_fault_on_our_side_is_a_json_500_without_a_traceback(api, checkout_flag, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the database fell over")

    monkeypatch.setattr("controlplane.flags.services.toggle_flag", broken)
    response = api.post(STATE + "toggle", {"on": True, "reason": "test"}, format="json")
    body = assert_error(response, 500, "server_error")
    assert "fell over" not in body["detail"]


def test_anonymous_and_throttled_answers_have_the_shape_too(api, project, settings):
    from controlplane.ratelimit import Limit

    assert_error(APIClient().get("/api/v1/projects/"), 401, "not_authenticated")
    settings.THROTTLE_API = Limit.parse("1/hour")
    api.get("/api/v1/projects/")
    assert_error(api.get("/api/v1/projects/"), 429, "throttled")


def test_the_admin_preview_refuses_deep_json_with_a_message(admin_client, checkout_flag):
    response = admin_client.post(
        f"/admin/flags/flag/{checkout_flag.pk}/preview/",
        {"environment": "production", "context": "[" * 5000 + "]" * 5000},
    )
    assert response.status_code == 200
    assert "nested more than 64 levels" in response.content.decode()
