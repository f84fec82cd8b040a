"""The admin's search of the audit log finds entries by the words an operator has at hand (a
flag's key, who did it, a word of the reason), and reads the log through its indexes however
common the word (bench/scale_audit.py times it at 10M entries)."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from controlplane.accounts.services import issue_api_token
from controlplane.audit import search
from controlplane.audit.models import AuditEntry, has_trigram
from controlplane.audit.services import SYSTEM, Actor
from controlplane.flags.services import create_flag, update_flag_state
from controlplane.projects.services import create_project

URL = "/admin/audit/auditentry/"
TABLE = AuditEntry._meta.db_table


def found(admin_client, text: str, **params) -> list[AuditEntry]:
    response = admin_client.get(URL, {"q": text, **params})
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


REASON = "Rolled back after the incident INC-4521"


@pytest.fixture
def incident(checkout_in_production):
    return update_flag_state(checkout_in_production, SYSTEM, {"on": True}, reason=REASON)


@pytest.fixture
def crowd(shop):
    """300 entries: every one by "deployer", every tenth about flag-7 as well; then the oldest
    entry of the log is the only one that says "archaeology"."""
    AuditEntry.objects.create(actor="historian", action="flag.update", object_type="flag", object_id="1",
                              object_repr="old-flag", reason="archaeology", project=shop)  # fmt: skip
    AuditEntry.objects.bulk_create(
        AuditEntry(actor="deployer", action="flag.update", object_type="flag", object_id=str(i),
                   object_repr=f"flag-{i % 10}", project=shop)
        for i in range(300)
    )  # fmt: skip


def test_a_flag_key_finds_the_entries_about_that_flag(admin_client, checkout, layout, checkout_in_production):
    update_flag_state(checkout_in_production, SYSTEM, {"on": True})
    entries = found(admin_client, "new-checkout")
    assert {entry.action for entry in entries} == {"flag.create", "flag_state.update"}
    assert {entry.object_repr for entry in entries} == {"new-checkout", "new-checkout in production"}
    assert [entry.object_repr for entry in found(admin_client, "checkout-layout")] == ["checkout-layout"]


def test_a_key_s_beginning_ending_in_a_star_finds_it(admin_client, checkout, layout):
    assert [entry.object_repr for entry in found(admin_client, "checkout-lay*")] == ["checkout-layout"]
    assert found(admin_client, "checkout-lay") == []  # a word is a whole word


def test_a_beginning_keeps_the_parts_before_it_whole(admin_client, shop):
    for name in ["flag-4321", "flagship-4321", "flag-5432"]:
        AuditEntry.objects.create(actor="deployer", action="flag.update", object_type="flag", object_id="1",
                                  object_repr=name, project=shop)  # fmt: skip
    assert [entry.object_repr for entry in found(admin_client, "flag-43*")] == ["flag-4321"]
    assert {entry.object_repr for entry in found(admin_client, "flag*")} == {"flag-4321", "flagship-4321", "flag-5432"}


def test_an_actor_finds_the_entries_they_made(admin_client, admin_user, project):
    token, _ = issue_api_token(admin_user, Actor.for_user(admin_user), name="deploy-bot", scope="write")
    create_flag(project, Actor.for_token(token), key="made-by-a-bot", name="Bot's flag")
    by_bot = found(admin_client, "deploy-bot made-by-a-bot")
    assert [(entry.action, entry.actor.split(" ")[0]) for entry in by_bot] == [("flag.create", "token:deploy-bot")]
    assert {entry.action for entry in found(admin_client, "alice")} == {"api_token.issue", "flag.create"}


def test_a_request_id_finds_the_entries_of_that_request(admin_client, api, project):
    body = {"key": "dark-mode", "reason": "design review"}
    api.post("/api/v1/projects/shop/flags/", body, format="json", HTTP_X_REQUEST_ID="req-7f3a9c")
    entries = found(admin_client, "req-7f3a9c")
    assert "flag.create" in {entry.action for entry in entries}
    assert {entry.request_id for entry in entries} == {"req-7f3a9c"}
    assert AuditEntry.objects.exclude(request_id="req-7f3a9c").filter(request_id="").exists()  # written outside


@pytest.mark.parametrize("offered", ["req 7f3a9c", "r" * 129], ids=["a space", "129 characters"])
def test_a_refused_request_id_is_stored_as_a_fresh_one(admin_client, api, project, offered):
    api.post("/api/v1/projects/shop/flags/", {"key": "dark-mode"}, format="json", HTTP_X_REQUEST_ID=offered)
    entry = AuditEntry.objects.get(action="flag.create", object_repr="dark-mode")
    assert entry.request_id not in ("", offered)
    assert found(admin_client, entry.request_id) == [entry]


def test_a_word_of_the_reason_finds_its_entries(admin_client, incident):
    for text in ["incident", "INC-4521", "roll*", '"after the incident"', "incident new-checkout"]:
        assert [entry.reason for entry in found(admin_client, text)] == [REASON], text
    assert found(admin_client, '"incident after"') == []
    assert found(admin_client, "incident checkout-layout") == []  # every word must be there


def test_a_search_is_newest_first_with_no_column_to_sort_by(admin_client, checkout, layout):
    html = admin_client.get(URL, {"q": "checkout*"}).content.decode()
    assert "sortable" not in html
    newest_first = [entry.object_repr for entry in found(admin_client, "checkout*", o="-1")]
    assert newest_first == ["checkout-layout", "new-checkout"]  # an asked-for order is not taken


def test_a_search_without_a_word_lists_every_entry(admin_client, checkout):
    assert len(found(admin_client, '* "" -')) == AuditEntry.objects.count()


def test_a_beginning_with_no_word_in_it_is_left_out(admin_client, checkout, layout):
    """PostgreSQL's parser finds no word in ``½``: ``½*`` would be the tsquery ``:*``, an error."""
    assert len(found(admin_client, "½*")) == AuditEntry.objects.count()
    assert [entry.object_repr for entry in found(admin_client, "½* checkout-layout")] == ["checkout-layout"]


