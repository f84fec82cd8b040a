"""The audit log stays fast at millions of entries: every filter reads an index in the list's
order, the API pages by cursor (no count), the admin counts up to a bound and builds its
sidebar without reading the log (bench/scale.py shows the times at 10M entries)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from controlplane.audit.admin import EstimatedCountPaginator
from controlplane.audit.models import AuditEntry
from controlplane.audit.services import SYSTEM
from controlplane.flags.services import update_flag_state
from controlplane.projects.services import create_project

TABLE = AuditEntry._meta.db_table

API_FILTERS = [
    ({}, "audit_at"),
    ({"action": "flag_state.update"}, "audit_action_at"),
    ({"object_type": "flagstate"}, "audit_object_type_at"),
    ({"project": "shop"}, "audit_project_at"),
    ({"project": "shop", "environment": "production"}, "audit_environment_at"),
    ({"actor": "system"}, "audit_search"),
    ({"since": "2020-01-01T00:00:00Z"}, "audit_at"),
    ({"until": "2999-01-01T00:00:00Z"}, "audit_at"),
]
TWO_FILTERS = [
    ({"project": "shop", "action": "flag_state.update"}, "audit_project_action_at"),
    ({"project": "shop", "object_type": "flagstate"}, "audit_project_type_at"),
    # with an environment, the project's and the environment's index of both read as few rows
    # here: a few rows do not tell them apart (at 10M, bench/scale.py prints the plan)
    (
        {"project": "shop", "environment": "production", "action": "flag_state.update"},
        ("audit_env_action_at", "audit_project_action_at"),
    ),
    (
        {"project": "shop", "environment": "production", "object_type": "flagstate"},
        ("audit_env_type_at", "audit_project_type_at"),
    ),
]


@pytest.fixture
def entries(checkout_flag, production):
    state = checkout_flag.states.get(environment=production)
    for on in (True, False) * 3:
        state = update_flag_state(state, SYSTEM, {"on": on}, reason="scale")
    with connection.cursor() as cursor:  # as vacuum leaves it: the planner counts a scan of the
        cursor.execute("SELECT gin_clean_pending_list('audit_search')")  # rows not yet in its tree


def add_entries(places, count: int = 300) -> None:
    """``count`` entries at each (project, environment, action, object type), then the statistics."""
    AuditEntry.objects.bulk_create(
        AuditEntry(actor="alice", action=action, object_type=object_type, object_id=str(i), object_repr="f",
                   project=in_project, environment=environment)
        for in_project, environment, action, object_type in places
        for i in range(count)
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {TABLE}")


@pytest.fixture
def crowd(entries, project, production):
    """Many entries of another action in the same environment and many of the same action in
    another project, and statistics that say so: the planner then prefers the index of both
    filters to walking either one's own (with a few rows every plan costs about the same, and
    which one it picked changed with the table's history in a full run)."""
    other = create_project(SYSTEM, key="other-shop", name="Other shop", environments=["production"])
    add_entries([(project, production, "flag.update", "flag"),
                 (other, other.environments.get(), "flag_state.update", "flagstate")])  # fmt: skip


def list_query(queries) -> str:
    """The query that reads the page's entries."""
    return next(q["sql"] for q in queries if f'FROM "{TABLE}"' in q["sql"] and "ORDER BY" in q["sql"])


