"""The audit log at three sizes (bench/scale.py's audit section): the admin list and the API list
with each of their filters, and the query plans of every query a page makes on the log.

Each size lives in a database of its own (``flagplane_bench_audit_<size>``, e.g. ``_10m``) that
is kept between runs: filling 10M entries takes minutes, measuring them seconds. A run reuses a
database whose comment says it holds that size of this fill (``FILL_VERSION``) and migrates it (the
migration's time is printed: what a new index takes to build at that size);
otherwise, or with ``--refill``, it drops the database and fills it again: the indexes dropped,
the entries inserted by ``generate_series`` a million at a time, the indexes built again (much
faster than maintaining them row by row), then VACUUM ANALYZE. Drop them with
``DROP DATABASE flagplane_bench_audit_10m`` (and ``_1m``, ``_100k``) when done.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.scale import filling, get_ok, median_ms, server, size_label, superuser_client

FILL_VERSION = 2
"""Bump when the fill changes: a kept database of another version is filled again."""
RARE_EVERY = 100_000
"""One entry in this many is rare on every filter (its own project, action, object type and
actor): a page of those must read its filter's index, not walk the log newest first."""
RARE = {"project": "audit-rare", "action": "webhook.delete", "object_type": "webhook", "actor": "token:ci-bot"}
TABLE = "audit_auditentry"
ACTIONS = ["flag.update", "flag.turn_on", "flag.turn_off", "flag_state.update", "segment.update", "sdk_key.issue",
           "rollout.advance", "rollout.hold"]  # fmt: skip
OBJECT_TYPES = ["flag", "flagstate", "segment", "sdkkey", "rolloutplan"]


def database_name(size: int) -> str:
    return f"flagplane_bench_audit_{size_label(size)}"


@contextmanager
def in_database(name: str) -> Iterator[None]:
    """Django's default connection on database ``name`` of the same server for the block."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    previous = connection.settings_dict["NAME"]
    connection.close()
    connection.settings_dict["NAME"] = name
    ContentType.objects.clear_cache()  # ids are the same (the same migrations), but be exact
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["NAME"] = previous
        ContentType.objects.clear_cache()


def fill_record(name: str) -> dict | None:
    """What the kept database ``name`` holds, from its comment (None if absent or not ours)."""
    with server() as connection:
        row = connection.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
    try:
        return json.loads(row[0]) if row and row[0] else None
    except ValueError:
        return None


def prepare(size: int, refill: bool) -> dict:
    """The kept database of ``size`` entries, migrated, filled unless it already was."""
    from django.core.management import call_command

    name = database_name(size)
    with server() as connection:
        connection.execute("SELECT pg_advisory_lock(hashtext(%s))", [name])  # two runs: one fills
        try:
            record = fill_record(name)
            fresh = refill or not record or record.get("entries") != size or record.get("version") != FILL_VERSION
            if fresh:
                connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                connection.execute(f"CREATE DATABASE {name}")
            with in_database(name):
                started = time.perf_counter()
                call_command("migrate", verbosity=0)
                migrated_s = time.perf_counter() - started
                if fresh:
                    started = time.perf_counter()
                    fill(size)
                    record = {"version": FILL_VERSION, "entries": size, "fill_s": round(time.perf_counter() - started),
                              "filled_at": datetime.now(UTC).isoformat(timespec="seconds")}  # fmt: skip
                    connection.execute(f"COMMENT ON DATABASE {name} IS '{json.dumps(record)}'")
        finally:
            connection.execute("SELECT pg_advisory_unlock(hashtext(%s))", [name])
    return {**record, "reused": not fresh, "migrate_s": migrated_s}


def environments(keys: list[str] | None = None) -> list[tuple[int, int]]:
    """(project id, environment id) of the log's five common projects (or of ``keys``), in a fixed order."""
    from controlplane.projects.models import Environment

    keys = keys or [f"audit-{index}" for index in range(5)]
    return list(
        Environment.objects.filter(project__key__in=keys).order_by("project__key", "id").values_list("project_id", "id")
    )


