"""Costs that grow with the data: the audit log, metrics ingest, the flag lists, the SDK's compile
and (``bench/scale_engine.py``, when present) the rollout engine, each at three sizes.

Runs against a scratch PostgreSQL database (``flagplane_bench_scale_<pid>`` on the server of
DATABASE_URL), which it creates, migrates, fills with bulk inserts and drops at the end (``--keep``
keeps it). The audit log's sizes are each a database kept between runs (``bench/scale_audit.py``:
10M entries take minutes to fill), reused when they hold the same fill, filled again with
``--refill``. Requests go through Django's test client, the whole middleware and view stack in
this process, timed as the median of a few requests. The line before the summary says how long
each section spent filling and measuring.

Usage: ``.venv/bin/python bench/scale.py [--audit-sizes 100000,1000000,10000000] [--only audit,...]
[--refill]``. The summary's ``audit_*_ms_10m`` keys name the largest audit size run
(``audit_admin_ms_1m`` if the largest was 1M).
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
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATABASE = f"flagplane_bench_scale_{os.getpid()}"
"""Per run: two runs at once (several people on one machine) must not drop each other's database."""
SECTIONS = ("engine", "audit", "ingest", "flags", "sdk")


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


def server():
    """An autocommit connection to the server's ``postgres`` database, to create and drop others."""
    import psycopg

    from controlplane.settings.env import database_from_url

    config = database_from_url(os.environ["DATABASE_URL"])
    params = {"dbname": "postgres", "user": config["USER"], "password": config["PASSWORD"],
              "host": config["HOST"], "port": config["PORT"] or None}  # fmt: skip
    return psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True)


def drop_database() -> None:
    with server() as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


@contextmanager
def filling(results: dict[str, Any], section: str) -> Iterator[None]:
    """Adds the block's seconds to the section's fill time (``<section>_fill_s``)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        results[f"{section}_fill_s"] = results.get(f"{section}_fill_s", 0.0) + time.perf_counter() - started


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
# Metrics ingest


UNIT_GROUPS_PER_SERIES = 16
"""Unit groups a series of the unit-group case reports (of 64): a split flag's share of its users
seen by one SDK instance in a flush interval."""


def metrics_batch(series: int, end: datetime, units: bool = False) -> dict:
    """A batch of ``series`` series ending at ``end``; ``units``: each with counts per unit group
    (wire format 2, ``UNIT_GROUPS_PER_SERIES`` groups), as an SDK sends a flag under a percentage split."""
    from controlplane.metrics.histogram import STANDARD_BOUNDS_MS

    stamp = end.strftime("%Y-%m-%dT%H:%M:%S.") + f"{end.microsecond // 1000:03d}Z"
    prefix = "units" if units else "flag"
    entries = [
        {
            "flag": f"{prefix}-{series}-{i // 2:05d}", "variant": "on" if i % 2 else "off",
            "evaluations": 120, "successes": 30, "errors": 1,
            "latency_ms": {"bounds": list(STANDARD_BOUNDS_MS), "counts": [0, 3, 10, 9, 4, 2, 1, 0, 0, 0, 0, 0, 0, 0],
                           "sum": 321.5},
        }
        for i in range(series)
    ]  # fmt: skip
    if units:
        for i, entry in enumerate(entries):
            entry["units"] = unit_groups(i)
    return {
        "format": 2, "sdk": {"name": "flagplane-python", "version": "bench"}, "batch_id": uuid.uuid4().hex,
        "document_version": 1, "period": {"start": stamp, "end": stamp}, "flags": entries, "dropped": 0,
    }  # fmt: skip


def unit_groups(i: int) -> dict:
    """Series ``i``'s unit groups: every fourth group from ``i % 4``, together the series' 30
    successes and 1 error, one latency each."""
    from flagplane.metrics import UNIT_GROUPS

    group = list(range(i % 4, UNIT_GROUPS, UNIT_GROUPS // UNIT_GROUPS_PER_SERIES))
    successes = [2] * UNIT_GROUPS_PER_SERIES
    successes[0] = 0  # 15 groups of 2 successes, the first group's one error
    errors = [1] + [0] * (UNIT_GROUPS_PER_SERIES - 1)
    counts = [[0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] for _ in group]
    counts[0] = [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    return {"groups": UNIT_GROUPS, "group": group, "successes": successes, "errors": errors, "latency_counts": counts}


def bench_ingest(series_sizes: list[int], results: dict[str, Any]) -> None:
    """Each size twice for plain series and twice for series with unit groups: batches whose series
    are new in their bucket (one SDK instance: it flushes once per bucket, so every row is inserted)
    and batches adding to rows already in the bucket (more instances of one service). A batch of
    more than METRICS_PARK_ROWS rows is parked by the request (``queued``) and counted here by the
    drain a worker would run: its µs per series are the drain's. The summary takes the slower at
    the largest size, for each kind of series."""
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from controlplane.audit.services import Actor
    from controlplane.metrics import inbox
    from controlplane.projects.services import create_project, issue_sdk_key

    project = create_project(Actor.system("bench"), key="ingest", environments=["production"])
    _, key = issue_sdk_key(project.environments.get(), Actor.system("bench"), "bench")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    width = timedelta(seconds=settings.METRICS_BUCKET_SECONDS)
    batches = 0
    for units, label in ((False, "ingest"), (True, "ingest_units")):
        for series in series_sizes:
            now = datetime.now(UTC)
            ends = {
                "new rows": [now - (2 * i + 1) * width for i in range(4)],  # each in a bucket of its own
                "adding to rows": [now] * 4,
            }  # fmt: skip
            worst = worst_request = 0.0
            for case, moments in ends.items():
                # compact, as the SDK sends it (10,000 series with unit groups: 8.4 MiB), before the clock starts
                bodies = iter([json.dumps(metrics_batch(series, end, units), separators=(",", ":")) for end in moments])
                queued = []

                def post(bodies=bodies, queued=queued):
                    response = client.post("/api/v1/metrics", next(bodies), content_type="application/json")
                    assert response.status_code == 202, response.content[:300]
                    queued.append(response.json()["queued"])

                ms = median_ms(post, 3)
                batches += len(moments)
                per_series = ms * 1000 / series
                kind = f"{UNIT_GROUPS_PER_SERIES} unit groups" if units else "plain"
                line = f"{label}: {series:6,} series ({kind}) per batch, {case:14s} request {ms:8.1f} ms"
                if any(queued):
                    started = time.perf_counter()
                    drained = inbox.drain()
                    assert drained["counted"] == sum(queued), drained
                    per_series = (time.perf_counter() - started) * 1e6 / (series * drained["counted"])
                    line += f" (queued)  drain {per_series:6.1f} µs per series"
                else:
                    line += f"  {per_series:6.1f} µs per series"
                print(line, flush=True)
                worst, worst_request = max(worst, per_series), max(worst_request, ms)
            results[f"{label}_us_per_series"] = worst
            results[f"{label}_request_ms"] = worst_request
    with connection.cursor() as cursor:
        cursor.execute("SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'metrics_flagactivity'")
        updates = cursor.fetchone()[0]
    print(f"  flag activity row updates over {batches} batches: {updates:,} (statistics may lag)")


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
        with filling(results, "flags"):
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
started, cpu_started = time.perf_counter(), time.process_time()
snapshot = compile_body(body)
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
print(json.dumps({"ms": elapsed * 1000, "cpu_ms": cpu * 1000, "peak_mb": high_water_mb(), "before_mb": before,
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
    with filling(results, "sdk"):
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
        cpu_ms = statistics.median(run["cpu_ms"] for run in runs)
        mb = statistics.median(run["peak_mb"] for run in runs)
        print(f"sdk: {size:6,} flags ({runs[0]['body_mb']:.1f} MiB JSON): load + compile {ms:7.1f} ms "
              f"({cpu_ms:.1f} ms of CPU: the rest waited for a core), peak RSS {mb:6.1f} MB "
              f"(before: {runs[0]['before_mb']:.1f} MB)", flush=True)  # fmt: skip
        results[f"sdk_compile_{size_label(size)}_ms"] = ms
        results[f"sdk_compile_{size_label(size)}_cpu_ms"] = cpu_ms
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


def bench_audit(audit_sizes: list[int], results: dict[str, Any], refill: bool = False) -> None:
    from bench.scale_audit import bench_audit as measure

    measure(audit_sizes, results, refill)


def times(results: dict[str, Any], elapsed: dict[str, float]) -> str:
    """Each section's seconds spent filling its data and measuring it."""
    parts = []
    for name, seconds in elapsed.items():
        fill = results.get(f"{name}_fill_s", 0.0)
        parts.append(f"{name} {fill:.0f} s fill + {seconds - fill:.0f} s measure")
    return "times: " + ", ".join(parts)