def plan_of(sql: str, sort: bool) -> str:
    """The plan PostgreSQL picks when it may not read the whole table nor (``sort=False``) sort
    it, as with millions of rows; a few rows are cheaper to sort than to read in order."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"SET LOCAL enable_sort = {'on' if sort else 'off'}")
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET LOCAL enable_seqscan = on")
        cursor.execute("SET LOCAL enable_sort = on")
    return plan


@pytest.mark.parametrize(("params", "index"), API_FILTERS, ids=[",".join(p) or "none" for p, _ in API_FILTERS])
def test_every_api_filter_reads_its_index(api, entries, params, index):
    with CaptureQueriesContext(connection) as queries:
        response = api.get("/api/v1/audit/", params)
    assert response.status_code == 200
    assert response.json()["results"]
    plan = plan_of(list_query(queries), sort=index == "audit_search")  # a substring match is sorted
    assert f"Seq Scan on {TABLE}" not in plan, plan
    assert index in plan, plan


@pytest.mark.parametrize(("params", "index"), TWO_FILTERS, ids=[",".join(p) for p, _ in TWO_FILTERS])
def test_a_project_or_environment_with_an_action_or_type_reads_the_index_of_both(api, crowd, params, index):
    with CaptureQueriesContext(connection) as queries:
        response = api.get("/api/v1/audit/", params)
    assert response.status_code == 200
    assert response.json()["results"]
    plan = plan_of(list_query(queries), sort=False)
    assert any(name in plan for name in ((index,) if isinstance(index, str) else index)), plan


def test_api_pages_follow_a_cursor_without_counting(api, entries):
    first = api.get("/api/v1/audit/", {"limit": 4}).json()
    assert "count" not in first
    assert len(first["results"]) == 4
    second = api.get(first["next"]).json()
    seen = [entry["id"] for entry in first["results"] + second["results"]]
    assert seen == sorted(seen, reverse=True)  # newest first, no entry twice
    assert len(seen) == min(8, AuditEntry.objects.count())


@pytest.mark.parametrize(
    ("params", "index"),
    [
        ({}, "audit_at"),
        ({"action": "flag_state.update"}, "audit_action_at"),
        ({"object_type": "flagstate"}, "audit_object_type_at"),
    ],
)
def test_the_admin_list_reads_an_index_and_no_distinct_over_the_log(admin_client, entries, params, index):
    with CaptureQueriesContext(connection) as queries:
        assert admin_client.get("/admin/audit/auditentry/", params).status_code == 200
    plan = plan_of(list_query(queries), sort=False)
    assert f"Seq Scan on {TABLE}" not in plan, plan
    assert index in plan, plan
    on_the_log = [q["sql"] for q in queries if f'"{TABLE}"' in q["sql"]]
    assert not [sql for sql in on_the_log if "DISTINCT" in sql], on_the_log


def test_an_environment_and_an_action_in_the_admin_read_their_index(admin_client, crowd, production):
    params = {"action": "flag_state.update", "environment__id__exact": production.id}
    with CaptureQueriesContext(connection) as queries:
        assert admin_client.get("/admin/audit/auditentry/", params).status_code == 200
    list_sql = list_query(queries)
    count_sql = next(q["sql"] for q in queries if "COUNT(" in q["sql"] and f'"{TABLE}"' in q["sql"])
    list_plan, count_plan = plan_of(list_sql, sort=False), plan_of(count_sql, sort=True)
    assert "audit_env_action_at" in list_plan, list_plan
    assert f"Seq Scan on {TABLE}" not in count_plan, count_plan  # which index: a few rows do not tell


def test_the_admin_counts_up_to_a_bound_then_estimates(admin_client, entries, monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "exact_up_to", 3)
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get("/admin/audit/auditentry/")
    assert response.status_code == 200
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"] and f'"{TABLE}"' in q["sql"]]
    assert counts and all("LIMIT 4" in sql for sql in counts), counts
    assert response.context["cl"].result_count >= 4


def test_three_filters_that_never_meet_walk_the_index_of_the_pair_with_fewest_entries(api, project, production):
    """The project's entries of the action are many, those of the type few, and none are both;
    the type is common in another project, so taken alone (as independent filters) the project's
    entries of the type look as many as those of the action (migration 0009's statistics)."""
    other = create_project(SYSTEM, key="other-shop", name="Other shop", environments=["production"])
    add_entries([(project, production, "flag.update", "flag")], 900)
    add_entries([(project, production, "segment.update", "segment")], 100)
    add_entries([(other, other.environments.get(), "segment.update", "segment")], 900)
    params = {"project": "shop", "action": "flag.update", "object_type": "segment"}
    with CaptureQueriesContext(connection) as queries:
        response = api.get("/api/v1/audit/", params)
    assert response.status_code == 200
    assert response.json()["results"] == []
    plan = plan_of(list_query(queries), sort=False)
    assert "audit_project_type_at" in plan, plan
