"""The REST API says what was committed and whether SDKs have it: a write's response and the
environment show the published version, when, and whether publication is behind."""

import time

import pytest

from controlplane.documents.services import rebuild
from tests.helpers import wait_until_worker_idle

TOGGLE = "/api/v1/projects/shop/flags/new-checkout/environments/production/toggle"
STATE = "/api/v1/projects/shop/flags/new-checkout/environments/production/"
ENVIRONMENT = "/api/v1/projects/shop/environments/production/"


@pytest.mark.django_db
def test_a_toggle_answers_behind_until_the_build_then_the_environment_says_published(api, production, checkout_flag):
    rebuild(production.id)
    published = api.get(ENVIRONMENT).json()["publication"]
    assert published["behind"] is False and published["version"] >= 1 and published["published_at"]

    answer = api.post(TOGGLE, {"on": True, "reason": "launch"}, format="json")
    assert answer.status_code == 200
    assert answer.json()["on"] is True
    publication = answer.json()["publication"]
    assert publication["behind"] is True
    assert publication["version"] == published["version"]
    assert publication["pending_changes"] == 1 and publication["behind_since"]

    rebuild(production.id)
    after = api.get(ENVIRONMENT).json()["publication"]
    assert after == {**after, "behind": False, "behind_since": None, "pending_changes": 0}
    assert after["version"] == published["version"] + 1
    assert api.get(STATE).json()["publication"] == after


@pytest.mark.django_db
def test_a_targeting_update_says_it_is_not_published_yet(api, production, checkout_flag):
    rebuild(production.id)
    answer = api.patch(STATE, {"on": True, "reason": "all in"}, format="json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["publication"]["behind"] is True


@pytest.mark.django_db
def test_every_environment_in_the_list_shows_its_publication(api, production, development):
    listed = api.get("/api/v1/projects/shop/environments/").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert {row["key"] for row in rows} >= {"production", "development"}
    assert all({"version", "published_at", "behind", "behind_since"} <= set(row["publication"]) for row in rows)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_publishes_the_toggle_and_the_api_then_says_so(celery_worker, api, production, checkout_flag):
    wait_until_worker_idle()
    before = api.get(ENVIRONMENT).json()["publication"]
    assert before["behind"] is False
    answer = api.post(TOGGLE, {"on": True, "reason": "launch"}, format="json")
    assert answer.status_code == 200

    deadline = time.monotonic() + 30
    while (publication := api.get(ENVIRONMENT).json()["publication"])["behind"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert publication["behind"] is False
    assert publication["version"] == before["version"] + 1
    assert publication["published_at"]