@pytest.mark.parametrize("window", [1, 20, 10_000])
@pytest.mark.parametrize("text", ["deployer", "flag-7", "archaeology", "deployer flag-7", "flag-7*", "nowhere"])
def test_every_page_is_the_matches_newest_first_however_it_was_read(crowd, monkeypatch, window, text):
    """The newest entries suffice for a common word's first pages; the rest come through the
    index: either way a page is what filtering the whole log would give."""
    monkeypatch.setattr(search, "WINDOW", window)
    query = search.query_of(text)
    everything = AuditEntry.objects.all()
    expected = list(search.matching(everything, query).order_by("-at", "-id").values_list("pk", flat=True))
    for offset in (0, 25, 50, 290, 400):
        page = search.page(everything, query, offset, 25)
        shown = offset if offset < len(expected) else max(len(expected) - 1, 0) // 25 * 25  # else the last page
        assert (page.offset, [entry.pk for entry in page.entries]) == (shown, expected[shown : shown + 25])
        if page.estimated:  # from a walk of the newest entries
            assert page.count >= len(expected[: shown + 25]), (text, offset)
        else:  # the whole list walked, or through the index
            assert page.count == len(expected), (text, offset)
    if window == 10_000:
        assert not search.page(everything, query, 0, 25).estimated  # the whole list was walked


def test_the_search_follows_the_list_s_filters(admin_client, crowd, shop):
    other = create_project(SYSTEM, key="other", environments=["production"])
    AuditEntry.objects.create(actor="deployer", action="flag.update", object_type="flag", object_id="x",
                              object_repr="flag-7", project=other)  # fmt: skip
    assert len(found(admin_client, "flag-7", project__id__exact=other.pk)) == 1
    assert len(found(admin_client, "flag-7", project__id__exact=shop.pk)) == 30


