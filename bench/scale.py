"""Costs that grow with the data: the audit log, metrics ingest, the flag lists, the SDK's compile
and (``bench/scale_engine.py``, when present) the rollout engine, each at three sizes.

Runs against a scratch PostgreSQL database (``flagplane_bench_scale_<pid>`` on the server of
DATABASE_URL), which it creates, migrates, fills with bulk inserts (``generate_series`` for the
audit log) and drops at the end (``--keep`` keeps it). Requests go through Django's test client,
the whole middleware and view stack in this process, timed as the median of a few requests.

Usage: ``.venv/bin/python bench/scale.py [--audit-sizes 100000,1000000,10000000] [--only audit,...]``.
The summary's ``audit_*_ms_10m`` keys name the largest audit size run (``audit_admin_ms_1m`` if
the largest was 1M).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATABASE = f"flagplane_bench_scale_{os.getpid()}"
"""Per run: two runs at once (several people on one machine) must not drop each other's database."""
SECTIONS = ("engine", "audit", "ingest", "flags", "sdk")
ACTIONS = ["flag.update", "flag.turn_on", "flag.turn_off", "flag_state.update", "segment.update", "sdk_key.issue",
           "rollout.advance", "rollout.hold"]  # fmt: skip
OBJECT_TYPES = ["flag", "flagstate", "segment", "sdkkey", "rolloutplan"]


def sizes(text: str) -> list[int]:
    return [int(float(part)) for part in text.split(",") if part]


def size_label(n: int) -> str:
    return f"{n // 1_000_000}m" if n >= 1_000_000 else f"{n // 1000}k"


def median_ms(call, repeats: int = 5) -> float:
    call()  # warm: connections, caches, the first query plan
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def get_ok(client, url: str, params: dict | None = None) -> Any:
    response = client.get(url, params or {})
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    return response


# ---------------------------------------------------------------------------------------------
# Setup


def setup_database() -> None:
    url = urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flagplane"))
    os.environ["DATABASE_URL"] = url._replace(path=f"/{DATABASE}").geturl()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings.base")
    os.environ["REDIS_PREFIX"] = f"flagplane-bench-scale-{os.getpid()}"
    os.environ["CELERY_QUEUE"] = f"flagplane-bench-scale-{os.getpid()}"  # nothing consumes it: no rebuilds
    drop_database()
    from controlplane.settings import createdb

    createdb.main()
    import django

    django.setup()
    logging.disable(logging.WARNING)  # one JSON line per audit entry and request otherwise
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def drop_database() -> None:
    import psycopg

    from controlplane.settings.env import database_from_url

    config = database_from_url(os.environ["DATABASE_URL"])
    params = {"dbname": "postgres", "user": config["USER"], "password": config["PASSWORD"],
              "host": config["HOST"], "port": config["PORT"] or None}  # fmt: skip
    with psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def cleanup_redis() -> None:
    from django.conf import settings

    from controlplane.documents import cache

    client = cache.client()
    client.delete(settings.CELERY_TASK_DEFAULT_QUEUE)
    for key in client.scan_iter(f"{settings.REDIS_PREFIX}:*"):
        client.delete(key)


def superuser_client():
    from django.contrib.auth import get_user_model
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(
        username="bench", defaults={"is_superuser": True, "is_staff": True}
    )
    client = Client()
    client.force_login(user)
    return client


# ---------------------------------------------------------------------------------------------
# Audit log


def fill_audit(start: int, end: int, environments: list[tuple[int, int]]) -> None:
    """Entries ``start..end-1``, one per second back from now, spread over the projects."""
    from django.db import connection

    project_ids = "ARRAY[" + ",".join(str(p) for p, _ in environments) + "]"
    environment_ids = "ARRAY[" + ",".join(str(e) for _, e in environments) + "]"
    actions = "ARRAY[" + ",".join(f"'{a}'" for a in ACTIONS) + "]"
    types = "ARRAY[" + ",".join(f"'{t}'" for t in OBJECT_TYPES) + "]"
    step = 1_000_000
    with connection.cursor() as cursor:
        for low in range(start, end, step):
            high = min(end, low + step) - 1
            cursor.execute(
                f"""
                INSERT INTO audit_auditentry (at, actor, action, object_type, object_id, object_repr,
                                              project_id, environment_id, changes, reason)
                SELECT now() - g * interval '1 second',
                       CASE WHEN mod(g, 7) = 0 THEN 'rollout engine' ELSE 'user-' || mod(g, 40) END,
                       ({actions})[1 + mod(g, {len(ACTIONS)})], ({types})[1 + mod(g, {len(OBJECT_TYPES)})],
                       g::text, 'flag-' || mod(g, 5000),
                       ({project_ids})[1 + mod(g, {len(environments)})],
                       ({environment_ids})[1 + mod(g, {len(environments)})],
                       '{{"on": [false, true]}}'::jsonb,
                       CASE WHEN mod(g, 3) = 0 THEN 'routine change ' || g ELSE '' END
                FROM generate_series(%s, %s) AS g
                """,
                [low, high],
            )
        cursor.execute("VACUUM ANALYZE audit_auditentry")