def fill(size: int) -> None:
    """Five projects of two environments and a rare one, then ``size`` entries, one per second back
    from now: the common ones spread evenly over the five projects' values, one in ``RARE_EVERY``
    on the rare values."""
    from django.db import connection

    from controlplane.audit.services import Actor
    from controlplane.projects.services import create_project

    for index in range(5):
        create_project(Actor.system("bench"), key=f"audit-{index}", environments=["development", "production"])
    create_project(Actor.system("bench"), key=RARE["project"], environments=["production"])
    pairs = environments()
    [(rare_project, rare_environment)] = environments([RARE["project"]])
    rare = f"mod(g, {RARE_EVERY}) = {RARE_EVERY // 2}"
    project_ids = "ARRAY[" + ",".join(str(p) for p, _ in pairs) + "]"
    environment_ids = "ARRAY[" + ",".join(str(e) for _, e in pairs) + "]"
    actions = "ARRAY[" + ",".join(f"'{a}'" for a in ACTIONS) + "]"
    types = "ARRAY[" + ",".join(f"'{t}'" for t in OBJECT_TYPES) + "]"
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute(
            f"SELECT pg_get_indexdef(indexrelid), indexrelid::regclass::text FROM pg_index "
            f"WHERE indrelid = '{TABLE}'::regclass AND NOT indisprimary"
        )
        indexes = cursor.fetchall()
        for _, index_name in indexes:
            cursor.execute(f"DROP INDEX {index_name}")
        for low in range(0, size, 1_000_000):
            cursor.execute(
                f"""
                INSERT INTO {TABLE} (at, actor, action, object_type, object_id, object_repr,
                                     project_id, environment_id, changes, reason)
                SELECT now() - g * interval '1 second',
                       CASE WHEN {rare} THEN '{RARE["actor"]}'
                            WHEN mod(g, 7) = 0 THEN 'rollout engine' ELSE 'user-' || mod(g, 40) END,
                       CASE WHEN {rare} THEN '{RARE["action"]}' ELSE ({actions})[1 + mod(g, {len(ACTIONS)})] END,
                       CASE WHEN {rare} THEN '{RARE["object_type"]}'
                            ELSE ({types})[1 + mod(g, {len(OBJECT_TYPES)})] END,
                       g::text, 'flag-' || mod(g, 5000),
                       CASE WHEN {rare} THEN {rare_project} ELSE ({project_ids})[1 + mod(g, {len(pairs)})] END,
                       CASE WHEN {rare} THEN {rare_environment}
                            ELSE ({environment_ids})[1 + mod(g, {len(pairs)})] END,
                       '{{"on": [false, true]}}'::jsonb,
                       CASE WHEN mod(g, 3) = 0 THEN 'routine change ' || g ELSE '' END
                FROM generate_series(%s, %s) AS g
                """,
                [low, min(size, low + 1_000_000) - 1],
            )
        for definition, _ in indexes:
            cursor.execute(definition)
        cursor.execute(f"VACUUM ANALYZE {TABLE}")


ADMIN_URL = "/admin/audit/auditentry/"
API_URL = "/api/v1/audit/"


