"""Size and cost of SDK documents: the full build at 1,000 and 10,000 flags (5 rules each), and
the publication of one changed flag in the 10,000-flag environment.

* full build: every flag serialised into its fragment and the document assembled from them
  (``documents.builder`` + ``documents.assembly``, median of ``--repeats``), and the first
  publication of the environment (``documents.services.rebuild``: fragments written, version
  committed, Redis copy compressed chunk by chunk and stored), once; and the size of that copy
  as served gzip-compressed;
* one flag changed (a toggle, as the API does it): the time ``rebuild`` takes to publish it
  (including the Redis copy, updated in place: one chunk re-compressed), the time until its
  patch event is out (what streaming SDKs wait for), and the bytes of that patch
  as a streaming SDK receives it (an SSE event, gzip-encoded as the SDK asks, and raw).

Runs against a scratch PostgreSQL database (``flagplane_bench`` on the server of DATABASE_URL),
which it creates, migrates and fills, and Redis database 14 under a private key prefix and Celery
queue (removed at the end). Usage: ``.venv/bin/python bench/document_build.py [--flags N]``
(one size only; default: 1,000 and 10,000).
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def scratch_database_url(name: str = "flagplane_bench") -> str:
    url = urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flagplane"))
    return url._replace(path=f"/{name}").geturl()


def scratch_environment(name: str, database: str = "flagplane_bench") -> dict[str, str]:
    """Settings for a benchmark's own processes: a scratch database, and Redis database 14 with
    a prefix and Celery queue of their own, so nothing of anyone else's is read or disturbed."""
    from controlplane.settings.env import redis_url_with_db

    redis_url = redis_url_with_db(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), 14)
    tag = f"bench-{name}-{os.getpid()}"
    return {
        "DJANGO_SETTINGS_MODULE": "controlplane.settings.base",
        "DATABASE_URL": scratch_database_url(database),
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "REDIS_PREFIX": tag,
        "CELERY_QUEUE": tag,
    }


def setup_django(environment: dict[str, str]) -> None:
    """Create and migrate the scratch database, and set Django up on it (in this process)."""
    os.environ.update(environment)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from controlplane.settings import createdb

    createdb.main()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def remove_redis_keys(environment: dict[str, str]) -> None:
    """Everything the benchmark left in Redis: its prefixed keys and its Celery queue."""
    import redis

    client = redis.Redis.from_url(environment["REDIS_URL"])
    for pattern in (f"{environment['REDIS_PREFIX']}:*", f"{environment['CELERY_QUEUE']}*"):
        for key in client.scan_iter(match=pattern, count=1000):
            client.delete(key)


def rules_for(index: int) -> list[dict]:
    def clause(attribute, op, values, **extra):
        return {"attribute": attribute, "op": op, "values": values, **extra}

    return [
        {
            "id": f"r{index}-1",
            "description": "Internal staff",
            "clauses": [clause("email", "ends_with", ["@example.com"], case_insensitive=True)],
            "serve": {"variant": "on"},
        },
        {
            "id": f"r{index}-2",
            "description": "Beta segment on recent app versions",
            "clauses": [clause("key", "in_segment", ["beta"]), clause("app_version", "semver_gte", ["3.2.0"])],
            "serve": {"variant": "on"},
        },
        {
            "id": f"r{index}-3",
            "description": "Free plan in some countries",
            "clauses": [clause("plan", "equals", ["free"]), clause("country", "in", ["DE", "FR", "NL", "SE"])],
            "serve": {"split": [{"variant": "on", "weight": 25_000}, {"variant": "off", "weight": 75_000}]},
        },
        {
            "id": f"r{index}-4",
            "description": "Office network",
            "clauses": [clause("ip", "in_cidr", ["10.0.0.0/8", "192.168.0.0/16"])],
            "serve": {"variant": "on"},
        },
        {
            "id": f"r{index}-5",
            "description": "Heavy users",
            "clauses": [clause("orders", "num_gte", [10]), clause("user_agent", "regex", ["^Mozilla/5\\.0 .*Mobile"])],
            "serve": {"variant": "off"},
        },
    ]


def create_environment(project_key: str, flags: int):
    """A fresh project ``project_key`` whose one environment (production) has ``flags`` flags of
    five rules each and a segment; not built yet. Returns the environment."""
    from controlplane.audit.services import Actor
    from controlplane.flags.models import Flag, FlagState
    from controlplane.flags.services import BOOLEAN_VARIANTS, create_segment
    from controlplane.projects.models import Project
    from controlplane.projects.services import create_project

    Project.objects.filter(key=project_key).delete()
    actor = Actor.system("bench")
    project = create_project(actor, key=project_key, environments=["production"])
    environment = project.environments.get()
    create_segment(project, actor, key="beta", included=[f"user-{i}" for i in range(100)])
    created = Flag.objects.bulk_create(
        Flag(project=project, key=f"flag-{i:05d}", name=f"Flag {i}", variants=BOOLEAN_VARIANTS, off_variant="off")
        for i in range(flags)
    )
    FlagState.objects.bulk_create(
        FlagState(
            flag=flag,
            environment=environment,
            on=True,
            rules=rules_for(i),
            default_serve={"split": [{"variant": "on", "weight": 50_000}, {"variant": "off", "weight": 50_000}]},
        )
        for i, flag in enumerate(created)
    )
    return environment


