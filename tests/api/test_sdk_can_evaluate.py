"""Every flag-state write ends with the SDK's own engine compiling the flag: whatever the
control plane's validation might let through that no SDK could evaluate is a 400 naming the
field, and nothing is saved."""

import math

import pytest

from controlplane.audit.services import SYSTEM
from controlplane.flags import services
from controlplane.flags.errors import TargetingError
from controlplane.flags.models import FlagState

STATE = "/api/v1/projects/shop/flags/new-checkout/environments/production/"


def test_a_state_the_sdk_cannot_compile_is_a_400_naming_the_field(api, checkout_flag, monkeypatch):
    # A gap in the control plane's validation, simulated: it returns the targeting unchecked.
    def unchecked(**targeting):
        return {name: targeting[name] for name in ("targets", "rules", "default_serve", "bucket_by")}

    monkeypatch.setattr(services, "validate_targeting", unchecked)
    rule = {
        "id": "r1",
        "description": "",
        "clauses": [{"attribute": "seats", "op": "num_gt", "values": ["many"], "negate": False}],
        "serve": {"variant": "on"},
    }
    response = api.patch(STATE, {"rules": [rule], "reason": "test"}, format="json")
    assert response.status_code == 400, response.content[:500]
    message = response.json()["rules.0.clauses.0.values.0"][0]
    assert message.startswith("SDKs could not evaluate this:") and "number" in message
    state = FlagState.objects.get(flag=checkout_flag, environment__key="production")
    assert state.version == 1 and state.rules == []


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_number_variant_is_refused(project, bad):
    with pytest.raises(TargetingError) as refused:
        services.create_flag(
            project,
            SYSTEM,
            key="price",
            kind="multivariate",
            variant_type="number",
            variants=[{"key": "a", "value": 1}, {"key": "b", "value": bad}],
        )
    assert "variant type (number)" in refused.value.errors["variants.1.value"][0]
