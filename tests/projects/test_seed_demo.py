"""`manage.py seed_demo` creates a usable demo; running it again duplicates nothing, issues no new
credentials and leaves the admin password alone."""

import io
import json
import stat

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.test import RequestFactory
from rest_framework.test import APIClient

from controlplane.accounts.models import ApiToken
from controlplane.audit.models import AuditEntry
from controlplane.flags.models import Flag, FlagState
from controlplane.projects import sdk_keys
from controlplane.projects.models import SdkKey
from tests.documents.helpers import published_document


@pytest.fixture(autouse=True)
def credentials_file(settings, tmp_path):
    settings.DEMO_CREDENTIALS_FILE = tmp_path / ".demo-credentials.json"
    return settings.DEMO_CREDENTIALS_FILE


def seed(*args: str) -> dict:
    out = io.StringIO()
    call_command("seed_demo", *args, stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_seed_demo_is_idempotent_and_prints_working_credentials(db):
    seed()
    credentials = seed()
    assert set(credentials) == {"admin_user", "admin_password", "api_token", "sdk_key"}
    assert Flag.objects.filter(project__key="demo").count() == 4
    assert FlagState.objects.filter(flag__project__key="demo").count() == 8

    signing_in = RequestFactory().post("/admin/login/")
    user = authenticate(signing_in, username=credentials["admin_user"], password=credentials["admin_password"])
    assert user.is_superuser
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {credentials['api_token']}")
    flags = api.get("/api/v1/projects/demo/flags/").json()["results"]
    assert {flag["key"] for flag in flags} == {
        "payments-enabled",
        "new-checkout",
        "free-plan-upsell",
        "checkout-layout",
    }
    assert api.post("/api/v1/projects/demo/flags/", {"key": "written-by-seed-token"}, format="json").status_code == 201

    key = sdk_keys.authenticate(credentials["sdk_key"])
    document = published_document(key.environment_id)
    assert document["environment"] == "production"
    assert document["flags"]["new-checkout"]["default"]["split"][0] == {"variant": "on", "weight": 10_000}


def test_running_it_seven_times_prints_the_same_credentials_and_issues_one_of_each(db, credentials_file):
    first = seed()
    for _ in range(6):
        assert seed() == first
    assert ApiToken.objects.filter(name="demo-automation", revoked_at__isnull=True).count() == 1
    assert SdkKey.objects.filter(name="demo-service", revoked_at__isnull=True).count() == 1
    assert AuditEntry.objects.filter(action__in=["api_token.issue", "sdk_key.issue"]).count() == 2
    assert stat.S_IMODE(credentials_file.stat().st_mode) == 0o600


def test_a_password_changed_since_is_left_alone(db):
    seed()
    admin = get_user_model().objects.get(username="admin")
    admin.set_password("my own password")
    admin.save()

    again = seed()

    assert again["admin_password"] is None
    assert get_user_model().objects.get(username="admin").check_password("my own password")
    assert seed("--password", "chosen again")["admin_password"] == "chosen again"
    assert get_user_model().objects.get(username="admin").check_password("chosen again")


def test_credentials_that_no_longer_work_are_replaced_and_the_lost_ones_revoked(db, credentials_file):
    first = seed()
    credentials_file.unlink()  # e.g. a fresh clone against the same database

    second = seed()

    assert (second["api_token"], second["sdk_key"]) != (first["api_token"], first["sdk_key"])
    assert ApiToken.objects.filter(name="demo-automation", revoked_at__isnull=True).count() == 1
    assert SdkKey.objects.filter(name="demo-service", revoked_at__isnull=True).count() == 1
    revoked = AuditEntry.objects.filter(action__in=["api_token.revoke", "sdk_key.revoke"])
    assert {entry.reason for entry in revoked} == {"issued by an earlier seed_demo whose plaintext is lost"}
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {first['api_token']}")
    assert api.get("/api/v1/projects/").status_code == 401