def audit_fixture() -> list[tuple[int, int]]:
    from controlplane.audit.services import Actor
    from controlplane.projects.services import create_project

    pairs = []
    for index in range(5):
        project = create_project(
            Actor.system("bench"), key=f"audit-{index}", environments=["development", "production"]
        )
        pairs += [(project.id, environment.id) for environment in project.environments.all()]
    return pairs


def explain_api_filters(params_list: list[dict]) -> list[str]:
    """The API list's query plan for each filter: the indexes it uses, and no Seq Scan on the log."""
    from django.db import connection
    from rest_framework.test import APIRequestFactory, force_authenticate

    from controlplane.api.audit import AuditEntryViewSet

    lines = []
    factory = APIRequestFactory()
    for params in params_list:
        request = factory.get("/api/v1/audit/", params)
        force_authenticate(request, _bench_user())
        view = AuditEntryViewSet()
        view.action_map = {"get": "list"}
        view.request = view.initialize_request(request)
        view.format_kwarg = None
        queryset = view.get_queryset()[:50]
        with connection.cursor() as cursor:
            sql, args = queryset.query.sql_with_params()
            cursor.execute(f"EXPLAIN {sql}", args)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        scans = sorted({line.split(" on ")[0].strip(" ->").strip() + " " + line.split(" on ")[1].split()[0]
                        for line in plan.splitlines() if " on " in line and "Scan" in line})  # fmt: skip
        lines.append(f"  {json.dumps(params)}: {'; '.join(scans)}")
    return lines


def _bench_user():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="bench")


def bench_audit(audit_sizes: list[int], results: dict[str, Any]) -> None:
    client = superuser_client()
    environments = audit_fixture()
    project_id, environment_id = environments[3]
    admin_views = {
        "page 1": {},
        "action": {"action__exact": "flag.turn_off"},
        "project": {"project__id__exact": project_id},
        "environment": {"environment__id__exact": environment_id},
        "page 50": {"p": 50},
    }
    api_views = {
        "page 1": {},
        "action": {"action": "flag.turn_off"},
        "object_type": {"object_type": "segment"},
        "project": {"project": "audit-3"},
        "environment": {"project": "audit-3", "environment": "production"},
        "actor": {"actor": "user-17"},
        "since": {"since": "2026-01-01T00:00:00Z"},
    }
    filled = 0
    for size in audit_sizes:
        started = time.perf_counter()
        fill_audit(filled, size, environments)
        filled = size
        print(f"audit: {size:,} entries ({time.perf_counter() - started:.0f} s to fill)", flush=True)
        worst_admin = worst_api = 0.0
        for name, params in admin_views.items():
            ms = median_ms(lambda params=params: get_ok(client, "/admin/audit/auditentry/", params), 3)
            worst_admin = max(worst_admin, ms)
            print(f"  admin {name:12} {ms:8.1f} ms", flush=True)
        for name, params in api_views.items():
            ms = median_ms(lambda params=params: get_ok(client, "/api/v1/audit/", params), 3)
            worst_api = max(worst_api, ms)
            print(f"  api   {name:12} {ms:8.1f} ms", flush=True)
        results[f"audit_admin_ms_{size_label(size)}"] = worst_admin
        results[f"audit_api_ms_{size_label(size)}"] = worst_api
    print("  API filters' plans (at the largest size):")
    for line in explain_api_filters(list(api_views.values())):
        print(line)
    results["audit_largest"] = size_label(filled)


# ---------------------------------------------------------------------------------------------
# Metrics ingest


def metrics_batch(series: int) -> dict:
    from controlplane.metrics.histogram import STANDARD_BOUNDS_MS

    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    entries = [
        {
            "flag": f"flag-{i // 2:05d}", "variant": "on" if i % 2 else "off",
            "evaluations": 120, "successes": 30, "errors": 1,
            "latency_ms": {"bounds": list(STANDARD_BOUNDS_MS), "counts": [0, 3, 10, 9, 4, 2, 1, 0, 0, 0, 0, 0, 0, 0],
                           "sum": 321.5},
        }
        for i in range(series)
    ]  # fmt: skip
    return {
        "format": 2, "sdk": {"name": "flagplane-python", "version": "bench"}, "batch_id": uuid.uuid4().hex,
        "document_version": 1, "period": {"start": stamp, "end": stamp}, "flags": entries, "dropped": 0,
    }  # fmt: skip


