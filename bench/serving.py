"""Serving capacity of the SDK path: ``GET /api/v1/sdk/config`` on the production web server
against a raw-ASGI peer doing the same work (bench/reference_app.py), in the same run, under
the same load generator (wrk).

Both servers are started the same way: deploy/entrypoint.sh, the container's entry point, with
the web role's uvicorn settings and worker count (``WEB_WORKERS``, 2), one after the other with
the same process attributes. They run on a scratch database (``flagplane_bench_serving`` on the
server of DATABASE_URL, created and migrated here) and a Redis prefix of this run's own, which
is deleted at the end. The environment has ``--flags`` flags and one SDK key.

Phases, each ``--duration`` seconds with ``wrk -t<threads> -c<connections>``:

1. config 304s (If-None-Match: the current ETag), the product and the reference alternately,
   ``--rounds`` times each; the median of each side and their ratio;
2. the full document (200, gzip) on the product;
3. overload, ``--overload-connections`` (1,024) wrk connections as SDKs: each polls again a
   think time after its answer, chosen so that together they offer twice the product's 304 rate
   of phase 1, and a refused poll waits its Retry-After instead (as the SDK does). Reported: the
   share shed (503/429 with Retry-After), the accepted rate, and the p99 of the accepted
   requests as eight probe clients beside wrk timed them (wrk's own latencies also count the
   time its threads, sharing the cores with the server, took to read an answer; the bound they
   give is printed too). Then the same connections in a closed loop that ignores Retry-After
   (each asks again at once): no shedding can turn that load away; the process keeps answering
   some of it (``closed_loop_accepted_rps``) instead of refusing everything.

Usage: ``.venv/bin/python bench/serving.py [--duration 10] [--rounds 3]``. Needs wrk (Debian's
package; ``make wrk`` installs it); without it the bench says so and stops.
"""

from __future__ import annotations

import argparse
import http.client
import logging
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from document_build import remove_redis_keys, scratch_database_url, setup_django  # noqa: E402
from percentiles import percentile  # noqa: E402
from production_stack import free_port  # noqa: E402

CONFIG = "/api/v1/sdk/config"
# The web role's uvicorn options (deploy/entrypoint.sh); the reference app is given the same.
WEB_OPTIONS = ["--loop", "uvloop", "--http", "httptools", "--log-config", "deploy/logging.json", "--no-access-log"]

# SDKs as wrk connections: each polls, waits ``interval`` ms after its answer (0: at once, a
# closed loop) and, when refused with Retry-After and ``honour`` is 1, waits that long instead (as
# the SDK does: never sooner than its next regular poll). wrk asks for a connection's delay at
# its next request, not right after its answer, so the waits are kept in one queue per thread:
# the same waits, handed out in the order the answers came. At the end: the statuses, the
# Retry-After headers and the latency percentile below which the accepted requests' 99th
# percentile must lie, however the refused ones are spread (all responses' percentile
# 100 - accepted share).
OVERLOAD_LUA = """
counts, retry_after = {}, 0  -- globals: thread:get() reads a thread's globals
local threads = {}
local waits, head, tail = {}, 1, 0
function setup(thread) table.insert(threads, thread) end
function init(args)
  interval, honour = tonumber(args[1]), tonumber(args[2])
  counts = {}; retry_after = 0
end
function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  local wait = interval
  local header = headers["retry-after"] or headers["Retry-After"]
  if header then
    retry_after = retry_after + 1
    if honour == 1 then wait = math.max(interval, (tonumber(header) or 1) * 1000) end
  end
  tail = tail + 1; waits[tail] = wait
end
function delay()
  if head > tail then return interval > 0 and math.random(0, interval) or 0 end  -- first polls: spread
  local wait = waits[head]; waits[head] = nil; head = head + 1
  return wait
end
function done(summary, latency, requests)
  local total = {}
  local with_retry_after = 0
  for _, thread in ipairs(threads) do
    local c = thread:get("counts")
    for status, n in pairs(c) do total[status] = (total[status] or 0) + n end
    with_retry_after = with_retry_after + thread:get("retry_after")
  end
  local all, refused = 0, 0
  for status, n in pairs(total) do
    io.write(string.format("status %d %d\\n", status, n))
    all = all + n
    if status == 503 or status == 429 then refused = refused + n end
  end
  io.write(string.format("retry_after %d\\n", with_retry_after))
  local accepted_share = all > 0 and (all - refused) / all or 1
  io.write(string.format("accepted_p99_bound_us %d\\n", latency:percentile(100 - accepted_share)))
  io.write(string.format("all_p99_us %d\\n", latency:percentile(99)))
end
"""


