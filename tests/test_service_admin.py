"""A write the domain function refuses is shown on the form, with what was typed, and saves nothing."""

from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model

from controlplane.access.models import RoleAssignment
from controlplane.audit.models import AuditEntry
from controlplane.audit.services import SYSTEM
from controlplane.flags.models import FlagState
from controlplane.flags.services import update_flag_state
from controlplane.notifications.models import Webhook
from controlplane.notifications.services import create_webhook
from controlplane.projects.services import create_project
from tests.flags.helpers import layout_without_compact


def test_a_refused_change_keeps_the_typed_input_and_saves_nothing(admin_client, layout, shop_production):
    update_flag_state(FlagState.objects.get(flag=layout, environment=shop_production), SYSTEM,
                      {"default_serve": {"variant": "compact"}})  # fmt: skip
    audited = AuditEntry.objects.count()
    response = admin_client.post(
        f"/admin/flags/flag/{layout.pk}/change/", layout_without_compact(name="Renamed", reason="drop compact")
    )
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert any("still uses a removed variant" in message for message in form.errors["variants"])
    assert form["name"].value() == "Renamed"
    layout.refresh_from_db()
    assert (layout.name, layout.variant_keys()) == ("checkout-layout", ["control", "compact"])
    assert AuditEntry.objects.count() == audited
    assert not LogEntry.objects.exists()


def test_a_webhook_the_control_plane_would_not_call_is_refused_on_the_form(admin_client, shop):
    response = admin_client.post(
        "/admin/notifications/webhook/add/", {"project": shop.pk, "url": "https://10.0.0.7/hook", "active": "on"}
    )
    assert response.status_code == 200
    assert "This URL will not be called" in " ".join(response.context["adminform"].form.errors["url"])
    assert not Webhook.objects.exists()


def test_a_role_in_another_projects_environment_is_refused_on_the_form(admin_client, shop):
    bob = get_user_model().objects.create_user("bob", password="pw-1234567890", is_staff=True)
    elsewhere = create_project(SYSTEM, key="other", environments=["production"]).environments.get()
    data = {"user": bob.pk, "project": shop.pk, "environment": elsewhere.pk, "role": "viewer", "reason": ""}
    response = admin_client.post("/admin/access/roleassignment/add/", data)
    assert response.status_code == 200
    assert "not an environment of 'shop'" in " ".join(response.context["adminform"].form.errors["environment"])
    assert not RoleAssignment.objects.exists()
    assert not AuditEntry.objects.filter(action="role.grant").exists()


def test_delete_selected_goes_through_the_domain_function_one_by_one(admin_client, shop):
    hooks = [create_webhook(shop, SYSTEM, url=f"https://hooks.example.com/{name}") for name in ("a", "b")]
    response = admin_client.post(
        "/admin/notifications/webhook/",
        {"action": "delete_selected", "_selected_action": [hook.pk for hook in hooks], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Webhook.objects.exists()
    assert AuditEntry.objects.filter(action="webhook.delete", reason="deleted in the admin").count() == 2
