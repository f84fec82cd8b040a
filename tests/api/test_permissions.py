"""Every endpoint needs authentication; read tokens read, write tokens write."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from controlplane.accounts.models import ApiToken
from controlplane.accounts.services import revoke_api_token
from controlplane.audit.services import SYSTEM

FLAGS = "/api/v1/projects/shop/flags/"


def client_with(token: str | None = None) -> APIClient:
    client = APIClient()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.mark.parametrize(
    "method,url",
    [
        ("get", "/api/v1/projects/"),
        ("get", FLAGS),
        ("post", FLAGS),
        ("get", "/api/v1/audit/"),
        ("get", "/api/v1/projects/shop/environments/production/sdk-keys/"),
    ],
)
def test_anonymous_requests_are_refused(project, method, url):
    response = getattr(client_with(), method)(url, {}, format="json")
    assert response.status_code == 401


def test_read_token_can_read_but_not_write(read_token, project):
    client = client_with(read_token)
    assert client.get(FLAGS).status_code == 200
    response = client.post(FLAGS, {"key": "sneaky"}, format="json")
    assert response.status_code == 403
    assert "read-only" in response.json()["detail"]


def test_write_token_can_create_a_flag(write_token, project):
    response = client_with(write_token).post(FLAGS, {"key": "new-search"}, format="json")
    assert response.status_code == 201
    assert response.json()["environments"] == {
        "development": {"on": False, "version": 1, "serves": "OFF: serves off"},
        "production": {"on": False, "version": 1, "serves": "OFF: serves off"},
    }


def test_revoked_token_is_refused(write_token, project):
    revoke_api_token(ApiToken.objects.get(name="ci"), SYSTEM)
    assert client_with(write_token).get(FLAGS).status_code == 401


def test_unknown_token_is_refused(project):
    assert client_with("fp_api_not-a-real-token").get(FLAGS).status_code == 401


def test_sdk_key_cannot_use_the_management_api(sdk_key, project):
    assert client_with(sdk_key).get(FLAGS).status_code == 401


def test_a_session_without_a_role_in_the_project_finds_nothing(project):
    user = get_user_model().objects.create_user("bob", password="x" * 12, is_staff=True)
    client = APIClient()
    client.force_login(user)
    assert client.get(FLAGS).status_code == 404
    assert client.post(FLAGS, {"key": "x"}, format="json").status_code == 404
    assert client.get("/api/v1/projects/").json()["results"] == []


def test_audit_log_cannot_be_written_through_the_api(api, project):
    assert api.post("/api/v1/audit/", {}, format="json").status_code == 405
    entry_id = api.get("/api/v1/audit/").json()["results"][0]["id"]
    assert api.delete(f"/api/v1/audit/{entry_id}/").status_code == 405


def test_last_use_of_a_token_is_recorded(write_token, project):
    assert client_with(write_token).get(FLAGS).status_code == 200
    assert ApiToken.objects.get(name="ci").last_used_at is not None
