"""How fast a flag change made through the REST API reaches SDKs: streaming, polling, and in a
10,000-flag environment.

Starts the product's stack as deploy/Procfile does (``uvicorn controlplane.asgi:application``
with its default two workers: the edge answers the SDK paths, Django the API; a Celery worker
with concurrency 2; Celery beat with a schedule file of its own) on a scratch database
(``flagplane_bench_propagation``) and Redis database 14 under a private prefix and queue. Then:

1. **Streaming**: ``--clients`` (1,000) connections to ``GET /api/v1/sdk/stream``, as the SDK
   opens them (gzip, ``Last-Event-ID`` on reconnect, ``Retry-After`` honoured): ``--sdk-sample``
   (20) real ``flagplane.Client`` objects in a process of their own, the rest raw asyncio
   connections spread over ``--raw-processes`` (4) processes, each its own event loop, as SDKs
   each are (one Python loop reading 980 connections queued them behind one another and made
   the last ones late by its own work: the connections' CPU is the same, only spread). A flag
   is toggled through the REST API ``--changes`` times; the latency of a connection is from
   just before the API call until it has an event of a newer version: for a ``flagplane.Client``
   when its listener is told, for a raw connection when the kernel received the bytes that
   complete the event (``SO_TIMESTAMPNS``), so that the bench's own parsing of ~245
   connections per process is not counted against the last ones read: on this 2-core machine
   those processes' loops lagged 40-170 ms while an event arrived, after the edge had written
   it everywhere. The time until this bench had parsed each event is printed too. One that has
   none within ``--lost-after`` seconds is lost.
2. **Polling**: ``--poll-sample`` clients with ``stream=False`` at the default poll interval
   (10 s), started spread over one interval; same changes, same clock.
3. **10,000 flags**: a second environment of 10,000 flags (5 rules each), ``--big-sdks`` real
   streaming clients and as many raw connections; one flag toggled through the API. Reported:
   the time until every one of these SDKs has it (median over the changes) and the bytes each
   raw connection received on the wire from the API call until it had it.

Latencies include this machine's scheduling: the load generator shares the cores with the
stack. The connections and their child processes are in ``bench/stream_receivers.py``. Usage:
``.venv/bin/python bench/propagation.py [--clients 1000]``; about 3-5 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from document_build import create_environment, remove_redis_keys, scratch_environment, setup_django  # noqa: E402
from percentiles import percentile  # noqa: E402
from production_stack import Stack  # noqa: E402
from stream_receivers import RawStream, Sample, close_streams, open_streams, run_clients, run_raw_streams  # noqa: E402

POLL_INTERVAL_S = 10.0  # flagplane.Client's default


# ---------------------------------------------------------------------------------------------
# Measuring one change


@dataclass
class Change:
    """Latencies (ms) of one change, per connection; None: never got it."""

    api_ms: float
    latencies: list[float | None]
    wire_bytes: list[int]
    parsed: list[float | None] = field(default_factory=list)
    """Of the raw connections: until this bench had parsed the event (not only received it)."""


class Api:
    def __init__(self, base_url: str, token: str) -> None:
        self.base_url, self.token = base_url, token
        self.on: dict[tuple[str, str], bool] = {}

    def flip(self, project: str, flag: str) -> None:
        """Toggle the flag in production to the other state (the benchmark's flags start on)."""
        on = not self.on.get((project, flag), True)
        self.toggle(project, flag, on)
        self.on[project, flag] = on

    def warm_up(self, project: str, flag: str, requests: int = 10) -> None:
        """Reads first, so that no measured call pays a web process's first connections."""
        for _ in range(requests):
            request = urllib.request.Request(
                f"{self.base_url}/api/v1/projects/{project}/flags/{flag}/environments/production/",
                headers={"Authorization": f"Bearer {self.token}"},
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()

    def toggle(self, project: str, flag: str, on: bool) -> None:
        request = urllib.request.Request(
            f"{self.base_url}/api/v1/projects/{project}/flags/{flag}/environments/production/toggle",
            data=json.dumps({"on": on, "reason": "bench/propagation.py"}).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()


def first_after(seen_at: dict[int, float], version: int) -> float | None:
    times = [at for seen, at in seen_at.items() if seen > version]
    return min(times) if times else None


async def settled(raw: list[RawStream], clients: list[RawStream], timeout: float) -> int:
    """Wait until every connection serves the same version; return it."""
    deadline = time.monotonic() + timeout
    while True:
        versions = {stream.version for stream in (*raw, *clients)}
        if len(versions) == 1 and 0 not in versions:
            return versions.pop()
        if time.monotonic() > deadline:
            raise RuntimeError(f"connections do not agree on a version: {sorted(versions)[:10]}")
        await asyncio.sleep(0.2)


async def measure_changes(
    api: Api, target: Target, raw: list[RawStream], clients: list[RawStream], count: int, wait_s: float
) -> list[Change]:
    changes = []
    for _ in range(count):
        changes.append(await measure_change(api, target, raw, clients, wait_s))
        await asyncio.sleep(1)
    return changes


async def measure_change(
    api: Api, target: Target, raw: list[RawStream], clients: list[RawStream], wait_s: float
) -> Change:
    before = await settled(raw, clients, 60)
    bytes_before = [stream.bytes_received for stream in raw]
    started = time.monotonic()
    await asyncio.to_thread(api.flip, target.project, target.flag)
    api_ms = (time.monotonic() - started) * 1000
    deadline = started + wait_s
    while time.monotonic() < deadline:
        if all(s.version > before for s in (*raw, *clients)):
            break
        await asyncio.sleep(0.02)
    arrivals = [first_after(stream.seen_at, before) for stream in (*raw, *clients)]
    latencies = [None if at is None else (at - started) * 1000 for at in arrivals]
    parsed = [first_after(stream.parsed_at, before) for stream in raw]
    wire = [
        stream.bytes_at[min(v for v in stream.bytes_at if v > before)] - sent
        for stream, sent in zip(raw, bytes_before, strict=True)
        if stream.version > before
    ]
    return Change(api_ms, latencies, wire, [None if at is None else (at - started) * 1000 for at in parsed])


def describe(name: str, changes: list[Change]) -> tuple[float, float, int]:
    got = [latency for change in changes for latency in change.latencies if latency is not None]
    lost = sum(latency is None for change in changes for latency in change.latencies)
    p50, p99 = percentile(got, 0.5), percentile(got, 0.99)
    api = statistics.median(change.api_ms for change in changes)
    print(
        f"  {name}: {len(got)} deliveries, min {min(got, default=0):.0f} ms, p50 {p50:.0f} ms, p99 {p99:.0f} ms, "
        f"max {max(got, default=0):.0f} ms, "
        f"lost {lost}; API call answered in {api:.0f} ms (median)"
    )
    return p50, p99, lost


# ---------------------------------------------------------------------------------------------
# The environments


@dataclass
class Target:
    project: str
    flag: str
    sdk_key: str


def prepare(api_user: str, big_flags: int) -> tuple[str, Target, Target]:
    """The API token, and a 50-flag and a 10,000-flag environment with an SDK key each, published."""
    from django.contrib.auth import get_user_model

    from controlplane.accounts.services import issue_api_token
    from controlplane.audit.services import Actor
    from controlplane.documents.services import rebuild
    from controlplane.projects.services import issue_sdk_key

    user, _ = get_user_model().objects.update_or_create(
        username=api_user, defaults={"is_staff": True, "is_superuser": True}
    )
    _, token = issue_api_token(user, Actor.system("bench"), name="bench-propagation", scope="write")
    targets = []
    for project, flags in (("prop-small", 50), ("prop-big", big_flags)):
        started = time.perf_counter()
        environment = create_environment(project, flags)
        rebuild(environment.id)
        _, key = issue_sdk_key(environment, Actor.system("bench"), "bench-propagation")
        print(f"prepared {project}: {flags} flags, published in {time.perf_counter() - started:.1f} s")
        targets.append(Target(project, "flag-00007", key))
    return token, targets[0], targets[1]


# ---------------------------------------------------------------------------------------------
# The three parts


async def streaming(args, stack: Stack, api: Api, target: Target) -> tuple[float, float, int]:
    sample = Sample(run_clients, (stack.url, target.sdk_key, True, 0.0), args.sdk_sample)
    connections = Sample(
        run_raw_streams, ("127.0.0.1", stack.port, target.sdk_key), args.clients - args.sdk_sample, args.raw_processes
    )
    raw = connections.streams
    await sample.ready(120)
    await settled(raw, sample.streams, 120)
    print(
        f"streaming: {args.clients} connections open ({len(raw)} raw in {args.raw_processes} processes, "
        f"{args.sdk_sample} flagplane.Client)"
    )
    changes = await measure_changes(api, target, raw, sample.streams, args.changes, args.lost_after)
    sample.stop()
    connections.stop()
    refused, reconnects = connections.refusals, connections.reconnects
    print(f"  raw connections: {refused} refusals (503/429) while connecting, {reconnects} reconnects in all")
    sdk_only = [Change(c.api_ms, c.latencies[len(raw) :], []) for c in changes]
    describe("flagplane.Client sample", sdk_only)
    describe("raw connections, until received", [Change(c.api_ms, c.latencies[: len(raw)], []) for c in changes])
    describe("raw connections, until this bench had parsed them", [Change(c.api_ms, c.parsed, []) for c in changes])
    return describe("all connections (raw: received; flagplane.Client: applied)", changes)


async def polling(args, stack: Stack, api: Api, target: Target) -> float:
    sample = Sample(run_clients, (stack.url, target.sdk_key, False, POLL_INTERVAL_S), args.poll_sample)
    await sample.ready(120)
    print(f"polling: {args.poll_sample} flagplane.Client(stream=False), poll interval {POLL_INTERVAL_S:g} s")
    changes = await measure_changes(api, target, [], sample.streams, args.changes, 3 * POLL_INTERVAL_S)
    sample.stop()
    return describe("polling clients", changes)[1]


async def big_environment(args, stack: Stack, api: Api, target: Target) -> tuple[float, float]:
    sample = Sample(run_clients, (stack.url, target.sdk_key, True, 0.0), args.big_sdks)
    raw, tasks = await open_streams(args.big_sdks, "127.0.0.1", stack.port, target.sdk_key)
    await sample.ready(300)
    await settled(raw, sample.streams, 300)
    print(f"10,000 flags: {args.big_sdks} flagplane.Client + {args.big_sdks} raw streaming connections")
    changes = await measure_changes(api, target, raw, sample.streams, args.changes, args.lost_after)
    describe("one flag in 10,000", changes)
    every = [max(got) for got in ([ms for ms in c.latencies if ms is not None] for c in changes) if got]
    wire = [size for change in changes for size in change.wire_bytes]
    print(
        f"  until every SDK had it: {', '.join(f'{ms:.0f}' for ms in every)} ms; wire bytes per SDK: "
        f"median {statistics.median(wire):.0f}, max {max(wire)}"
    )
    sample.stop()
    await close_streams(tasks)
    return statistics.median(every), statistics.median(wire)


async def run(args, stack: Stack, api: Api, small: Target, big: Target) -> str:
    for target in (small, big):
        await asyncio.to_thread(api.warm_up, target.project, target.flag)
    p50, p99, lost = await streaming(args, stack, api, small)
    poll_p99 = await polling(args, stack, api, small)
    change_ms, wire = await big_environment(args, stack, api, big)
    return (
        f"propagation: clients={args.clients} stream_p50_ms={p50:.0f} stream_p99_ms={p99:.0f} lost={lost} "
        f"poll_p99_ms={poll_p99:.0f} flags10k_change_ms={change_ms:.0f} flags10k_bytes_per_sdk={wire:.0f}"
    )


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if wanted < needed:
        sys.exit(f"open files limit {wanted} < {needed} needed; raise it (ulimit -n)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000, help="streaming connections")
    parser.add_argument("--sdk-sample", type=int, default=20, help="of which flagplane.Client objects")
    parser.add_argument("--raw-processes", type=int, default=4, help="processes the raw connections are spread over")
    parser.add_argument("--poll-sample", type=int, default=50, help="polling flagplane.Client objects")
    parser.add_argument("--big-sdks", type=int, default=5, help="streaming clients in the 10,000-flag environment")
    parser.add_argument("--big-flags", type=int, default=10_000, help="flags of the large environment")
    parser.add_argument("--changes", type=int, default=3, help="flag changes measured per part")
    parser.add_argument("--lost-after", type=float, default=10.0, help="seconds after which a change counts as lost")
    args = parser.parse_args()
    raise_fd_limit(2 * args.clients + 512)  # each connection: our end and the server's (inherited limit)

    environment = scratch_environment("propagation", database="flagplane_bench_propagation")
    setup_django(environment)
    token, small, big = prepare("bench-propagation", args.big_flags)
    with tempfile.TemporaryDirectory(prefix="fp-bench-propagation-") as directory:
        stack = Stack(Path(directory), environment)
        try:
            stack.start()
            summary = asyncio.run(run(args, stack, Api(stack.url, token), small, big))
        except BaseException:
            print(stack.log_tail(), file=sys.stderr)
            raise
        finally:
            stack.stop()
            remove_redis_keys(environment)
    print(summary)


if __name__ == "__main__":
    main()