@pytest.mark.parametrize("walk_cost", [0, 10**9], ids=["walked", "through the index"])
def test_the_admin_pages_through_a_search(admin_client, crowd, monkeypatch, walk_cost):
    """Page 1 from the newest 150 entries; page 2 from a longer walk or, when that costs more, the index."""
    monkeypatch.setattr(search, "WINDOW", 150)
    monkeypatch.setattr(search, "WALK_COST", walk_cost)
    first, second = found(admin_client, "deployer"), found(admin_client, "deployer", p=2)
    expected = list(AuditEntry.objects.filter(actor="deployer").values_list("pk", flat=True))
    assert [entry.pk for entry in first + second] == expected[:200]
    count = admin_client.get(URL, {"q": "deployer", "p": 2}).context["cl"].result_count
    assert count == 300 if walk_cost else count >= 200  # exact through the index, else estimated


def plan(sql: str, settings: dict[str, str]) -> str:
    """The plan of ``sql`` under ``settings``, which are then undone (rolled back)."""
    with transaction.atomic(), connection.cursor() as cursor:
        for name, value in settings.items():
            cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
        cursor.execute(f"EXPLAIN {sql}")
        transaction.set_rollback(True)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize("text", ["archaeology", "deployer flag-7", '"flag-7"', "flag-7*"])
def test_a_rare_word_is_read_through_the_search_index(crowd, monkeypatch, text):
    monkeypatch.setattr(search, "WINDOW", 1)
    with CaptureQueriesContext(connection) as queries:
        search.page(AuditEntry.objects.all(), search.query_of(text), 0, 25)
    [through_the_index] = [q["sql"] for q in queries if "OVER ()" in q["sql"]]
    explained = plan(through_the_index, search.INDEX_ONLY)
    assert "Bitmap Index Scan on audit_search" in explained, explained
    assert f"Seq Scan on {TABLE}" not in explained, explained


def test_the_newest_entries_are_walked_in_the_list_s_order(crowd, monkeypatch):
    monkeypatch.setattr(search, "WINDOW", 50)
    with CaptureQueriesContext(connection) as queries:
        search.page(AuditEntry.objects.all(), search.query_of("deployer"), 0, 25)
    [walk] = [q["sql"] for q in queries if "to_tsvector" in q["sql"] and "EXPLAIN" not in q["sql"]]
    explained = plan(walk, search.WALK_ONLY)
    assert "Index Scan Backward using audit_at" in explained, explained
    assert "audit_search" not in explained, explained
    on_the_log = [q["sql"] for q in queries if f'FROM "{TABLE}"' in q["sql"] and "EXPLAIN" not in q["sql"]]
    for sql in on_the_log:
        explained = plan(sql, {"enable_seqscan": "off"})  # as with millions of entries
        assert f"Seq Scan on {TABLE}" not in explained, explained


@pytest.mark.parametrize("window", [150, 1])
def test_a_search_page_makes_a_bounded_number_of_queries(
    admin_client, crowd, monkeypatch, window, django_assert_max_num_queries
):
    monkeypatch.setattr(search, "WINDOW", window)
    # 14 statements walked, 19 through the index (session, user, the sidebar's 4, the walk's edge,
    # each planned block's SAVEPOINT, set_config, SELECT, ROLLBACK TO and RELEASE, the estimate,
    # the page): a test's transaction adds the savepoints, 3 a block. One to spare.
    with django_assert_max_num_queries(20):
        assert len(found(admin_client, "deployer")) == 100


def test_a_page_past_the_last_shows_the_last_with_the_search(admin_client, crowd):
    response = admin_client.get(URL, {"q": "deployer", "p": 9})
    assert response.status_code == 200
    changelist = response.context["cl"]
    assert (changelist.query, changelist.page_num, changelist.result_count) == ("deployer", 3, 300)
    expected = list(AuditEntry.objects.filter(actor="deployer").values_list("pk", flat=True))
    assert [entry.pk for entry in changelist.result_list] == expected[200:]


