"""Turning a flag on or off goes through a confirmation page and lands in the audit log with the reason."""

from controlplane.audit.models import AuditEntry
from controlplane.audit.services import SYSTEM
from controlplane.flags.models import FlagState
from controlplane.flags.services import toggle_flag


def toggle_url(flag, environment="production"):
    return f"/admin/flags/flag/{flag.pk}/toggle/{environment}/"


def test_turning_off_asks_for_confirmation_then_turns_the_flag_off(admin_client, admin_user, checkout_in_production):
    state = toggle_flag(checkout_in_production, SYSTEM, True)
    flag = state.flag

    page = admin_client.get(toggle_url(flag))
    assert page.status_code == 200
    assert "Turn new-checkout off in production?" in page.content.decode()
    assert FlagState.objects.get(pk=state.pk).on is True  # asking changes nothing

    response = admin_client.post(toggle_url(flag), {"on": "", "reason": "Checkout errors spiking"})
    assert response.status_code == 302
    assert response["Location"] == f"/admin/flags/flag/{flag.pk}/change/"
    state.refresh_from_db()
    assert state.on is False
    entry = AuditEntry.objects.filter(action="flag.turn_off").get()
    assert entry.reason == "Checkout errors spiking"
    assert entry.actor == "alice"
    assert entry.actor_user == admin_user
    assert entry.environment.key == "production"
    assert entry.changes["on"] == [True, False]


def test_turning_on(admin_client, checkout_in_production):
    flag = checkout_in_production.flag
    assert "Yes, turn it ON" in admin_client.get(toggle_url(flag)).content.decode()
    admin_client.post(toggle_url(flag), {"on": "True", "reason": "launch"})
    assert FlagState.objects.get(pk=checkout_in_production.pk).on is True
    assert AuditEntry.objects.filter(action="flag.turn_on", reason="launch").count() == 1


def test_resubmitting_the_confirmation_does_not_flip_the_flag_back(admin_client, checkout_in_production):
    flag = checkout_in_production.flag
    admin_client.post(toggle_url(flag), {"on": "True", "reason": "launch"})
    admin_client.post(toggle_url(flag), {"on": "True", "reason": "launch"})
    assert FlagState.objects.get(pk=checkout_in_production.pk).on is True
    assert AuditEntry.objects.filter(action="flag.turn_on").count() == 1


def test_bulk_turn_off_action_confirms_with_an_environment_and_reason(admin_client, checkout, layout, shop_production):
    for flag in (checkout, layout):
        toggle_flag(FlagState.objects.get(flag=flag, environment=shop_production), SYSTEM, True)
    selected = {"action": "turn_off", "_selected_action": [checkout.pk, layout.pk]}

    page = admin_client.post("/admin/flags/flag/", selected)
    assert page.status_code == 200
    assert "Turn off 2 flag(s)?" in page.content.decode()
    assert FlagState.objects.filter(environment=shop_production, on=True).count() == 2

    admin_client.post(
        "/admin/flags/flag/", {**selected, "confirm": "yes", "environment": "production", "reason": "incident 42"}
    )
    assert FlagState.objects.filter(environment=shop_production, on=True).count() == 0
    assert AuditEntry.objects.filter(action="flag.turn_off", reason="incident 42").count() == 2
