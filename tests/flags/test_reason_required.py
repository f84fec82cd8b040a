"""An environment can require a reason for every flag change (production does by default): the API and
the admin refuse a change without one and save nothing; every on/off change in the admin is confirmed."""

from __future__ import annotations

import re

from controlplane.audit.models import AuditEntry
from controlplane.audit.services import SYSTEM
from controlplane.flags.models import FlagState
from controlplane.flags.services import toggle_flag
from controlplane.projects.services import create_environment

FLAG = "/api/v1/projects/shop/flags/new-checkout/"
REQUIRED = "Production requires a reason for every change to a flag: say why (it goes into the audit log)."


def test_production_requires_a_reason_by_default_and_other_environments_do_not(api, project):
    environments = {
        e["key"]: e["require_reason"] for e in api.get("/api/v1/projects/shop/environments/").json()["results"]
    }
    assert environments == {"development": False, "production": True}
    created = api.post("/api/v1/projects/shop/environments/", {"key": "staging"}, format="json").json()
    assert created["require_reason"] is False


def test_the_api_refuses_a_change_without_a_reason_in_production_and_saves_nothing(api, checkout_flag):
    for method, path, body in [
        ("post", "environments/production/toggle", {"on": True}),
        ("post", "environments/production/toggle", {"on": True, "reason": "   "}),
        ("patch", "environments/production/", {"targets": [{"variant": "on", "keys": ["qa-1"]}]}),
    ]:
        response = getattr(api, method)(FLAG + path, body, format="json")
        assert response.status_code == 400
        body = response.json()
        assert (body["reason"], body["code"]) == ([REQUIRED], "invalid")
        assert set(body) == {"detail", "code", "reason"}
    state = api.get(FLAG + "environments/production/").json()
    assert (state["on"], state["targets"], state["version"]) == (False, [], 1)
    assert not AuditEntry.objects.filter(object_type="flagstate").exists()

    assert (
        api.post(FLAG + "environments/production/toggle", {"on": True, "reason": "launch"}, format="json").status_code
        == 200
    )
    assert api.post(FLAG + "environments/development/toggle", {"on": True}, format="json").status_code == 200


def test_the_setting_can_be_turned_off_per_environment_and_is_audited(api, checkout_flag):
    response = api.patch(
        "/api/v1/projects/shop/environments/production/",
        {"require_reason": False, "reason": "staging-like"},
        format="json",
    )
    assert response.json()["require_reason"] is False
    assert AuditEntry.objects.get(action="environment.update").changes == {"require_reason": [True, False]}
    assert api.post(FLAG + "environments/production/toggle", {"on": True}, format="json").status_code == 200


def test_an_environment_can_be_created_requiring_a_reason(project):
    assert create_environment(project, SYSTEM, key="eu-live", require_reason=True).require_reason is True
    assert create_environment(project, SYSTEM, key="prod").require_reason is True


def test_the_admin_confirmation_asks_for_the_reason_production_requires(admin_client, checkout_flag, production):
    url = f"/admin/flags/flag/{checkout_flag.pk}/toggle/production/"
    page = admin_client.get(url).content.decode()
    assert "Required in Production." in page

    refused = admin_client.post(url, {"on": "True", "reason": ""})
    assert refused.status_code == 200
    assert REQUIRED in refused.content.decode()
    assert FlagState.objects.get(flag=checkout_flag, environment=production).on is False

    assert admin_client.post(url, {"on": "True", "reason": "launch"}).status_code == 302
    assert FlagState.objects.get(flag=checkout_flag, environment=production).on is True


def test_the_bulk_action_asks_for_the_reason_production_requires(admin_client, checkout_flag, production):
    toggle_flag(FlagState.objects.get(flag=checkout_flag, environment=production), SYSTEM, True)
    selected = {"action": "turn_off", "_selected_action": [checkout_flag.pk], "confirm": "yes"}

    refused = admin_client.post("/admin/flags/flag/", {**selected, "environment": "production", "reason": ""})
    assert REQUIRED in refused.content.decode()
    assert FlagState.objects.get(flag=checkout_flag, environment=production).on is True

    admin_client.post("/admin/flags/flag/", {**selected, "environment": "production", "reason": "incident 7"})
    assert FlagState.objects.get(flag=checkout_flag, environment=production).on is False


def test_the_targeting_page_has_no_on_checkbox_and_links_to_the_confirmation(admin_client, checkout_flag, production):
    state = FlagState.objects.get(flag=checkout_flag, environment=production)
    url = f"/admin/flags/flag/{checkout_flag.pk}/targeting/production/"
    page = admin_client.get(url).content.decode()
    assert 'name="on"' not in page
    assert f'href="/admin/flags/flag/{checkout_flag.pk}/toggle/production/"' in page

    post = {
        "version": "1",
        "clause_rows": "4",
        "bucket_by": "key",
        "serve_mode": "variant",
        "serve_variant": "on",
        "split_order": "on,off",
        "on": "on",  # an old form's checkbox changes nothing
        "reason": "",
        "rules-TOTAL_FORMS": "0",
        "rules-INITIAL_FORMS": "0",
        "rules-MIN_NUM_FORMS": "0",
        "rules-MAX_NUM_FORMS": "1000",
        "targets_0": "qa-1",
    }
    refused = admin_client.post(url, post)
    assert REQUIRED in refused.content.decode()
    assert FlagState.objects.get(pk=state.pk).version == 1

    assert admin_client.post(url, {**post, "reason": "QA accounts"}).status_code == 302
    saved = FlagState.objects.get(pk=state.pk)
    assert (saved.version, saved.on, saved.targets) == (2, False, [{"variant": "on", "keys": ["qa-1"]}])


def test_the_environment_admin_sets_the_requirement(admin_client, project):
    add = "/admin/projects/environment/add/"
    base = {"project": project.pk, "name": "", "position": "", "reason": "new region"}
    assert admin_client.post(add, {**base, "key": "prod", "require_reason": "unknown"}).status_code == 302
    assert admin_client.post(add, {**base, "key": "eu-live", "require_reason": "true"}).status_code == 302
    assert admin_client.post(add, {**base, "key": "qa", "require_reason": "unknown"}).status_code == 302
    required = dict(project.environments.values_list("key", "require_reason"))
    assert (required["prod"], required["eu-live"], required["qa"]) == (True, True, False)

    production = project.environments.get(key="production")
    change = f"/admin/projects/environment/{production.pk}/change/"
    page = admin_client.get(change).content.decode()
    assert re.search(r"<input type=\"checkbox\" name=\"require_reason\"[^>]* checked>", page)
    admin_client.post(change, {"name": "Production", "position": "1", "reason": "a sandbox now"})
    production.refresh_from_db()
    assert production.require_reason is False