def summary(results: dict[str, Any]) -> str:
    def fmt(value: Any) -> str:
        if value is None:
            return "n/a"
        return f"{value:.1f}" if isinstance(value, float) else str(value)

    largest = results.get("audit_largest", "10m")
    keys = ["engine_plans_per_worker", "engine_queries_per_evaluate", f"audit_admin_ms_{largest}",
            f"audit_api_ms_{largest}", "ingest_us_per_series", "ingest_units_us_per_series",
            "ingest_units_request_ms",
            "flags50k_admin_ms", "sdk_compile_10k_ms",
            "sdk_compile_10k_mb"]  # fmt: skip
    return "scale: " + " ".join(f"{key}={fmt(results.get(key))}" for key in keys)


def by_size(results: dict[str, Any]) -> list[str]:
    """Every figure the sections left, one line each (each row at each of its sizes)."""
    return [f"  {key}={value:.1f}" if isinstance(value, float) else f"  {key}={value}"
            for key, value in sorted(results.items()) if not key.endswith("_fill_s")]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--audit-sizes", type=sizes, default=sizes("100000,1000000,10000000"))
    parser.add_argument("--series-sizes", type=sizes, default=sizes("100,1000,10000"))
    parser.add_argument("--flag-sizes", type=sizes, default=sizes("5000,20000,50000"))
    parser.add_argument("--sdk-sizes", type=sizes, default=sizes("1000,5000,10000"))
    parser.add_argument("--engine-sizes", type=sizes, default=sizes("500,2000,5000"))
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"some of {','.join(SECTIONS)}")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--refill", action="store_true", help="fill the kept audit databases again")
    args = parser.parse_args()
    only = set(args.only.split(","))
    setup_database()
    results: dict[str, Any] = {}
    elapsed: dict[str, float] = {}
    try:
        sections = {"engine": (bench_engine, args.engine_sizes),
                    "audit": (lambda s, r: bench_audit(s, r, args.refill), args.audit_sizes),
                    "ingest": (bench_ingest, args.series_sizes), "flags": (bench_flags, args.flag_sizes),
                    "sdk": (bench_sdk, args.sdk_sizes)}  # fmt: skip
        for name in SECTIONS:
            if name in only:
                function, section_sizes = sections[name]
                started = time.perf_counter()
                function(section_sizes, results)
                elapsed[name] = time.perf_counter() - started
    finally:
        cleanup_redis()
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database()
    print(f"(peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    print("figures:", *by_size(results), sep="\n")
    print(times(results, elapsed))
    print(summary(results))


if __name__ == "__main__":
    main()