def bench_ingest(series_sizes: list[int], results: dict[str, Any]) -> None:
    from django.db import connection
    from django.test import Client

    from controlplane.audit.services import Actor
    from controlplane.projects.services import create_project, issue_sdk_key

    project = create_project(Actor.system("bench"), key="ingest", environments=["production"])
    _, key = issue_sdk_key(project.environments.get(), Actor.system("bench"), "bench")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    for series in series_sizes:
        bodies = iter([json.dumps(metrics_batch(series)) for _ in range(4)])  # built before the clock starts

        def post(bodies=bodies):
            response = client.post("/api/v1/metrics", next(bodies), content_type="application/json")
            assert response.status_code == 202, response.content[:300]

        ms = median_ms(post, 3)
        print(f"ingest: {series:6,} series per batch  {ms:8.1f} ms  {ms * 1000 / series:6.1f} µs per series",
              flush=True)  # fmt: skip
        results["ingest_us_per_series"] = ms * 1000 / series
    with connection.cursor() as cursor:
        cursor.execute("SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'metrics_flagactivity'")
        updates = cursor.fetchone()[0]
    print(f"  flag activity row updates over {4 * len(series_sizes)} batches: {updates:,} (statistics may lag)")


# ---------------------------------------------------------------------------------------------
# Flag lists


def fill_flags(project, environments, start: int, end: int) -> None:
    from controlplane.flags.models import Flag, FlagState
    from controlplane.flags.services import BOOLEAN_VARIANTS

    for low in range(start, end, 5000):
        flags = Flag.objects.bulk_create(
            Flag(project=project, key=f"flag-{i:06d}", name=f"Flag {i}", variants=BOOLEAN_VARIANTS,
                 off_variant="off", tags=[f"team-{i % 40}", f"area-{i % 13}"])
            for i in range(low, min(end, low + 5000))
        )  # fmt: skip
        FlagState.objects.bulk_create(
            FlagState(flag=flag, environment=environment, on=bool(flag.id % 2),
                      default_serve={"variant": "on"})
            for flag in flags
            for environment in environments
        )  # fmt: skip
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE flags_flag")
        cursor.execute("VACUUM ANALYZE flags_flagstate")


def bench_flags(flag_sizes: list[int], results: dict[str, Any]) -> None:
    from controlplane.audit.services import Actor
    from controlplane.projects.services import create_project

    client = superuser_client()
    create_project(Actor.system("bench"), key="other", environments=["production"])
    project = create_project(Actor.system("bench"), key="flags", environments=["development", "production"])
    environments = list(project.environments.all())
    views = {
        "admin page 1": ("/admin/flags/flag/", {}),
        "admin tag": ("/admin/flags/flag/", {"tag": "team-7"}),
        "admin project": ("/admin/flags/flag/", {"project__id__exact": project.id}),
        "api page 1": ("/api/v1/projects/flags/flags/", {}),
        "api tag": ("/api/v1/projects/flags/flags/", {"tag": "team-7"}),
    }
    filled = 0
    for size in flag_sizes:
        fill_flags(project, environments, filled, size)
        filled = size
        print(f"flags: {size:,} flags, 2 environments", flush=True)
        worst_admin = worst_api = 0.0
        for name, (url, params) in views.items():
            ms = median_ms(lambda url=url, params=params: get_ok(client, url, params), 3)
            if name.startswith("admin"):
                worst_admin = max(worst_admin, ms)
            else:
                worst_api = max(worst_api, ms)
            print(f"  {name:14} {ms:8.1f} ms", flush=True)
        results[f"flags{size_label(size)}_admin_ms"] = worst_admin
        results[f"flags{size_label(size)}_api_ms"] = worst_api


# ---------------------------------------------------------------------------------------------
# SDK compile


CHILD = """
import json, re, sys, time
from flagplane.sync import compile_body
def high_water_mb():  # VmHWM: this process's peak RSS (ru_maxrss may carry the parent's over exec)
    return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) / 1024
body = open(sys.argv[1], "rb").read()
before = high_water_mb()
started = time.perf_counter()
snapshot = compile_body(body)
elapsed = time.perf_counter() - started
print(json.dumps({"ms": elapsed * 1000, "peak_mb": high_water_mb(), "before_mb": before,
                  "flags": len(snapshot.flags), "body_mb": len(body) / 2**20}))
"""


