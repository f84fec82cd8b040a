"""A new boolean flag turned ON serves `on`; the flag list and the API say what each environment serves."""

from __future__ import annotations

import re

from controlplane.audit.services import SYSTEM
from controlplane.flags.models import FlagState
from controlplane.flags.services import create_flag, toggle_flag, update_flag_state

FLAGS = "/api/v1/projects/shop/flags/"
FLAG_LIST = "/admin/flags/flag/"


def serves_in_list(html: str, environment: str) -> list[str]:
    """What the flag list says for ``environment``, flag by flag (in key order)."""
    pattern = rf'class="fp-badge fp-(?:on|off)"[^>]*>{environment}</a>([^<]*)(?:<a class="fp-rollout"[^>]*>([^<]*))?'
    return [" ".join(filter(None, (serves.strip(), rollout))) for serves, rollout in re.findall(pattern, html)]


def test_a_new_boolean_flag_turned_on_serves_on_to_everyone(api, project):
    assert api.post(FLAGS, {"key": "dark-mode"}, format="json").status_code == 201
    toggled = api.post(f"{FLAGS}dark-mode/environments/development/toggle", {"on": True}, format="json")
    assert toggled.status_code == 200, toggled.json()
    assert toggled.json()["default_serve"] == {"variant": "on"}

    preview = api.post(
        f"{FLAGS}dark-mode/preview/", {"environment": "development", "context": "user-42"}, format="json"
    )
    assert (preview.json()["value"], preview.json()["variant"]) == (True, "on")
    environments = api.get(f"{FLAGS}dark-mode/").json()["environments"]
    assert environments["development"]["serves"] == "ON: serves on"
    assert environments["production"]["serves"] == "OFF: serves off"


def test_the_flag_list_says_what_each_environment_serves(admin_client, project, production):
    split = create_flag(project, SYSTEM, key="a-split")
    update_flag_state(
        FlagState.objects.get(flag=split, environment=production),
        SYSTEM,
        {
            "on": True,
            "default_serve": {"split": [{"variant": "on", "weight": 25_000}, {"variant": "off", "weight": 75_000}]},
        },
    )
    ruled = create_flag(project, SYSTEM, key="b-rules")
    update_flag_state(
        FlagState.objects.get(flag=ruled, environment=production),
        SYSTEM,
        {
            "on": True,
            "default_serve": {"variant": "off"},
            "rules": [{"clauses": [{"attribute": "plan", "op": "in", "values": ["pro"]}], "serve": {"variant": "on"}}],
        },
    )
    create_flag(project, SYSTEM, key="c-off")
    toggle_flag(
        FlagState.objects.get(flag=create_flag(project, SYSTEM, key="d-on"), environment=production), SYSTEM, True
    )

    html = admin_client.get(FLAG_LIST).content.decode()
    assert "What each environment serves" in html
    assert serves_in_list(html, "production") == [
        "ON: 25% on / 75% off",
        "ON: rules, then off",
        "OFF: serves off",
        "ON: serves on",
    ]
    assert serves_in_list(html, "development") == ["OFF: serves off"] * 4


def test_the_list_shows_a_running_rollouts_stage_and_says_what_a_rollback_leaves(admin_client, api, checkout_flag):
    plan = api.post(
        "/api/v1/rollouts/",
        {
            "project": "shop",
            "flag": "new-checkout",
            "environment": "production",
            "stages": [{"percent": 5, "min_dwell_s": 600}, {"percent": 100, "min_dwell_s": 600}],
            "rules": [],
        },
        format="json",
    ).json()
    assert api.post(f"/api/v1/rollouts/{plan['id']}/start/", {"reason": "launch"}, format="json").status_code == 200

    html = admin_client.get(FLAG_LIST).content.decode()
    assert serves_in_list(html, "production") == ["ON: 5% on / 95% off rollout running at stage 1 of 2"]
    assert f'href="/admin/rollouts/rolloutplan/{plan["id"]}/change/"' in html

    assert api.post(f"/api/v1/rollouts/{plan['id']}/rollback/", {"reason": "errors"}, format="json").status_code == 200
    html = admin_client.get(FLAG_LIST).content.decode()
    assert serves_in_list(html, "production") == ["ON: serves off"]