@dataclass
class WrkResult:
    rps: float
    requests: int
    bad: int  # responses other than 2xx/3xx
    errors: int  # socket errors of any kind
    p99_ms: float
    output: str


def seed(flags: int) -> tuple[str, int]:
    """A project with one environment of ``flags`` flags, published; its SDK key and version."""
    setup_django({})
    logging.disable(logging.INFO)  # the audit log of the seeding
    from controlplane.audit.services import Actor
    from controlplane.documents.services import rebuild
    from controlplane.flags.models import Flag, FlagState
    from controlplane.flags.services import BOOLEAN_VARIANTS
    from controlplane.projects.models import Project
    from controlplane.projects.services import create_project, issue_sdk_key

    Project.objects.filter(key="bench-serving").delete()
    actor = Actor.system("bench")
    project = create_project(actor, key="bench-serving", environments=["production"])
    environment = project.environments.get()
    created = Flag.objects.bulk_create(
        Flag(project=project, key=f"flag-{i:04d}", name=f"Flag {i}", variants=BOOLEAN_VARIANTS, off_variant="off")
        for i in range(flags)
    )
    FlagState.objects.bulk_create(
        FlagState(
            flag=flag,
            environment=environment,
            on=True,
            rules=[
                {
                    "id": f"r{i}",
                    "clauses": [{"attribute": "plan", "op": "in", "values": ["free", "trial"]}],
                    "serve": {"variant": "off"},
                }
            ],
            default_serve={"split": [{"variant": "on", "weight": 50_000}, {"variant": "off", "weight": 50_000}]},
        )
        for i, flag in enumerate(created)
    )
    _, plaintext = issue_sdk_key(environment, actor, "bench")
    document = rebuild(environment.id)
    return plaintext, document.version


def clean_up(environment: dict[str, str]) -> None:
    from controlplane.projects.models import Project

    Project.objects.filter(key="bench-serving").delete()
    remove_redis_keys(environment)