@pytest.fixture
def burst(crowd, shop):
    """A word in the newest 150 entries of 1,000 only: the walk of the newest 150 finds it in
    every one and estimates it in all 1,000."""
    AuditEntry.objects.bulk_create(
        AuditEntry(actor="quiet", action="flag.update", object_type="flag", object_id=str(i), object_repr="calm",
                   project=shop)
        for i in range(545)  # with the shop's 4 entries and the crowd's 301
    )  # fmt: skip
    AuditEntry.objects.bulk_create(
        AuditEntry(actor="stormer", action="flag.update", object_type="flag", object_id=str(i), object_repr="storm",
                   project=shop)
        for i in range(150)
    )  # fmt: skip


def test_a_burst_s_estimated_count_says_about_and_a_page_past_it_shows_the_last(admin_client, burst, monkeypatch):
    monkeypatch.setattr(search, "WINDOW", 150)
    assert AuditEntry.objects.count() == 1000
    first = admin_client.get(URL, {"q": "storm"})
    assert first.context["cl"].result_count > 150
    assert f"about {first.context['cl'].result_count}" in first.content.decode()
    expected = list(AuditEntry.objects.filter(actor="stormer").values_list("pk", flat=True))
    for asked in (3, 11):
        response = admin_client.get(URL, {"q": "storm", "p": asked})
        assert response.status_code == 200, asked
        changelist = response.context["cl"]
        assert (changelist.query, changelist.page_num, changelist.result_count) == ("storm", 2, 150)
        assert [entry.pk for entry in changelist.result_list] == expected[100:]
        assert "about" not in response.content.decode()


def test_words_the_parser_reads_its_own_way_are_found_as_docs_audit_md_says(admin_client, shop):
    """A number after a hyphen keeps its sign; a dotted name, an address or a URL is one word."""
    for reason in ["Rolled back for INC-4521", "asked by alice@example.com", "see https://example.com/runbook"]:
        AuditEntry.objects.create(actor="deployer", action="flag.update", object_type="flag", object_id="1",
                                  object_repr="checkout.v2", reason=reason, project=shop)  # fmt: skip

    def reasons(text: str) -> set[str]:
        return {entry.reason for entry in found(admin_client, text)}

    assert reasons("inc-4521") == reasons("-4521") == {"Rolled back for INC-4521"}
    assert reasons("4521") == set()
    assert reasons("alice*") == reasons("alice@example.com") == {"asked by alice@example.com"}
    assert reasons("example.com/runbook") == {"see https://example.com/runbook"}
    assert len(reasons("checkout.v2")) == 3


@pytest.fixture
def elsewhere(crowd, shop):
    """The crowd's entries again in another project and environment, of another action and object
    type, by another actor, none with the crowd's words."""
    other = create_project(SYSTEM, key="other", environments=["production"])
    AuditEntry.objects.bulk_create(
        AuditEntry(actor="rollout engine", action="rollout.advance", object_type="rolloutplan", object_id=str(i),
                   object_repr=f"plan-{i}", project=other, environment=other.environments.get())
        for i in range(300)
    )  # fmt: skip
    return other


def through_the_search_index(client, url: str, params: dict) -> str:
    """The plan of the query that reads a search's matches through the index (a walk of one entry
    finds too few), as the search runs it, where the search index is the log's only index but its
    primary key's: what PostgreSQL can do with it (with a few entries it reads the filter's own
    index, cheaper there; at 10M entries it matches both in the search index, bench/scale_audit.py)."""
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, params).status_code == 200
    [sql] = [q["sql"] for q in queries if "OVER ()" in q["sql"]]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass AND NOT indisprimary",
            [TABLE],
        )
        for (name,) in cursor.fetchall():
            if name != "audit_search":
                cursor.execute(f"DROP INDEX {name}")
        explained = plan(sql, search.INDEX_ONLY)
        transaction.set_rollback(True)
    assert "Bitmap Index Scan on audit_search" in explained, explained
    return next(line for line in explained.splitlines() if "Index Cond" in line)


