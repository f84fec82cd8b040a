"""flagplane_webhook_deliveries_total counts each attempt's outcome."""

from __future__ import annotations

import pytest

from controlplane.notifications.services import attempt_delivery, notify
from tests.observability.helpers import scrape, value

pytestmark = pytest.mark.django_db

NAME = "flagplane_webhook_deliveries_total"


def test_attempts_are_counted_as_retrying_succeeded_or_failed(
    client, project, webhook, receiver, fast_retries, django_capture_on_commit_callbacks
):
    fast_retries.NOTIFICATIONS_MAX_ATTEMPTS = 2
    with django_capture_on_commit_callbacks(execute=False):
        [succeeding] = notify(project, "rollout.completed", {"plan": 1})
        [failing] = notify(project, "rollout.completed", {"plan": 2})
    before = scrape(client)

    receiver.fail_first = 1
    attempt_delivery(succeeding.pk)  # 500: retrying
    attempt_delivery(succeeding.pk)  # 204: succeeded
    receiver.always_fail = True
    attempt_delivery(failing.pk)  # 500: retrying
    attempt_delivery(failing.pk)  # 500 on the last attempt: failed

    after = scrape(client)
    outcomes = ("retrying", "succeeded", "failed")
    moved = {
        outcome: value(after, NAME, outcome=outcome) - value(before, NAME, outcome=outcome) for outcome in outcomes
    }
    assert moved == {"retrying": 2, "succeeded": 1, "failed": 1}