class Server:
    """One uvicorn (master and workers), started through deploy/entrypoint.sh."""

    def __init__(self, name: str, arguments: list[str], environment: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{name}.log"
        # Both servers: the same launcher, the same process attributes (same session and process
        # group as this script: a session of its own is scheduled as a group of its own).
        self.process = subprocess.Popen(
            ["sh", "deploy/entrypoint.sh", *(argument.format(port=self.port) for argument in arguments)],
            cwd=ROOT,
            env={**environment, "HOST": "127.0.0.1", "PORT": str(self.port)},
            stdout=self.log_path.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, key: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_path.read_text()[-2000:]}")
            try:
                if get(self.url + CONFIG, key)[0] in (200, 304):
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not start: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def get(url: str, key: str, **headers: str) -> tuple[int, Message, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def wrk(
    url: str,
    headers: dict[str, str],
    threads: int,
    connections: int,
    duration: float,
    script: str | None = None,
    script_args: tuple[str, ...] | list[str] = (),
) -> WrkResult:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency", "--timeout", "10s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if script:
        command += ["-s", script]
    finished = subprocess.run([*command, url, *(["--", *script_args] if script_args else [])], capture_output=True,
                              text=True)  # fmt: skip
    if finished.returncode:
        raise RuntimeError(f"{shlex.join(command)} failed: {finished.stderr}")
    output = finished.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return WrkResult(
        rps=rps,
        requests=requests,
        bad=int(bad.group(1)) if bad else 0,
        errors=sum(int(n) for n in errors.groups()) if errors else 0,
        p99_ms=_latency_ms(re.search(r"\s99%\s+([\d.]+\w+)", output).group(1)),
        output=output,
    )


def _latency_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="304 runs per server (alternating)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--overload-connections", type=int, default=1024)
    parser.add_argument("--flags", type=int, default=100)
    args = parser.parse_args()

    if shutil.which("wrk") is None:
        print("serving: skipped (wrk is not installed; `make wrk` installs Debian's package)")
        return

    prefix = f"flagplane-bench-serving-{os.getpid()}"
    settings = {
        "DATABASE_URL": scratch_database_url("flagplane_bench_serving"),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "REDIS_PREFIX": prefix,
        "CELERY_QUEUE": prefix,  # builds queued by the seeding reach no other worker
        "DJANGO_SETTINGS_MODULE": "controlplane.settings.base",
    }
    os.environ.update(settings)
    key, version = seed(args.flags)
    workers = os.environ.get("WEB_WORKERS", "2")
    scratch = Path(tempfile.mkdtemp(prefix="flagplane-bench-serving-"))
    environment = {
        **os.environ,
        "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "WEB_WORKERS": workers,
        "PROMETHEUS_MULTIPROC_DIR": str(scratch / "prometheus"),  # as the container image sets it
        # One key polled by every wrk connection: its per-key poll limit is not what is measured.
        "THROTTLE_SDK_POLLS": "100000000/min",
    }
    servers: list[Server] = []
    try:
        product = Server("product", ["web"], environment, scratch)
        servers.append(product)
        product.wait_ready(key)
        reference = Server(
            "reference",
            ["uvicorn", "bench.reference_app:application", "--host", "127.0.0.1", "--port", "{port}",
             "--workers", workers, *WEB_OPTIONS],
            environment,
            scratch,
        )  # fmt: skip
        servers.append(reference)
        reference.wait_ready(key)

        status, headers, _ = get(product.url + CONFIG, key)
        etag = headers["ETag"]
        assert status == 200 and get(product.url + CONFIG, key, **{"If-None-Match": etag})[0] == 304
        assert get(reference.url + CONFIG, key, **{"If-None-Match": etag})[0] == 304
        conditional = {"Authorization": f"Bearer {key}", "If-None-Match": etag}
        print(f"document version {version}, {args.flags} flags; uvicorn --workers {workers}; wrk on 127.0.0.1")

        load = (args.threads, args.connections)
        for server in servers:  # warm up: connections, caches, the first pages of the allocator
            wrk(server.url + CONFIG, conditional, *load, 2)
        runs: dict[str, list[WrkResult]] = {"product": [], "reference": []}
        for round_ in range(args.rounds):
            for server in servers:
                result = wrk(server.url + CONFIG, conditional, *load, args.duration)
                # A few requests shed when this shared machine stalls the server are no reason to stop.
                if result.errors or result.bad > result.requests / 100:
                    raise SystemExit(f"{server.name}: {result.bad} non-304 responses, {result.errors} errors")
                runs[server.name].append(result)
                print(
                    f"round {round_ + 1} {server.name:9} 304: {result.rps:8.0f} req/s  p99 {result.p99_ms:6.1f} ms"
                    f"  (wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s)"
                    + (f"; {result.bad} shed" if result.bad else "")
                )
        product_rps = statistics.median(result.rps for result in runs["product"])
        reference_rps = statistics.median(result.rps for result in runs["reference"])
        ratio = product_rps / reference_rps

        full = wrk(product.url + CONFIG, {"Authorization": f"Bearer {key}", "Accept-Encoding": "gzip"}, *load,
                   args.duration)  # fmt: skip
        gzip_bytes = len(get(product.url + CONFIG, key, **{"Accept-Encoding": "gzip"})[2])
        print(f"product   200: {full.rps:8.0f} req/s  p99 {full.p99_ms:6.1f} ms  (gzip, {gzip_bytes} bytes)")

        overload = overload_phase(product.url + CONFIG, conditional, args, scratch, product_rps)
        sdks, closed = overload["sdks"], overload["closed"]
        p99_ms = statistics.median(r.p99_ms for r in runs["product"])
        print(
            f"summary: 304 product {product_rps:.0f} req/s, reference {reference_rps:.0f} req/s (medians of "
            f"{args.rounds}), ratio {ratio:.2f}"
        )
        print(
            f"serving: config_304_rps={product_rps:.0f} reference_rps={reference_rps:.0f} ratio={ratio:.2f} "
            f"full_document_rps={full.rps:.0f} config_304_p99_ms={p99_ms:.1f} "
            f"overload_shed={'yes' if sdks['shed'] else 'no'} overload_shed_pct={sdks['shed_pct']:.1f} "
            f"overload_accepted_rps={sdks['accepted_rps']:.0f} overload_accepted_p99_ms={sdks['accepted_p99_ms']:.1f} "
            f"closed_loop_shed_pct={closed['shed_pct']:.1f} closed_loop_accepted_rps={closed['accepted_rps']:.0f}"
        )
    finally:
        for server in servers:
            server.stop()
        clean_up(settings)
        shutil.rmtree(scratch, ignore_errors=True)


class Probe:
    """A few SDK-like clients beside the load generator, each on a keep-alive connection, timing
    every request from just before it is sent to the end of its answer. They measure what a
    request meets at the server; wrk's own latencies, on a machine where its threads wait for a
    core with everything else, also count the time wrk took to read an answer."""

    def __init__(self, url: str, headers: dict[str, str], clients: int = 8, every_s: float = 0.02) -> None:
        self.url, self.headers, self.every_s = url, headers, every_s
        self.answers: list[tuple[int, float]] = []  # (status, seconds)
        self.errors = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def __enter__(self) -> Probe:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)

    def _run(self) -> None:
        host, _, port = self.url.split("/")[2].partition(":")
        path = "/" + self.url.split("/", 3)[3]
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        while not self._stop.wait(self.every_s):
            started = time.perf_counter()
            try:
                connection.request("GET", path, headers=self.headers)
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                self.errors += 1
                connection.close()
                continue
            self.answers.append((response.status, time.perf_counter() - started))

    def accepted_p99_ms(self) -> float:
        accepted = [seconds for status, seconds in self.answers if status not in (429, 503)]
        return 1000 * percentile(accepted, 0.99) if accepted else 0.0