@pytest.mark.parametrize(
    ("params", "columns"),
    [
        ({"project__id__exact": "other"}, ["project_id = '{other}'::bigint"]),
        ({"environment__id__exact": "production"}, ["environment_id = '{production}'::bigint"]),
        ({"action": "rollout.advance"}, ["action"]),
        ({"object_type": "rolloutplan"}, ["object_type"]),
        ({"action": "rollout.advance", "project__id__exact": "other"}, ["action", "project_id"]),
    ],
    ids=lambda value: ",".join(value) if isinstance(value, dict) else "",
)
def test_a_word_and_a_filter_it_never_meets_are_matched_inside_the_search_index(
    admin_client, elsewhere, monkeypatch, params, columns
):
    """The index holds each filter's value with the words: the word's entries need not be read to
    find that none of them is in the list (the filter's id compared as a bigint, as it reads it)."""
    monkeypatch.setattr(search, "WINDOW", 1)
    ids = {"other": elsewhere.pk, "production": elsewhere.environments.get().pk}
    params = {name: ids.get(value, value) for name, value in params.items()}
    assert found(admin_client, "deployer", **params) == []
    condition = through_the_search_index(admin_client, URL, {"q": "deployer", **params})
    for column in columns:
        assert column.format(**ids) in condition, condition
    assert "@@" in condition, condition


@pytest.mark.parametrize(
    ("params", "column"),
    [({"project": "other"}, "project_id"), ({"project": "other", "environment": "production"}, "environment_id"),
     ({"action": "rollout.advance"}, "action"), ({"object_type": "rolloutplan"}, "object_type"),
     ({"actor": "engine"}, "upper((actor)::text) ~~ '%ENGINE%'")],
    ids=lambda value: ",".join(value) if isinstance(value, dict) else "",
)  # fmt: skip
def test_the_api_s_filters_are_matched_inside_the_search_index_too(api, elsewhere, monkeypatch, params, column):
    monkeypatch.setattr(search, "WINDOW", 1)
    response = api.get("/api/v1/audit/", {"q": "deployer", **params})
    assert response.status_code == 200 and response.json()["results"] == []
    condition = through_the_search_index(api, "/api/v1/audit/", {"q": "deployer", **params})
    assert column in condition and "@@" in condition, condition


@pytest.mark.parametrize("actor", ["en", "x", "é"])
def test_an_actor_too_short_for_a_trigram_is_checked_on_the_entries_the_search_index_gives(
    api, elsewhere, monkeypatch, actor
):
    """pg_trgm has no trigram for ``LIKE '%en%'``: as an index condition it would read the whole
    of the actor's part of the index (every entry); the word is the index's condition alone."""
    monkeypatch.setattr(search, "WINDOW", 1)
    condition = through_the_search_index(api, "/api/v1/audit/", {"q": "deployer", "actor": actor})
    assert "@@" in condition and "~~" not in condition and "strpos" not in condition, condition


@pytest.mark.parametrize(
    ("text", "expected"),
    [("ci", False), ("x", False), ("é", False), ("%%", False), ("a_b", True), ("ci-", True), ("-ci", True),
     ("eng", True), ("a-b", True), ("token:", True)],
)  # fmt: skip
def test_a_substring_has_a_trigram_as_pg_trgm_reads_a_like_pattern(text, expected):
    assert has_trigram(text) is expected


def test_a_search_in_a_list_shorter_than_the_walk_reads_its_matches_through_the_index(crowd):
    with CaptureQueriesContext(connection) as queries:
        found = search.page(AuditEntry.objects.filter(actor__icontains="deploy"), search.query_of("flag-7"), 0, 25)
    assert [entry.object_repr for entry in found.entries] == ["flag-7"] * 25 and not found.estimated
    assert [q for q in queries if "OVER ()" in q["sql"]]
