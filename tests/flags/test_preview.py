"""The preview page evaluates a flag for a typed context with the SDK's engine and says why."""

from controlplane.audit.services import SYSTEM
from controlplane.flags.models import FlagState
from controlplane.flags.services import update_flag_state


def test_preview_shows_value_variant_reason_and_rule(admin_client, checkout_in_production):
    update_flag_state(
        checkout_in_production,
        SYSTEM,
        {
            "on": True,
            "rules": [
                {
                    "id": "pro",
                    "description": "Pro plan",
                    "serve": {"variant": "on"},
                    "clauses": [{"attribute": "plan", "op": "in", "values": ["pro"]}],
                }
            ],
        },
    )
    url = f"/admin/flags/flag/{checkout_in_production.flag_id}/preview/"
    assert admin_client.get(url).status_code == 200

    html = admin_client.post(url, {"environment": "production", "context": '{"key": "u1", "plan": "pro"}'}).content
    html = html.decode()
    assert "<strong>RULE_MATCH</strong>" in html
    assert "pro — Pro plan" in html
    assert "<code>true</code>" in html

    html = admin_client.post(url, {"environment": "development", "context": "u1"}).content.decode()
    assert "<strong>OFF</strong>" in html


def test_preview_of_a_split_shows_the_bucket(admin_client, layout, shop_production):
    state = FlagState.objects.get(flag=layout, environment=shop_production)
    split = {"split": [{"variant": "control", "weight": 50000}, {"variant": "compact", "weight": 50000}]}
    update_flag_state(state, SYSTEM, {"on": True, "default_serve": split})
    html = admin_client.post(
        f"/admin/flags/flag/{layout.pk}/preview/", {"environment": "production", "context": '{"key": "user-42"}'}
    ).content.decode()
    assert "<strong>SPLIT</strong>" in html
    assert "(of 100000)" in html


def test_a_context_that_is_not_json_is_explained(admin_client, checkout):
    html = admin_client.post(
        f"/admin/flags/flag/{checkout.pk}/preview/", {"environment": "production", "context": '{"key": '}
    ).content.decode()
    assert "Not valid JSON" in html
