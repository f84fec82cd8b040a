"""Flag state updates carry ETags; a stale If-Match gets 412 and changes nothing. Creating the
same key twice at once is a 409."""

import threading
import time

import pytest
from django.db import connection

URL = "/api/v1/projects/shop/flags/new-checkout/environments/production/"


def test_update_with_current_etag_succeeds_and_returns_the_next_etag(api, checkout_flag):
    etag = api.get(URL)["ETag"]
    response = api.patch(URL, {"on": True, "reason": "launch"}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 200
    assert response.json()["version"] == 2
    assert response["ETag"] != etag


def test_update_with_stale_etag_gets_412_and_changes_nothing(api, checkout_flag):
    stale = api.get(URL)["ETag"]
    assert api.patch(URL, {"on": True, "reason": "launch"}, format="json", HTTP_IF_MATCH=stale).status_code == 200
    response = api.patch(URL, {"on": False, "reason": "incident"}, format="json", HTTP_IF_MATCH=stale)
    assert response.status_code == 412
    assert response.json()["current_version"] == 2
    current = api.get(URL).json()
    assert current["on"] is True
    assert current["version"] == 2


def test_a_weak_etag_among_others_names_the_current_version(api, checkout_flag):
    etag = api.get(URL)["ETag"]
    response = api.patch(URL, {"on": True, "reason": "launch"}, format="json", HTTP_IF_MATCH=f'"0-0", W/{etag}')
    assert response.status_code == 200
    assert response.json()["version"] == 2


def test_update_without_if_match_applies_last_write_wins(api, checkout_flag):
    assert api.patch(URL, {"on": True, "reason": "launch"}, format="json").status_code == 200
    assert api.get(URL).json()["on"] is True


def test_a_key_created_twice_at_the_same_time_is_a_409(api, checkout_flag, monkeypatch):
    from django.db.models import QuerySet

    monkeypatch.setattr(QuerySet, "exists", lambda self: False)  # both requests passed the check
    response = api.post("/api/v1/projects/shop/flags/", {"key": "new-checkout"}, format="json")
    assert response.status_code == 409
    assert "at the same time" in response.json()["detail"]


@pytest.mark.django_db(transaction=True)
def test_a_segment_is_not_deleted_while_a_rule_starts_using_it(checkout_flag, monkeypatch):
    """The rule's edit has validated and saved but not committed when the delete starts: the
    delete waits for it, sees the new reference and refuses."""
    from controlplane.audit.services import SYSTEM
    from controlplane.flags import services
    from controlplane.flags.errors import TargetingError
    from controlplane.flags.models import FlagState, Segment

    monkeypatch.setattr(services, "schedule_rebuild", lambda *args, **kwargs: None)  # no worker in this test
    segment = services.create_segment(checkout_flag.project, SYSTEM, key="beta", included=["u1"])
    state = FlagState.objects.get(flag=checkout_flag, environment__key="production")
    rule = {"clauses": [{"attribute": "key", "op": "in_segment", "values": ["beta"]}], "serve": {"variant": "on"}}
    saved, deleted = threading.Event(), []
    real_record = services.record

    def record_then_linger(*args, **kwargs):
        entry = real_record(*args, **kwargs)
        if args[1] == "flag_state.update":
            saved.set()
            time.sleep(0.5)  # the delete starts now, before this transaction commits
        return entry

    monkeypatch.setattr(services, "record", record_then_linger)

    def delete():
        saved.wait(5)
        try:
            services.delete_segment(segment, SYSTEM)
            deleted.append(True)
        except TargetingError:
            deleted.append(False)
        finally:
            connection.close()

    deleter = threading.Thread(target=delete)
    deleter.start()
    services.update_flag_state(state, SYSTEM, {"rules": [rule]})
    deleter.join()
    assert deleted == [False]
    assert Segment.objects.filter(key="beta").exists()