def full_build_ms(environment, repeats: int) -> tuple[float, bytes]:
    """Median time to serialise every flag and segment and assemble the document, and the body."""
    from controlplane.documents import assembly
    from controlplane.documents.builder import canonical_json, flag_entries, segment_entries

    timings, body = [], b""
    for _ in range(repeats):
        started = time.perf_counter()
        flags = {key: canonical_json(entry) for key, entry in flag_entries(environment).items()}
        segments = {key: canonical_json(entry) for key, entry in segment_entries(environment).items()}
        body = assembly.join(environment.project.key, environment.key, 1, flags, segments)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), body


@contextmanager
def patch_publications():
    """Record when each patch event is handed to Redis (``rebuild`` then still writes the copy)."""
    from controlplane.documents import cache, services

    published: list[tuple[float, bytes]] = []
    original = cache.publish_patch

    def recording(uid, event):
        published.append((time.perf_counter(), event))
        return original(uid, event)

    services.cache.publish_patch = recording
    try:
        yield published
    finally:
        services.cache.publish_patch = original


def patch_bytes(event: bytes) -> tuple[int, int]:
    """(gzip-encoded, raw) bytes of a patch as the SSE event a streaming SDK receives."""
    from controlplane.documents import events
    from controlplane.edge.feeds import Event

    decoded = events.decode(event)
    sse = Event.of(b"patch", int(decoded.header["version"]), decoded.payload)
    return len(sse.deflated), len(sse.raw)


def one_change(environment, repeats: int) -> dict[str, float]:
    """Toggle one flag ``repeats`` times, publishing each; medians of the figures."""
    from controlplane.audit.services import Actor
    from controlplane.documents.services import rebuild
    from controlplane.flags.models import FlagState
    from controlplane.flags.services import toggle_flag

    state = FlagState.objects.filter(environment=environment).order_by("flag__key").first()
    runs = []
    for repeat in range(repeats):
        toggle_flag(state, Actor.system("bench"), on=repeat % 2 == 1, reason="bench")
        with patch_publications() as published:
            started = time.perf_counter()
            rebuild(environment.id)
            finished = time.perf_counter()
        ((patched_at, event),) = published
        gzipped, raw = patch_bytes(event)
        runs.append(((finished - started) * 1000, (patched_at - started) * 1000, gzipped, raw))
    return {
        name: statistics.median(run[index] for run in runs)
        for index, name in enumerate(("publish_ms", "patch_out_ms", "patch_bytes", "patch_raw_bytes"))
    }


def measure(flags: int, repeats: int) -> dict[str, float]:
    from controlplane.documents import cache
    from controlplane.documents.services import rebuild
    from controlplane.projects.models import Project

    environment = create_environment(f"bench-{flags}", flags)
    build_ms, body = full_build_ms(environment, repeats)
    started = time.perf_counter()
    document = rebuild(environment.id)
    first_ms = (time.perf_counter() - started) * 1000
    figures = {
        "build_ms": build_ms,
        "first_publication_ms": first_ms,
        "raw_kib": len(body) / 1024,
        "gzip_kib": len(gzip.compress(body)) / 1024,
        "served_gzip_kib": len(cache.get(environment.uid).deflate) / 1024,
        **one_change(environment, repeats),
    }
    print(f"flags={flags} rules_per_flag=5 repeats={repeats}")
    print(f"  full build (serialise every flag + assemble), median: {build_ms:.1f} ms")
    print(f"  first publication (fragments, version, Redis copy): {first_ms:.1f} ms (v{document.version})")
    print(
        f"  size: {figures['raw_kib']:.0f} KiB JSON, {figures['gzip_kib']:.0f} KiB gzipped in one piece, "
        f"{figures['served_gzip_kib']:.0f} KiB as served (compressed chunk by chunk)"
    )
    print(
        f"  one flag toggled, median: patch out after {figures['patch_out_ms']:.1f} ms, publication "
        f"(incl. the Redis copy) {figures['publish_ms']:.1f} ms; patch per streaming "
        f"SDK {figures['patch_bytes']:.0f} bytes gzip ({figures['patch_raw_bytes']:.0f} raw)"
    )
    Project.objects.filter(pk=environment.project_id).delete()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flags", type=int, help="measure this size only (default: 1,000 and 10,000)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    environment = scratch_environment("document-build")
    setup_django(environment)
    try:
        sizes = [args.flags] if args.flags else [1000, 10_000]
        results = {flags: measure(flags, args.repeats) for flags in sizes}
    finally:
        remove_redis_keys(environment)
    if args.flags:
        r = results[args.flags]
        print(
            f"document_build: flags={args.flags} build_ms={r['build_ms']:.1f} gzip_kb={r['gzip_kib']:.0f} "
            f"served_gzip_kb={r['served_gzip_kib']:.0f} "
            f"change_ms={r['publish_ms']:.1f} patch_out_ms={r['patch_out_ms']:.1f} patch_bytes={r['patch_bytes']:.0f}"
        )
        return
    small, large = results[1000], results[10_000]
    print(
        f"document_build: flags1k_build_ms={small['build_ms']:.1f} flags10k_build_ms={large['build_ms']:.1f} "
        f"flags10k_gzip_kb={large['gzip_kib']:.0f} flags10k_served_gzip_kb={large['served_gzip_kib']:.0f} "
        f"flags10k_change_ms={large['publish_ms']:.1f} "
        f"flags10k_patch_out_ms={large['patch_out_ms']:.1f} flags10k_patch_bytes={large['patch_bytes']:.0f}"
    )


if __name__ == "__main__":
    main()
