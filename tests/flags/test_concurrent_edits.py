"""Flag state updates carry ETags; a stale If-Match gets 412 and changes nothing. Creating the
same key twice at once is a 409."""

URL = "/api/v1/projects/shop/flags/new-checkout/environments/production/"


def test_update_with_current_etag_succeeds_and_returns_the_next_etag(api, checkout_flag):
    etag = api.get(URL)["ETag"]
    response = api.patch(URL, {"on": True}, format="json", HTTP_IF_MATCH=etag)
    assert response.status_code == 200
    assert response.json()["version"] == 2
    assert response["ETag"] != etag


def test_update_with_stale_etag_gets_412_and_changes_nothing(api, checkout_flag):
    stale = api.get(URL)["ETag"]
    assert api.patch(URL, {"on": True}, format="json", HTTP_IF_MATCH=stale).status_code == 200
    response = api.patch(URL, {"on": False}, format="json", HTTP_IF_MATCH=stale)
    assert response.status_code == 412
    assert response.json()["current_version"] == 2
    current = api.get(URL).json()
    assert current["on"] is True
    assert current["version"] == 2


def test_update_without_if_match_applies_last_write_wins(api, checkout_flag):
    assert api.patch(URL, {"on": True}, format="json").status_code == 200
    assert api.get(URL).json()["on"] is True


def test_a_key_created_twice_at_the_same_time_is_a_409(api, checkout_flag, monkeypatch):
    from django.db.models import QuerySet

    monkeypatch.setattr(QuerySet, "exists", lambda self: False)  # both requests passed the check
    response = api.post("/api/v1/projects/shop/flags/", {"key": "new-checkout"}, format="json")
    assert response.status_code == 409
    assert "at the same time" in response.json()["detail"]
