"""Schemathesis over the whole OpenAPI schema, once per auth scheme: no 5xx, every response as documented.

A live server (this test process's database) answers; schemathesis runs as its CLI, with a fixed
seed, its examples, coverage and fuzzing phases, and the checks for server errors, response
schemas, status codes and content types. Its totals are printed (``-s`` shows them).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils.crypto import get_random_string

from controlplane.accounts.services import issue_api_token
from controlplane.audit.models import AuditEntry
from controlplane.audit.services import SYSTEM
from controlplane.flags.services import create_flag, create_segment
from controlplane.notifications.models import WebhookDelivery
from controlplane.notifications.services import create_webhook
from controlplane.projects.services import issue_sdk_key
from controlplane.ratelimit import Limit
from tests.rollouts.helpers import create_plan

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), pytest.mark.timeout(900)]

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"
MAX_EXAMPLES = 10
PHASES = "examples,fuzzing"


@pytest.fixture
def unthrottled(settings):
    """The fuzzer sends thousands of requests from one address with one token."""
    settings.THROTTLE_API = settings.THROTTLE_ANONYMOUS = settings.THROTTLE_SDK_METRICS = Limit.parse("100000/min")
    settings.THROTTLE_AUTH_FAILURES = Limit.parse("100000/min")


@pytest.fixture
def credentials(project, production, admin_user, api):
    """One of everything, and a header set for each auth scheme of the schema."""
    create_flag(project, SYSTEM, key="new-checkout")
    create_segment(project, SYSTEM, key="beta", included=["u1"])
    webhook = create_webhook(project, SYSTEM, url="https://hooks.example.com/flagplane")
    delivery = WebhookDelivery.objects.create(webhook=webhook, event_type="rollout.started", payload={})
    plan = create_plan(api, [{"percent": 5, "min_dwell_s": 60}, {"percent": 100, "min_dwell_s": 60}], rules=[])
    sdk_key_row, sdk_key = issue_sdk_key(production, SYSTEM, "fuzzer")
    ids = {"sdk_key": sdk_key_row.pk, "webhook": webhook.pk, "delivery": delivery.pk, "plan": plan["id"],
           "audit": AuditEntry.objects.filter(project=project).first().pk}  # fmt: skip
    _, token = issue_api_token(admin_user, SYSTEM, name="fuzzer", scope="write")
    browser = Client()
    browser.force_login(get_user_model().objects.get(username="alice"))
    csrf = get_random_string(32)
    session = f"sessionid={browser.cookies['sessionid'].value}; csrftoken={csrf}"
    return ids, {
        "apiToken": [f"Authorization: Bearer {token}"],
        "cookieAuth": [f"Cookie: {session}", f"X-CSRFToken: {csrf}"],
        "sdkKey": [f"Authorization: Bearer {sdk_key}"],
    }


def config(ids: dict[str, int]) -> str:
    """schemathesis.toml: path parameters that name the objects made above, so requests reach the
    views' logic instead of 404s (bodies, queries and headers are still generated)."""
    fixed = {"project_key": "shop", "flag_key": "new-checkout", "environment_key": "production"}
    lines = ["[parameters]", *(f'"path.{name}" = "{value}"' for name, value in fixed.items())]
    per_path = [
        (r"^/api/v1/projects/\\{key\\}/", {"key": "shop"}),
        (r"/environments/\\{key\\}/", {"key": "production"}),
        (r"/flags/\\{key\\}/", {"key": "new-checkout"}),
        (r"/segments/\\{key\\}/", {"key": "beta"}),
        (r"/sdk-keys/\\{id\\}/", {"id": ids["sdk_key"]}),
        (r"/webhooks/\\{id\\}/", {"id": ids["webhook"]}),
        (r"/webhook-deliveries/\\{id\\}/", {"id": ids["delivery"]}),
        (r"/rollouts/\\{id\\}/", {"id": ids["plan"]}),
        (r"/audit/\\{id\\}/", {"id": ids["audit"]}),
    ]
    for regex, values in per_path:
        pairs = ", ".join(f'"path.{name}" = {value!r}'.replace("'", '"') for name, value in values.items())
        lines += ["", "[[operations]]", f'include-path-regex = "{regex}"', f"parameters = {{ {pairs} }}"]
    return "\n".join(lines) + "\n"


def fuzz(url: str, headers: list[str], tmp_path: Path) -> tuple[int, str]:
    command = [str(SCHEMATHESIS), "run", f"{url}/api/schema/", "--checks", CHECKS, "--max-examples", str(MAX_EXAMPLES),
               "--phases", PHASES, "--seed", "11", "--generation-database", "none",
               "--no-color", "--workers", "2", "--request-timeout", "30", "--suppress-health-check", "all"]  # fmt: skip
    for header in headers:
        command += ["--header", header]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("scheme", ["apiToken", "cookieAuth", "sdkKey"])
def test_the_whole_schema_gives_no_server_error_and_no_undocumented_answer(
    scheme, live_server, unthrottled, credentials, tmp_path
):
    ids, headers = credentials
    (tmp_path / "schemathesis.toml").write_text(config(ids))
    code, output = fuzz(live_server.url, headers[scheme], tmp_path)
    summary = [line for line in output.splitlines() if re.search(r"test cases|passed|failed|Operations", line)]
    print(f"schemathesis ({scheme}):", *summary[-6:], sep="\n  ")
    assert code == 0, output[-6000:]
