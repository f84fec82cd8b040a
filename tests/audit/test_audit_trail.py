"""Every write lands in the audit log with who, what, the diff and the reason; it is append-only."""

import pytest
from django.db import DatabaseError, transaction

from controlplane.audit.models import AuditEntry

STATE_URL = "/api/v1/projects/shop/flags/new-checkout/environments/production/"


def test_toggle_through_the_api_records_actor_diff_and_reason(api, checkout_flag):
    response = api.post(STATE_URL + "toggle", {"on": True, "reason": "launch day"}, format="json")
    assert response.status_code == 200
    entry = AuditEntry.objects.filter(action="flag.turn_on").get()
    assert entry.actor.startswith("token:ci")
    assert entry.actor_user.username == "alice"
    assert entry.reason == "launch day"
    assert entry.changes["on"] == [False, True]
    assert entry.changes["version"] == [1, 2]
    assert entry.environment.key == "production"
    assert entry.project.key == "shop"


def test_flag_creation_and_archive_are_recorded(api, project):
    api.post("/api/v1/projects/shop/flags/", {"key": "dark-mode", "reason": "design review"}, format="json")
    api.delete("/api/v1/projects/shop/flags/dark-mode/", HTTP_X_FLAGPLANE_REASON="experiment over")
    actions = list(AuditEntry.objects.filter(object_type="flag").order_by("id").values_list("action", "reason"))
    assert actions == [("flag.create", "design review"), ("flag.archive", "experiment over")]


def test_an_edit_that_also_archives_records_each_change_once(api, checkout_flag):
    body = {"name": "Old checkout", "archived": True, "reason": "replaced"}
    assert api.patch("/api/v1/projects/shop/flags/new-checkout/", body, format="json").status_code == 200
    entries = AuditEntry.objects.filter(object_type="flag", action__in=["flag.update", "flag.archive"]).order_by("id")
    assert [(entry.action, sorted(entry.changes)) for entry in entries] == [
        ("flag.update", ["name"]),
        ("flag.archive", ["archived"]),
    ]


def test_sdk_key_issue_and_revoke_are_recorded(api, production):
    url = "/api/v1/projects/shop/environments/production/sdk-keys/"
    issued = api.post(url, {"name": "web"}, format="json").json()
    assert issued["key"].startswith("fp_srv_")
    api.post(f"{url}{issued['id']}/revoke/", {"reason": "leaked"}, format="json")
    assert list(AuditEntry.objects.filter(object_type="sdkkey").order_by("id").values_list("action", flat=True)) == [
        "sdk_key.issue",
        "sdk_key.revoke",
    ]
    assert api.get(url).json()["results"][0]["revoked_at"] is not None
    assert "digest" not in api.get(url).json()["results"][0]


def test_audit_log_filters_by_action_and_environment(api, checkout_flag):
    api.post(STATE_URL + "toggle", {"on": True, "reason": "launch"}, format="json")
    results = api.get("/api/v1/audit/", {"action": "flag.turn_on", "environment": "production"}).json()["results"]
    assert [entry["action"] for entry in results] == ["flag.turn_on"]


def test_the_api_gives_each_entry_s_request_id(api, project):
    api.post("/api/v1/projects/shop/flags/", {"key": "dark-mode"}, format="json", HTTP_X_REQUEST_ID="req-7f3a9c")
    results = api.get("/api/v1/audit/", {"action": "flag.create"}).json()["results"]
    assert [entry["request_id"] for entry in results] == ["req-7f3a9c"]


def test_a_bad_time_filter_is_a_400_naming_its_parameter(api, project):
    for param in ("since", "until"):
        response = api.get("/api/v1/audit/", {param: "yesterday-ish"})
        assert response.status_code == 400
        assert set(response.json()) == {"detail", "code", param}


def test_database_refuses_to_update_or_delete_audit_entries(checkout_flag):
    entry = AuditEntry.objects.first()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(reason="rewritten")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
