"""After a write commits, a real Celery worker rebuilds the document that SDKs poll."""

import json
import time

import pytest

pytestmark = pytest.mark.integration


def poll_until(predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.mark.django_db(transaction=True)
def test_toggle_via_api_is_published_by_the_worker(celery_worker, edge, api, sdk_key, project):
    assert api.post("/api/v1/projects/shop/flags/", {"key": "new-search"}, format="json").status_code == 201

    def document():
        return json.loads(edge.get("/api/v1/sdk/config", sdk_key).body)

    before = poll_until(lambda: "new-search" in document()["flags"] and document())
    assert before["flags"]["new-search"]["on"] is False

    url = "/api/v1/projects/shop/flags/new-search/environments/production/toggle"
    assert api.post(url, {"on": True, "reason": "launch"}, format="json").status_code == 200
    after = poll_until(lambda: document()["flags"]["new-search"]["on"] and document())
    assert after["version"] > before["version"]