def sdk_document(flags: int) -> bytes:
    """The document the control plane builds for ``flags`` flags of 5 rules each (bench/document_build's)."""
    from bench.document_build import rules_for
    from controlplane.audit.services import Actor
    from controlplane.documents.builder import canonical_json, flag_entries, segment_entries
    from controlplane.flags.models import Flag, FlagState
    from controlplane.flags.services import BOOLEAN_VARIANTS, create_segment
    from controlplane.projects.services import create_project

    actor = Actor.system("bench")
    project = create_project(actor, key="sdk", environments=["production"])
    environment = project.environments.get()
    create_segment(project, actor, key="beta", included=[f"user-{i}" for i in range(100)])
    for low in range(0, flags, 5000):
        created = Flag.objects.bulk_create(
            Flag(project=project, key=f"flag-{i:05d}", name=f"Flag {i}", variants=BOOLEAN_VARIANTS, off_variant="off")
            for i in range(low, min(flags, low + 5000))
        )
        FlagState.objects.bulk_create(
            FlagState(flag=flag, environment=environment, on=True, rules=rules_for(low + i),
                      default_serve={"split": [{"variant": "on", "weight": 50_000},
                                               {"variant": "off", "weight": 50_000}]})
            for i, flag in enumerate(created)
        )  # fmt: skip
    document = {"schema_version": 1, "project": project.key, "environment": environment.key, "version": 1,
                "flags": flag_entries(environment), "segments": segment_entries(environment)}  # fmt: skip
    return canonical_json(document).encode()


def bench_sdk(flag_sizes: list[int], results: dict[str, Any]) -> None:
    full = json.loads(sdk_document(max(flag_sizes)))
    for size in flag_sizes:
        document = {**full, "flags": dict(list(full["flags"].items())[:size])}
        with tempfile.NamedTemporaryFile(suffix=".json") as file:
            file.write(json.dumps(document).encode())
            file.flush()
            runs = []
            for _ in range(3):
                output = subprocess.run(
                    [sys.executable, "-c", CHILD, file.name], capture_output=True, text=True, check=True
                ).stdout
                runs.append(json.loads(output))
        ms = statistics.median(run["ms"] for run in runs)
        mb = statistics.median(run["peak_mb"] for run in runs)
        print(f"sdk: {size:6,} flags ({runs[0]['body_mb']:.1f} MiB JSON): load + compile {ms:7.1f} ms, "
              f"peak RSS {mb:6.1f} MB (before: {runs[0]['before_mb']:.1f} MB)", flush=True)  # fmt: skip
        results[f"sdk_compile_{size_label(size)}_ms"] = ms
        results[f"sdk_compile_{size_label(size)}_mb"] = mb


# ---------------------------------------------------------------------------------------------
# Rollout engine (another bench's measure, when it is there)


def bench_engine(engine_sizes: list[int], results: dict[str, Any]) -> None:
    try:
        from bench.scale_engine import measure
    except ImportError:
        print("engine: bench/scale_engine.py is not there; skipped")
        return
    results.update(measure(engine_sizes))


def summary(results: dict[str, Any]) -> str:
    def fmt(value: Any) -> str:
        if value is None:
            return "n/a"
        return f"{value:.1f}" if isinstance(value, float) else str(value)

    largest = results.get("audit_largest", "10m")
    keys = ["engine_plans_per_worker", "engine_queries_per_evaluate", f"audit_admin_ms_{largest}",
            f"audit_api_ms_{largest}", "ingest_us_per_series", "flags50k_admin_ms", "sdk_compile_10k_ms",
            "sdk_compile_10k_mb"]  # fmt: skip
    return "scale: " + " ".join(f"{key}={fmt(results.get(key))}" for key in keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--audit-sizes", type=sizes, default=sizes("100000,1000000,10000000"))
    parser.add_argument("--series-sizes", type=sizes, default=sizes("100,1000,10000"))
    parser.add_argument("--flag-sizes", type=sizes, default=sizes("5000,20000,50000"))
    parser.add_argument("--sdk-sizes", type=sizes, default=sizes("1000,5000,10000"))
    parser.add_argument("--engine-sizes", type=sizes, default=sizes("500,2000,5000"))
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"some of {','.join(SECTIONS)}")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    only = set(args.only.split(","))
    setup_database()
    results: dict[str, Any] = {}
    try:
        sections = {"engine": (bench_engine, args.engine_sizes), "audit": (bench_audit, args.audit_sizes),
                    "ingest": (bench_ingest, args.series_sizes), "flags": (bench_flags, args.flag_sizes),
                    "sdk": (bench_sdk, args.sdk_sizes)}  # fmt: skip
        for name in SECTIONS:
            if name in only:
                function, section_sizes = sections[name]
                function(section_sizes, results)
    finally:
        cleanup_redis()
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database()
    print(f"(peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    print(summary(results))


if __name__ == "__main__":
    main()