def views(size: int) -> dict[str, tuple[str, dict]]:
    """Every filter of the admin list and of the API, by name: on common values (a tenth or an
    eighth of the log), on rare ones, and two filters of common values that never meet (odd and
    even entries), which no single index answers."""
    pairs = environments()
    project_id, environment_id = pairs[3]
    [(rare_project, _)] = environments([RARE["project"]])
    deep = max(1, min(50, size // 1000))  # a page far back that exists (the admin shows 100 a page)
    never = {"action": ACTIONS[0], "project": "audit-3", "environment": "production"}  # even / odd entries
    return {
        "admin page 1": (ADMIN_URL, {}),
        "admin action": (ADMIN_URL, {"action": "flag.turn_off"}),
        "admin project": (ADMIN_URL, {"project__id__exact": project_id}),
        "admin environment": (ADMIN_URL, {"environment__id__exact": environment_id}),
        f"admin page {deep}": (ADMIN_URL, {"p": deep}),
        "admin rare action": (ADMIN_URL, {"action": RARE["action"]}),
        "admin rare project": (ADMIN_URL, {"project__id__exact": rare_project}),
        "admin never meet": (ADMIN_URL, {"action": ACTIONS[0], "environment__id__exact": pairs[7][1]}),
        **searches(size, project_id, pairs),
        "api page 1": (API_URL, {}),
        "api action": (API_URL, {"action": "flag.turn_off"}),
        "api object_type": (API_URL, {"object_type": "segment"}),
        "api project": (API_URL, {"project": "audit-3"}),
        "api environment": (API_URL, {"project": "audit-3", "environment": "production"}),
        "api actor": (API_URL, {"actor": "user-17"}),
        "api since": (API_URL, {"since": "2026-01-01T00:00:00Z"}),
        "api until": (API_URL, {"until": "2026-06-01T00:00:00Z"}),
        "api rare action": (API_URL, {"action": RARE["action"]}),
        "api rare type": (API_URL, {"object_type": RARE["object_type"]}),
        "api rare project": (API_URL, {"project": RARE["project"]}),
        "api rare actor": (API_URL, {"actor": "ci-bot"}),
        "api never meet": (API_URL, never),
        # the project's entries of the action are never of this type (the fill's parities): the
        # project's index of the type finds none at once, its index of the action reads 250,000
        "api never meet three": (API_URL, {"project": "audit-3", "action": ACTIONS[0], "object_type": "flag"}),
    }


def searches(size: int, project_id: int, pairs: list[tuple[int, int]]) -> dict[str, tuple[str, dict]]:
    """The search (audit/search.py), in the admin and the API (``q``), for words of each kind and
    frequency: an actor in one entry of 47 (its pages 1, 3 and 10) and in one of 100,000 (and its
    beginning), a flag's key in one of 5,000 (and its beginning, in 11 of 5,000), a word of one
    reason in three (and its beginning), an object's id (one entry); and the common actor with
    each filter, one it always meets and one it never does (user-17's entries are all in one
    project and environment, all flag.turn_on, all on a segment, none by the rollout engine): a
    list that never meets the word has none of it among its newest entries."""
    actor_project = pairs[7][0]  # user-17's entries (g = 17 mod 40) are all in that project
    today = datetime.now(UTC).date()
    past_7_days = {"at__gte": f"{today - timedelta(days=7)} 00:00:00+00:00",
                   "at__lt": f"{today + timedelta(days=1)} 00:00:00+00:00"}  # fmt: skip
    middle = (datetime.now(UTC) - timedelta(seconds=size // 2)).isoformat()
    return {
        "admin search common": (ADMIN_URL, {"q": "user-17"}),
        "admin search common p3": (ADMIN_URL, {"q": "user-17", "p": 3}),
        "admin search common p10": (ADMIN_URL, {"q": "user-17", "p": 10}),
        "admin search rare": (ADMIN_URL, {"q": "ci-bot"}),
        "admin search key": (ADMIN_URL, {"q": "flag-4321"}),
        "admin search key prefix": (ADMIN_URL, {"q": "flag-432*"}),
        "admin search prefix": (ADMIN_URL, {"q": "ci-b*"}),
        "admin search prefix common": (ADMIN_URL, {"q": "routin*"}),
        "admin search reason": (ADMIN_URL, {"q": "routine"}),
        "admin search id": (ADMIN_URL, {"q": str(size // 2 + 7)}),
        "admin search meets": (ADMIN_URL, {"q": "user-17", "project__id__exact": actor_project}),
        "admin search never": (ADMIN_URL, {"q": "user-17", "project__id__exact": project_id}),
        "admin search never env": (ADMIN_URL, {"q": "user-17", "environment__id__exact": pairs[6][1]}),
        "admin search never action": (ADMIN_URL, {"q": "user-17", "action": "flag.update"}),
        "admin search never type": (ADMIN_URL, {"q": "user-17", "object_type": "flag"}),
        "admin search never two": (ADMIN_URL, {"q": "user-17", "action": "flag.update",
                                               "project__id__exact": actor_project}),
        "admin search 7 days": (ADMIN_URL, {"q": "user-17", **past_7_days}),
        "admin search rare never": (ADMIN_URL, {"q": "ci-bot", "project__id__exact": project_id}),
        "api search common": (API_URL, {"q": "user-17"}),
        "api search rare": (API_URL, {"q": "ci-bot"}),
        "api search key": (API_URL, {"q": "flag-4321"}),
        "api search prefix": (API_URL, {"q": "flag-432*"}),
        "api search meets": (API_URL, {"q": "user-17", "project": "audit-3"}),
        "api search never": (API_URL, {"q": "user-17", "project": "audit-1"}),
        "api search never env": (API_URL, {"q": "user-17", "project": "audit-3", "environment": "development"}),
        "api search never action": (API_URL, {"q": "user-17", "action": "flag.update"}),
        "api search never actor": (API_URL, {"q": "user-17", "actor": "rollout"}),
        "api search until": (API_URL, {"q": "user-17", "until": middle}),
        "api search limit 500": (API_URL, {"q": "user-17", "limit": 500}),
        "api search short actor": (API_URL, {"q": "flag-4321", "actor": "us"}),
        "api search rare actor": (API_URL, {"q": "routine", "actor": "ci-bot"}),
        "api search actor end": (API_URL, {"q": "ci-bot", "actor": "ci-"}),
    }  # fmt: skip


def scans_on_the_log(client, url: str, params: dict) -> list[str]:
    """The scan nodes on the log (and its indexes) of every query one request makes there."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        get_ok(client, url, params)
    scans: list[str] = []
    settings = None  # a search sets the planner's settings for its next query (audit/search.py)
    for query in captured.captured_queries:
        sql = query["sql"]
        if "set_config(" in sql:
            settings = sql
        if TABLE not in sql or sql.lstrip().upper().startswith("EXPLAIN"):
            continue
        with transaction.atomic(), connection.cursor() as cursor:
            if settings:
                cursor.execute(settings)
                settings = None
            cursor.execute(f"EXPLAIN {sql}")
            plan = [row[0] for row in cursor.fetchall()]
            transaction.set_rollback(True)
        for line in plan:
            node = re.sub(r"\s+\(cost=.*", "", line).strip().removeprefix("->").strip()
            if "Scan" in node and (f" on {TABLE}" in node or " on audit_" in node) and node not in scans:
                scans.append(node)
    return scans


def bench_audit(audit_sizes: list[int], results: dict[str, Any], refill: bool = False) -> None:
    for size in audit_sizes:
        with filling(results, "audit"):
            record = prepare(size, refill)
        how = "reused" if record["reused"] else "filled now"
        print(f"audit: {size:,} entries in {database_name(size)} ({how}; the fill took {record['fill_s']} s "
              f"at {record['filled_at']}; migrate took {record['migrate_s']:.1f} s)", flush=True)  # fmt: skip
        results[f"audit_migrate_s_{size_label(size)}"] = record["migrate_s"]
        with in_database(database_name(size)):
            client = superuser_client()
            measure(client, size, results)
            if size == max(audit_sizes):
                explain_every_view(client, size, results)
    results["audit_largest"] = size_label(max(audit_sizes))


def measure(client, size: int, results: dict[str, Any]) -> None:
    """The median time of each view; the slowest of the admin's lists, of its search and of the
    API's go in the results, and each search apart (``audit_admin_search_rare_ms_10m``)."""
    worst = {"admin": 0.0, "admin_search": 0.0, "api": 0.0, "api_search": 0.0}
    for name, (url, params) in views(size).items():
        ms = median_ms(lambda url=url, params=params: get_ok(client, url, params), 3)
        side = name.split()[0] + ("_search" if "q" in params else "")
        worst[side] = max(worst[side], ms)
        if "q" in params:
            results[f"audit_{name.replace(' ', '_')}_ms_{size_label(size)}"] = ms
        print(f"  {name:22} {ms:8.1f} ms", flush=True)
    for side, ms in worst.items():
        results[f"audit_{side}_ms_{size_label(size)}"] = ms


def explain_every_view(client, size: int, results: dict[str, Any]) -> None:
    """Prints how each view's queries read the log; a Seq Scan on it is counted and shouted."""
    print(f"  query plans on the log at {size:,} entries (every query of one request per view):")
    seq_scans = 0
    for name, (url, params) in views(size).items():
        scans = scans_on_the_log(client, url, params)
        seq_scans += sum(f"Seq Scan on {TABLE}" in scan for scan in scans)
        flag = "  <-- SEQ SCAN" if any("Seq Scan" in scan for scan in scans) else ""
        print(f"    {name:22} {'; '.join(scans)}{flag}")
    print(f"  seq scans on the log at {size:,} entries: {seq_scans}", flush=True)
    results[f"audit_seq_scans_{size_label(size)}"] = seq_scans
