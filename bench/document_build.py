"""Size and build time of the SDK document for an environment with 1,000 flags of 5 rules each.

Runs against a scratch PostgreSQL database (``flagplane_bench`` on the server of DATABASE_URL),
which it creates, migrates and fills. Usage: ``.venv/bin/python bench/document_build.py [--flags N]``.
"""

import argparse
import gzip
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def scratch_database_url() -> str:
    url = urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flagplane"))
    return url._replace(path="/flagplane_bench").geturl()


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--flags", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = scratch_database_url()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings.base")
    from controlplane.settings import createdb

    createdb.main()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from controlplane.audit.services import Actor
    from controlplane.documents.builder import build_content, canonical_json
    from controlplane.documents.services import rebuild
    from controlplane.flags.models import Flag, FlagState
    from controlplane.flags.services import BOOLEAN_VARIANTS, create_segment
    from controlplane.projects.models import Project
    from controlplane.projects.services import create_project

    Project.objects.filter(key="bench").delete()
    actor = Actor.system("bench")
    project = create_project(actor, key="bench", environments=["production"])
    environment = project.environments.get()
    create_segment(project, actor, key="beta", included=[f"user-{i}" for i in range(100)])
    flags = Flag.objects.bulk_create(
        Flag(project=project, key=f"flag-{i:04d}", name=f"Flag {i}", variants=BOOLEAN_VARIANTS, off_variant="off")
        for i in range(args.flags)
    )
    FlagState.objects.bulk_create(
        FlagState(
            flag=flag,
            environment=environment,
            on=True,
            rules=rules_for(i),
            default_serve={"split": [{"variant": "on", "weight": 50_000}, {"variant": "off", "weight": 50_000}]},
        )
        for i, flag in enumerate(flags)
    )

    timings = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        body = canonical_json(build_content(environment))
        timings.append((time.perf_counter() - started) * 1000)
    document = rebuild(environment.id)
    size_kb = len(body.encode()) / 1024
    gzip_kb = len(gzip.compress(body.encode())) / 1024
    build_ms = statistics.median(timings)
    print(f"flags={args.flags} rules_per_flag=5 repeats={args.repeats}")
    print(f"build (query + serialise), median: {build_ms:.1f} ms  (min {min(timings):.1f}, max {max(timings):.1f})")
    print(f"stored by rebuild(): version {document.version}, {document.build_ms:.1f} ms incl. hashing and saving")
    print(f"size: {size_kb:.0f} KiB JSON, {gzip_kb:.0f} KiB gzipped")
    Project.objects.filter(key="bench").delete()
    print(f"document_build: flags={args.flags} build_ms={build_ms:.1f} size_kib={size_kb:.0f} gzip_kib={gzip_kb:.0f}")


if __name__ == "__main__":
    main()
