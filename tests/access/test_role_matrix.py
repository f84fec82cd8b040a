"""Every operation of the OpenAPI schema x every kind of caller: allowed or refused as docs/access.md
says, and the admin gives the same people the same answers.

Each request runs in a transaction that is rolled back, so every operation meets the same data.
"Refused" is 401 (anonymous), 403 (a role or the token's scope is missing) or 404 (a project the
caller has no role in); anything else (2xx, a 400 for the empty body, a 409) means the caller got
past the permission check.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client, RequestFactory
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from controlplane.access.services import grant_role
from controlplane.accounts.services import issue_api_token
from controlplane.audit.models import AuditEntry
from controlplane.audit.services import SYSTEM, Actor
from controlplane.flags.models import Flag, Segment
from controlplane.flags.services import create_segment
from controlplane.notifications.models import Webhook, WebhookDelivery
from controlplane.notifications.services import create_webhook
from controlplane.projects.models import ClientKey, Project, SdkKey
from controlplane.projects.services import create_project, issue_client_key, issue_sdk_key
from controlplane.rollouts.models import RolloutPlan
from tests.rollouts.helpers import create_plan

pytestmark = pytest.mark.django_db

# What each operation needs (SDK-key operations are tested in tests/api/test_permissions.py).
NEEDS = {
    "v1_audit_list": "list",
    "v1_audit_retrieve": "read",
    "v1_projects_list": "list",
    "v1_projects_create": "create-project",
    "v1_projects_retrieve": "read",
    "v1_projects_update": "manage",
    "v1_projects_partial_update": "manage",
    "v1_projects_environments_list": "read",
    "v1_projects_environments_create": "manage",
    "v1_projects_environments_retrieve": "read",
    "v1_projects_environments_update": "manage",
    "v1_projects_environments_partial_update": "manage",
    "v1_projects_environments_sdk_keys_list": "sdk_key.read",
    "v1_projects_environments_sdk_keys_create": "sdk_key.manage",
    "v1_projects_environments_sdk_keys_revoke_create": "sdk_key.manage",
    "v1_projects_environments_client_keys_list": "sdk_key.read",
    "v1_projects_environments_client_keys_create": "sdk_key.manage",
    "v1_projects_environments_client_keys_revoke_create": "sdk_key.manage",
    "v1_projects_flags_list": "read",
    "v1_projects_flags_create": "flag",
    "v1_projects_flags_retrieve": "read",
    "v1_projects_flags_update": "flag",
    "v1_projects_flags_partial_update": "flag",
    "v1_projects_flags_destroy": "flag",
    "v1_projects_flags_preview_create": "read",
    "v1_projects_flags_environments_retrieve": "read",
    "v1_projects_flags_environments_update": "targeting",
    "v1_projects_flags_environments_partial_update": "targeting",
    "v1_projects_flags_environments_toggle_create": "targeting",
    "v1_projects_segments_list": "read",
    "v1_projects_segments_create": "flag",
    "v1_projects_segments_retrieve": "read",
    "v1_projects_segments_update": "flag",
    "v1_projects_segments_partial_update": "flag",
    "v1_projects_segments_destroy": "flag",
    "v1_projects_webhooks_list": "webhook.read",
    "v1_projects_webhooks_create": "manage",
    "v1_projects_webhooks_retrieve": "webhook.read",
    "v1_projects_webhooks_update": "manage",
    "v1_projects_webhooks_partial_update": "manage",
    "v1_projects_webhooks_destroy": "manage",
    "v1_projects_webhook_deliveries_list": "webhook.read",
    "v1_projects_webhook_deliveries_retrieve": "webhook.read",
    "v1_projects_webhook_deliveries_retry_create": "manage",
    "v1_rollouts_list": "list",
    "v1_rollouts_create": "rollout",
    "v1_rollouts_retrieve": "read",
    "v1_rollouts_update": "rollout",
    "v1_rollouts_partial_update": "rollout",
    "v1_rollouts_destroy": "rollout",
    "v1_rollouts_decisions_list": "read",
    "v1_rollouts_metrics_retrieve": "read",
    "v1_rollouts_start_create": "rollout",
    "v1_rollouts_pause_create": "rollout",
    "v1_rollouts_resume_create": "rollout",
    "v1_rollouts_promote_create": "rollout",
    "v1_rollouts_rollback_create": "rollout",
    "v1_rollouts_cancel_create": "rollout",
    "v1_rollouts_approve_create": "approve",
}
SDK_OPERATIONS = {"v1_metrics_create"}  # config and stream are the edge's, not in the schema

EVERYTHING = {"list", "read", "flag", "targeting", "rollout", "approve", "sdk_key.read", "sdk_key.manage",
              "webhook.read", "manage", "create-project"}  # fmt: skip
MAY = {
    "anonymous": set(),
    "signed-in, no role": {"list"},
    "staff, no role": {"list"},
    "viewer": {"list", "read"},
    "editor": {"list", "read", "flag", "targeting", "rollout"},
    "approver": {"list", "read", "approve"},
    "admin": EVERYTHING - {"create-project"},
    "editor of development only": {"list", "read"},  # the operations act in production
    "superuser": EVERYTHING,
    "read token": {"list", "read", "sdk_key.read", "webhook.read"},
    "write token": EVERYTHING,
    "write token for another project": {"list"},
    "viewer's write token": {"list", "read"},
}
SESSION_CALLERS = [name for name in MAY if "token" not in name and name != "anonymous"]


def schema_operations() -> list[tuple[str, str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [(op["operationId"], method, path) for path, item in schema["paths"].items() for method, op in item.items()]


@pytest.fixture
def world(db):
    """shop (development, production) with one of everything; another project; people with roles."""
    shop = create_project(SYSTEM, key="shop", environments=["development", "production"])
    create_project(SYSTEM, key="other", environments=["production"])
    production = shop.environments.get(key="production")
    development = shop.environments.get(key="development")
    people = get_user_model().objects
    superuser = people.create_superuser("root", "root@example.com", "pw-root-123456")
    from controlplane.flags.services import create_flag

    create_flag(shop, SYSTEM, key="new-checkout")
    create_segment(shop, SYSTEM, key="beta", included=["u1"])
    issue_sdk_key(production, SYSTEM, "checkout-service")
    issue_client_key(production, SYSTEM, "storefront")
    create_webhook(shop, SYSTEM, url="https://hooks.example.com/flagplane")
    root_api = APIClient()
    root_api.credentials(
        HTTP_AUTHORIZATION="Bearer " + issue_api_token(superuser, SYSTEM, name="setup", scope="write")[1]
    )
    create_plan(root_api, [{"percent": 5, "min_dwell_s": 60}, {"percent": 100, "min_dwell_s": 60}], rules=[])
    WebhookDelivery.objects.create(webhook=Webhook.objects.get(), event_type="rollout.started", payload={})
    users = {"superuser": superuser}
    for name in ("signed-in, no role", "staff, no role", "viewer", "editor", "approver", "admin",
                 "editor of development only"):  # fmt: skip
        users[name] = people.create_user(name.replace(" ", "-").replace(",", ""), password="pw-1234567890",
                                         is_staff=name != "signed-in, no role")  # fmt: skip
    for role in ("viewer", "editor", "approver", "admin"):
        grant_role(shop, users[role], role, SYSTEM)
    grant_role(shop, users["editor of development only"], "editor", SYSTEM, environment=development)
    tokens = {
        "read token": issue_api_token(superuser, SYSTEM, name="r", scope="read")[1],
        "write token": issue_api_token(superuser, SYSTEM, name="w", scope="write")[1],
        "write token for another project": issue_api_token(
            superuser, SYSTEM, name="o", scope="write", project=Project.objects.get(key="other")
        )[1],
        "viewer's write token": issue_api_token(
            users["viewer"], Actor.for_user(users["viewer"]), name="v", scope="write"
        )[1],
    }
    return {"shop": shop, "production": production, "users": users, "tokens": tokens}


def client_for(caller: str, world) -> APIClient:
    client = APIClient()
    if caller in world["tokens"]:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {world['tokens'][caller]}")
    elif caller in world["users"]:
        client.force_login(world["users"][caller])
    return client


def concrete(path: str, operation: str) -> str:
    ids = {
        "sdk_keys": SdkKey.objects.get().pk,
        "client_keys": ClientKey.objects.get().pk,
        "webhook_deliveries": WebhookDelivery.objects.get().pk,
        "webhooks": Webhook.objects.get().pk,
        "rollouts": RolloutPlan.objects.get().pk,
        "audit": AuditEntry.objects.filter(project__key="shop").first().pk,
    }
    identifier = next(value for name, value in ids.items() if f"_{name}_" in operation) if "{id}" in path else ""
    return (
        path.replace("{project_key}", "shop")
        .replace("{environment_key}", "production")
        .replace("{flag_key}", "new-checkout")
        .replace("{segment_key}", "beta")
        .replace("{id}", str(identifier))
    )


BODIES = {"v1_rollouts_create": {"project": "shop", "flag": "new-checkout", "environment": "production"}}


def allowed(client: APIClient, operation: str, method: str, path: str) -> bool:
    with transaction.atomic():
        response = getattr(client, method)(concrete(path, operation), BODIES.get(operation, {}), format="json")
        transaction.set_rollback(True)
    assert response.status_code < 500, (operation, response.status_code, response.content[:300])
    return response.status_code not in (401, 403, 404)


def test_every_operation_of_the_schema_is_in_the_matrix():
    assert {operation for operation, _, _ in schema_operations()} == set(NEEDS) | SDK_OPERATIONS


@pytest.mark.parametrize("caller", list(MAY))
def test_each_caller_may_do_exactly_what_its_roles_allow(world, caller):
    client = client_for(caller, world)
    answers = {
        operation: allowed(client, operation, method, path)
        for operation, method, path in schema_operations()
        if operation in NEEDS
    }
    expected = {operation: NEEDS[operation] in MAY[caller] for operation in answers}
    wrong = {operation: answers[operation] for operation in answers if answers[operation] != expected[operation]}
    assert not wrong, f"{caller}: {wrong} (True: allowed)"


def test_lists_show_only_the_projects_a_caller_has_a_role_in(world):
    for caller, projects in (("signed-in, no role", []), ("viewer", ["shop"]), ("superuser", ["other", "shop"]),
                             ("write token for another project", ["other"])):  # fmt: skip
        client = client_for(caller, world)
        assert sorted(p["key"] for p in client.get("/api/v1/projects/").json()["results"]) == projects, caller
        audit = client.get("/api/v1/audit/").json()["results"]
        ids = set(Project.objects.filter(key__in=projects).values_list("pk", flat=True))
        assert {entry["project"] for entry in audit} <= {*ids, None}, caller
        assert len(client.get("/api/v1/rollouts/").json()["results"]) == (1 if "shop" in projects else 0), caller


def test_the_narrowed_editor_may_change_development_but_not_production(world):
    client = client_for("editor of development only", world)
    state = "/api/v1/projects/shop/flags/new-checkout/environments/{}/toggle"
    assert client.post(state.format("development"), {"on": True}, format="json").status_code == 200
    refused = client.post(state.format("production"), {"on": True}, format="json")
    assert refused.status_code == 403
    assert (
        "admin or editor role in project 'shop', environment 'production'; you have no role" in refused.json()["detail"]
    )


def test_a_session_refused_a_write_is_told_which_role_it_needs(world):
    response = client_for("viewer", world).post("/api/v1/projects/shop/flags/", {"key": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == "This needs the admin or editor role in project 'shop'; you have viewer there."
    token = client_for("read token", world).post("/api/v1/projects/shop/flags/", {"key": "x"}, format="json")
    assert "read-only" in token.json()["detail"]


# --- the admin gives the same answers --------------------------------------------------------------


def agreed(*answers: bool) -> bool | None:
    """One answer when the admins of server and client-side keys agree; None (never expected) if not."""
    return answers[0] if len(set(answers)) == 1 else None


def admin_answers(user, world) -> dict[str, bool]:
    """What the admin lets ``user`` do, need by need, asked of the very ModelAdmins the pages use."""
    request = RequestFactory().get("/admin/")
    request.user = user
    registry = admin.site._registry
    flag, plan, key = Flag.objects.get(), RolloutPlan.objects.get(), SdkKey.objects.get()
    client_key = ClientKey.objects.get()
    browser = Client()
    browser.force_login(user)
    targeting = browser.get(f"/admin/flags/flag/{flag.pk}/targeting/production/")
    return {
        "read": registry[Flag].has_view_permission(request, flag)
        and registry[Segment].has_view_permission(request, Segment.objects.get()),
        "flag": registry[Flag].has_change_permission(request, flag),
        "targeting": targeting.status_code == 200,
        "rollout": registry[RolloutPlan].may_act(request, plan, "pause"),
        "approve": registry[RolloutPlan].may_act(request, plan, "approve"),
        "sdk_key.read": agreed(
            registry[SdkKey].has_view_permission(request, key),
            registry[ClientKey].has_view_permission(request, client_key),
        ),
        "sdk_key.manage": agreed(
            registry[SdkKey].may_revoke(request, key), registry[ClientKey].may_revoke(request, client_key)
        ),
        "webhook.read": registry[Webhook].has_view_permission(request, Webhook.objects.get()),
        "manage": registry[Project].has_change_permission(request, world["shop"]),
        "create-project": registry[Project].has_add_permission(request),
    }


@pytest.mark.parametrize("caller", SESSION_CALLERS)
def test_the_admin_answers_as_the_api_does(world, caller):
    answers = admin_answers(world["users"][caller], world)
    assert answers == {need: need in MAY[caller] for need in answers}