def overload_phase(url: str, headers: dict[str, str], args: argparse.Namespace, scratch: Path, rps: float) -> dict:
    """``--overload-connections`` SDKs offering twice ``rps`` (each polls again ``interval`` ms
    after its answer), honouring Retry-After; then the same connections in a closed loop that
    ignores it (each polls again at once: load that no shedding can turn away). Probes time the
    requests meanwhile."""
    script = scratch / "overload.lua"
    script.write_text(OVERLOAD_LUA)
    interval_ms = max(1, round(args.overload_connections * 1000 / (2 * rps)))
    found = {}
    for name, lua_args, what in (
        ("sdks", [str(interval_ms), "1"], f"SDKs polling every {interval_ms} ms (2 x {rps:.0f} req/s)"),
        ("closed", ["0", "0"], "closed loop, Retry-After ignored"),
    ):
        with Probe(url, headers) as probe:
            result = wrk(url, headers, args.threads, args.overload_connections, args.duration, str(script), lua_args)
        counts = {int(status): int(n) for status, n in re.findall(r"^status (\d+) (\d+)$", result.output, re.M)}
        refused = counts.get(503, 0) + counts.get(429, 0)
        with_retry_after = int(re.search(r"^retry_after (\d+)$", result.output, re.M).group(1))
        bound_ms = int(re.search(r"^accepted_p99_bound_us (\d+)$", result.output, re.M).group(1)) / 1000
        total = sum(counts.values())
        probe_refused = sum(1 for status, _ in probe.answers if status in (429, 503))
        found[name] = {
            "shed": refused > 0 and with_retry_after >= refused,
            "shed_pct": 100 * refused / total if total else 0.0,
            "accepted_rps": (total - refused) / args.duration,
            "accepted_p99_ms": probe.accepted_p99_ms(),
        }
        print(
            f"overload  -c{args.overload_connections} {what}: {result.rps:.0f} req/s, "
            + ", ".join(f"{n} x {status}" for status, n in sorted(counts.items()))
            + f" ({found[name]['shed_pct']:.1f}% shed, {with_retry_after} with Retry-After), accepted "
            f"{found[name]['accepted_rps']:.0f} req/s, {result.errors} socket errors; p99 of the accepted "
            f"{found[name]['accepted_p99_ms']:.1f} ms by {len(probe.answers)} probe requests ({probe_refused} "
            f"refused, {probe.errors} errors), <= {bound_ms:.1f} ms as wrk saw them"
        )
    return found


if __name__ == "__main__":
    main()
