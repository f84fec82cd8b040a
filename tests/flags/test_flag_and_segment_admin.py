"""Flags and segments are created, edited, archived and deleted through the domain services."""

from controlplane.audit.models import AuditEntry
from controlplane.audit.services import SYSTEM
from controlplane.flags.models import Flag, FlagState, Segment
from controlplane.flags.services import update_flag_state
from tests.flags.helpers import layout_without_compact


def test_creating_a_boolean_flag(admin_client, shop):
    response = admin_client.post(
        "/admin/flags/flag/add/",
        {
            "project": shop.pk,
            "key": "dark-mode",
            "name": "",
            "description": "",
            "tags": "ui, beta",
            "owner": "web",
            "kind": "boolean",
            "variant_type": "",
            "variants": "",
            "off_variant": "",
            "salt": "",
            "reason": "ticket 7",
        },
    )
    assert response.status_code == 302, response.content.decode()
    flag = Flag.objects.get(key="dark-mode")
    assert (flag.name, flag.tags, flag.variant_keys()) == ("dark-mode", ["beta", "ui"], ["on", "off"])
    assert FlagState.objects.filter(flag=flag).count() == 3
    assert AuditEntry.objects.filter(action="flag.create", reason="ticket 7", actor="alice").exists()


def test_a_duplicate_key_is_shown_on_the_form(admin_client, checkout):
    response = admin_client.post(
        "/admin/flags/flag/add/",
        {
            "project": checkout.project_id,
            "key": "new-checkout",
            "kind": "boolean",
            "tags": "",
            "variants": "",
        },
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert Flag.objects.count() == 1


def test_editing_a_flag_keeps_its_key(admin_client, layout):
    url = f"/admin/flags/flag/{layout.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert 'name="key"' not in page  # read-only after creation
    assert "Edit targeting" in page
    response = admin_client.post(
        url,
        {
            "key": "hijacked",
            "name": "Layout",
            "description": "",
            "tags": "layout",
            "owner": "",
            "kind": "multivariate",
            "variant_type": "string",
            "off_variant": "control",
            "salt": "",
            "reason": "add a variant",
            "variants": '[{"key": "control", "value": "control"}, {"key": "compact", "value": "compact"},'
            ' {"key": "wide", "value": "wide"}]',
        },
    )
    assert response.status_code == 302, response.content.decode()
    layout.refresh_from_db()
    assert layout.key == "checkout-layout"
    assert layout.variant_keys() == ["control", "compact", "wide"]
    assert AuditEntry.objects.filter(action="flag.update", reason="add a variant").exists()


def test_removing_a_variant_still_in_use_is_refused_on_the_form(admin_client, layout, shop_production):
    state = FlagState.objects.get(flag=layout, environment=shop_production)
    update_flag_state(state, SYSTEM, {"default_serve": {"variant": "compact"}})
    response = admin_client.post(f"/admin/flags/flag/{layout.pk}/change/", layout_without_compact())
    assert response.status_code == 200
    assert "still uses a removed variant" in response.content.decode()
    layout.refresh_from_db()
    assert layout.variant_keys() == ["control", "compact"]


def test_archive_and_restore_actions(admin_client, checkout):
    admin_client.post("/admin/flags/flag/", {"action": "archive", "_selected_action": [checkout.pk]})
    checkout.refresh_from_db()
    assert checkout.archived is True
    admin_client.post("/admin/flags/flag/", {"action": "restore", "_selected_action": [checkout.pk]})
    checkout.refresh_from_db()
    assert checkout.archived is False
    assert [e.action for e in AuditEntry.objects.filter(object_type="flag").order_by("id")] == [
        "flag.create",
        "flag.archive",
        "flag.restore",
    ]


def test_flags_cannot_be_deleted(admin_client, checkout):
    assert admin_client.post(f"/admin/flags/flag/{checkout.pk}/delete/", {"post": "yes"}).status_code == 403


def test_segments_are_created_edited_and_deleted_through_the_services(admin_client, shop):
    response = admin_client.post(
        "/admin/flags/segment/add/",
        {
            "project": shop.pk,
            "key": "beta",
            "name": "Beta",
            "description": "",
            "included": "u1\nu2, u3",
            "excluded": "",
            "rules": '[{"clauses": [{"attribute": "plan", "op": "in", "values": ["pro"]}]}]',
        },
    )
    assert response.status_code == 302, response.content.decode()
    segment = Segment.objects.get(key="beta")
    assert segment.included == ["u1", "u2", "u3"]
    assert segment.rules[0]["clauses"][0]["negate"] is False

    response = admin_client.post(
        f"/admin/flags/segment/{segment.pk}/change/",
        {
            "name": "Beta",
            "description": "",
            "included": "u1",
            "excluded": "u9",
            "rules": "[]",
        },
    )
    assert response.status_code == 302
    segment.refresh_from_db()
    assert (segment.included, segment.excluded, segment.rules, segment.version) == (["u1"], ["u9"], [], 2)

    admin_client.post(f"/admin/flags/segment/{segment.pk}/delete/", {"post": "yes"})
    assert not Segment.objects.exists()
    assert [e.action for e in AuditEntry.objects.filter(object_type="segment").order_by("id")] == [
        "segment.create",
        "segment.update",
        "segment.delete",
    ]


def test_a_segment_in_use_is_not_deleted(admin_client, checkout_in_production, shop):
    admin_client.post("/admin/flags/segment/add/", {"project": shop.pk, "key": "beta", "name": "", "rules": ""})
    segment = Segment.objects.get()
    update_flag_state(
        checkout_in_production,
        SYSTEM,
        {
            "rules": [
                {"serve": {"variant": "on"}, "clauses": [{"attribute": "key", "op": "in_segment", "values": ["beta"]}]}
            ]
        },
    )
    response = admin_client.post(f"/admin/flags/segment/{segment.pk}/delete/", {"post": "yes"}, follow=True)
    assert "Not deleted" in response.content.decode()
    assert Segment.objects.exists()
    assert not AuditEntry.objects.filter(action="segment.delete").exists()


def test_a_bad_segment_rule_is_shown_on_the_form(admin_client, shop):
    response = admin_client.post(
        "/admin/flags/segment/add/",
        {
            "project": shop.pk,
            "key": "broken",
            "rules": '[{"clauses": [{"attribute": "a", "op": "nope", "values": [1]}]}]',
        },
    )
    assert response.status_code == 200
    assert "Unknown operator" in response.content.decode()
    assert not Segment.objects.exists()
