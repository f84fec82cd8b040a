"""The API's audit list searches by words (``?q=``, the admin's search) with its other filters, and
pages the matches by cursor like the list: ``next`` and ``previous`` walk them newest first, no
entry twice, no count."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from controlplane.access.services import grant_role
from controlplane.accounts.services import issue_api_token
from controlplane.audit import search
from controlplane.audit.models import AuditEntry
from controlplane.audit.services import SYSTEM, Actor
from controlplane.projects.services import create_project

URL = "/api/v1/audit/"


@pytest.fixture
def crowd(project, production):
    """300 entries by "deployer" in the shop's production, every tenth about flag-7; the oldest
    entry of the log, in another project, is the only one that says "archaeology"."""
    other = create_project(SYSTEM, key="museum", environments=["production"])
    AuditEntry.objects.create(actor="historian", action="flag.update", object_type="flag", object_id="1",
                              object_repr="old-flag", reason="archaeology", project=other)  # fmt: skip
    AuditEntry.objects.bulk_create(
        AuditEntry(actor="deployer", action="flag.update" if i % 2 else "flag.turn_on", object_type="flag",
                   object_id=str(i), object_repr=f"flag-{i % 10}", project=project, environment=production)
        for i in range(300)
    )  # fmt: skip
    return other


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [entry["id"] for entry in response.json()["results"]]


def expected(**lookups) -> list[int]:
    return list(AuditEntry.objects.filter(**lookups).values_list("pk", flat=True))


def test_a_word_finds_its_entries_newest_first(api, crowd):
    assert ids(api.get(URL, {"q": "flag-7", "limit": 500})) == expected(object_repr="flag-7")
    assert ids(api.get(URL, {"q": "archaeology"})) == expected(reason="archaeology")
    assert ids(api.get(URL, {"q": '"old-flag" archaeology'})) == expected(reason="archaeology")
    assert ids(api.get(URL, {"q": "flag-7 archaeology"})) == []  # every word must be there
    assert ids(api.get(URL, {"q": "nowhere"})) == []


def test_a_search_follows_the_other_filters(api, crowd):
    assert ids(api.get(URL, {"q": "flag-7", "action": "flag.turn_on"})) == []  # flag-7's are all odd
    assert ids(api.get(URL, {"q": "flag-7", "action": "flag.update"})) == expected(object_repr="flag-7")
    assert ids(api.get(URL, {"q": "flag-7", "project": "museum"})) == []
    assert ids(api.get(URL, {"q": "flag-7", "project": "shop", "environment": "development"})) == []
    assert ids(api.get(URL, {"q": "old-flag", "project": "museum"})) == expected(object_repr="old-flag")
    assert ids(api.get(URL, {"q": "deployer", "actor": "histor"})) == []
    assert ids(api.get(URL, {"q": "old-flag", "actor": "histor"})) == expected(object_repr="old-flag")


@pytest.mark.parametrize("window", [1, 40, 10_000], ids=["through the index", "walked further", "walked"])
def test_next_and_previous_pages_walk_the_matches_without_repeats(api, crowd, monkeypatch, window):
    monkeypatch.setattr(search, "WINDOW", window)
    everything = expected(actor="deployer")
    pages, response = [], api.get(URL, {"q": "deployer", "limit": 70})
    while True:
        body = response.json()
        assert "count" not in body
        pages.append(ids(response))
        if body["next"] is None:
            break
        response = api.get(body["next"])
    assert [pk for page in pages for pk in page] == everything
    assert [len(page) for page in pages] == [70, 70, 70, 70, 20]
    back = []
    while body["previous"] is not None:
        response = api.get(body["previous"])
        body = response.json()
        back.append(ids(response))
    assert back == pages[-2::-1]


def test_a_search_without_a_word_is_the_list(api, crowd):
    assert ids(api.get(URL, {"q": '* "" -', "limit": 500})) == ids(api.get(URL, {"limit": 500}))


def test_a_search_without_a_word_filters_as_the_list_does(api, project, production):
    """Its filters' ids are plain integers, as the list's btree indexes read them, not the
    search's bigints."""
    AuditEntry.objects.create(actor="deployer", action="flag.update", object_type="flag", object_id="1",
                              object_repr="flag-1", project=project, environment=production)  # fmt: skip
    with CaptureQueriesContext(connection) as queries:
        assert ids(api.get(URL, {"q": "--", "project": "shop", "environment": "production"}))
    on_the_log = [q["sql"] for q in queries if 'FROM "audit_auditentry"' in q["sql"]]
    assert on_the_log and not [sql for sql in on_the_log if "::bigint" in sql], on_the_log


def test_a_caller_finds_only_the_entries_of_projects_they_may_read(crowd, project):
    bob = get_user_model().objects.create_user("bob")
    grant_role(crowd, bob, "viewer", SYSTEM)
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION="Bearer " + issue_api_token(bob, Actor.for_user(bob), name="b", scope="read")[1]
    )
    assert ids(client.get(URL, {"q": "flag-7"})) == []
    assert ids(client.get(URL, {"q": "archaeology"})) == expected(reason="archaeology")


def test_the_schema_documents_the_search_parameter():
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    parameters = {p["name"]: p for p in schema["paths"]["/api/v1/audit/"]["get"]["parameters"]}
    assert {"q", "cursor", "limit", "project", "actor"} <= set(parameters)
    assert "newest first" in parameters["q"]["description"]


def test_an_actor_s_substring_however_short_finds_its_entries(api, crowd):
    bot = AuditEntry.objects.create(actor="token:ci-bot", action="flag.update", object_type="flag",
                                    object_id="9", object_repr="flag-7", project=crowd)  # fmt: skip
    for actor in ("ci", "CI-", "i-b", "ci-bot"):
        assert ids(api.get(URL, {"actor": actor})) == [bot.pk], actor
        assert ids(api.get(URL, {"actor": actor, "q": "flag-7"})) == [bot.pk], actor
        assert ids(api.get(URL, {"actor": actor, "q": "deployer"})) == [], actor
