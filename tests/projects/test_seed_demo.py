"""`manage.py seed_demo` creates a usable demo, and running it again duplicates nothing."""

import io
import json

from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory
from rest_framework.test import APIClient

from controlplane.flags.models import Flag, FlagState


def seed() -> dict:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
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

    sdk = APIClient()
    sdk.credentials(HTTP_AUTHORIZATION=f"Bearer {credentials['sdk_key']}")
    document = sdk.get("/api/v1/sdk/config").json()
    assert document["environment"] == "production"
    assert document["flags"]["new-checkout"]["default"]["split"][0] == {"variant": "on", "weight": 10_000}
