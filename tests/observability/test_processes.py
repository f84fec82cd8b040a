"""Metrics and logs of real processes, set up as the container sets them up: a web server with two
worker processes and a Celery worker with a pool of two, each pod's processes writing into one
PROMETHEUS_MULTIPROC_DIR, /metrics behind a token, JSON logs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection

from controlplane.accounts.services import issue_api_token
from controlplane.audit.services import SYSTEM, Actor
from controlplane.flags.services import create_flag
from controlplane.projects.services import create_project, issue_sdk_key
from tests.helpers import ROOT, database_url, free_port, wait_for, wait_for_http
from tests.metrics.helpers import make_batch
from tests.observability.helpers import scrape_url, value

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TOKEN = f"scrape-{uuid.uuid4().hex}"
IN_FLIGHT = 4  # metric batches posted at once, each on a connection of its own


@dataclass
class Process:
    popen: subprocess.Popen
    log: Path
    url: str

    def lines(self) -> list[dict]:
        """Every line the process wrote, each parsed as JSON (a line that is not JSON fails here)."""
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)


@pytest.fixture
def environment(tmp_path) -> dict[str, str]:
    """What the container's settings would be, pointed at the test database, Redis and a queue of its own."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "controlplane.settings.base",
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_QUEUE": f"processes-test-{os.getpid()}",
        "SECRET_KEY": uuid.uuid4().hex,
        "LOG_FORMAT": "json",
        "METRICS_ENDPOINT_TOKEN": TOKEN,
        "METRICS_ENDPOINT_NETWORKS": "",
    }


def start(command: list[str], environment: dict[str, str], directory: Path, url: str) -> Process:
    (directory / "prometheus").mkdir(parents=True)
    log = directory / "output.log"
    with log.open("w") as output:
        popen = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**environment, "PROMETHEUS_MULTIPROC_DIR": str(directory / "prometheus")},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    process = Process(popen, log, url)
    try:
        wait_for_http(f"{url}/metrics", process=popen)
    except RuntimeError:
        process.stop()
        raise
    return process


@pytest.fixture
def web(environment, tmp_path):
    """The container's web role: ``deploy/entrypoint.sh web`` (uvicorn, the edge, Django)."""
    port = free_port()
    process = start(
        ["sh", str(ROOT / "deploy" / "entrypoint.sh"), "web"],
        {**environment, "HOST": "127.0.0.1", "PORT": str(port), "WEB_WORKERS": "2",
         "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"},
        tmp_path / "web", f"http://127.0.0.1:{port}",
    )  # fmt: skip
    yield process
    process.stop()


@pytest.fixture
def worker(environment, tmp_path):
    port = free_port()
    process = start(
        [sys.executable, "-m", "celery", "-A", "controlplane", "--quiet", "worker", "--pool", "prefork",
         "--concurrency", "2", "--without-gossip", "--without-mingle", "-Q", environment["CELERY_QUEUE"]],
        {**environment, "WORKER_METRICS_BIND": f"127.0.0.1:{port}"}, tmp_path / "worker", f"http://127.0.0.1:{port}",
    )  # fmt: skip
    yield process
    process.stop()


@pytest.fixture
def shop(transactional_db):
    """A project with a flag, an SDK key and a write token of alice's, committed for the processes."""
    project = create_project(SYSTEM, key="shop", name="Shop", environments=["production"])
    create_flag(project, SYSTEM, key="new-checkout", name="New checkout")
    alice = get_user_model().objects.create_superuser("alice", "alice@example.com", "correct horse battery")
    _, token = issue_api_token(alice, Actor.for_user(alice), name="ci", scope="write")
    _, sdk_key = issue_sdk_key(project.environments.get(key="production"), SYSTEM, "checkout-service")
    return {"token": token, "sdk_key": sdk_key}


def call(url: str, credential: str, body: dict | None = None, request_id: str = "") -> tuple[int, Message, dict]:
    """(status, headers (case-insensitive, like HTTP), JSON body) of a request to a process."""
    headers = {"Authorization": f"Bearer {credential}", "Content-Type": "application/json"}
    if request_id:
        headers["X-Request-ID"] = request_id
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read() or b"null")


def test_a_scrape_counts_the_requests_of_every_web_process(web, shop):
    sent = 0

    def post_batch(_: int) -> int:
        return call(f"{web.url}/api/v1/metrics", shop["sdk_key"], make_batch())[0]

    def both_processes_answered() -> bool:
        """Post IN_FLIGHT batches at once, so that while one process is busy with some the other accepts.

        Posted one at a time, the process that has just answered is the one awake in its accept loop:
        on a loaded machine it once took 60 in a row."""
        nonlocal sent
        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            assert list(pool.map(post_batch, range(IN_FLIGHT))) == [202] * IN_FLIGHT
        sent += IN_FLIGHT
        return len({line["pid"] for line in web.lines() if line.get("path") == "/api/v1/metrics"}) == 2

    # Rounds a quarter of a second apart stay under THROTTLE_SDK_METRICS (1200/min) for the whole wait.
    wait_for(both_processes_answered, interval=0.25)

    for _ in range(4):  # whichever process answers the scrape, it sums them all
        samples = scrape_url(f"{web.url}/metrics", token=TOKEN)
        assert value(samples, "flagplane_metric_batches_total", outcome="ingested") == sent

    with pytest.raises(urllib.error.HTTPError) as refused:
        scrape_url(f"{web.url}/metrics")
    assert refused.value.code == 403


def test_sdk_requests_streams_and_publications_are_counted(web, worker, shop):
    config = f"{web.url}/api/v1/sdk/config"

    def answered_304_to_its_own_etag() -> bool:
        """A 200, then a 304 to its ETag; False when the worker published a build in between."""
        status, headers, _ = call(config, shop["sdk_key"])
        assert status == 200
        request = urllib.request.Request(
            config, headers={"Authorization": f"Bearer {shop['sdk_key']}", "If-None-Match": headers["ETag"]}
        )
        try:
            urllib.request.urlopen(request, timeout=10)
        except urllib.error.HTTPError as unchanged:
            return unchanged.code == 304
        return False

    wait_for(answered_304_to_its_own_etag)
    assert call(config, "fp_srv_made-up")[0] == 401

    stream = urllib.request.urlopen(
        urllib.request.Request(f"{web.url}/api/v1/sdk/stream", headers={"Authorization": f"Bearer {shop['sdk_key']}"}),
        timeout=10,
    )
    try:
        assert stream.status == 200
        wait_for(lambda: value(scrape_url(f"{web.url}/metrics", token=TOKEN), "flagplane_sdk_connections") == 1)
    finally:
        stream.close()
    wait_for(lambda: value(scrape_url(f"{web.url}/metrics", token=TOKEN), "flagplane_sdk_connections") == 0)
    samples = scrape_url(f"{web.url}/metrics", token=TOKEN)
    for outcome in ("ok", "not_modified", "unauthorized"):
        assert value(samples, "flagplane_sdk_polls_total", outcome=outcome) >= 1, outcome

    def builds_published() -> float:
        return value(
            scrape_url(f"{worker.url}/metrics", token=TOKEN), "flagplane_document_builds_total", outcome="published"
        )

    before = builds_published()
    toggle = f"{web.url}/api/v1/projects/shop/flags/new-checkout/environments/production/toggle"
    assert call(toggle, shop["token"], {"on": True, "reason": "launch"})[0] == 200

    def published() -> bool:
        return builds_published() > before

    wait_for(published, timeout=30)
    samples = scrape_url(f"{worker.url}/metrics", token=TOKEN)
    assert value(samples, "flagplane_document_publication_lag_seconds_count") >= 1
    assert value(samples, "flagplane_document_build_seconds_count") >= 1


def test_a_request_id_follows_a_write_into_the_worker_and_every_line_is_json(web, worker, shop):
    status, _, plan = call(
        f"{web.url}/api/v1/rollouts/",
        shop["token"],
        {"project": "shop", "flag": "new-checkout", "environment": "production", "rules": [],
         "stages": [{"percent": 5, "min_dwell_s": 600}, {"percent": 100, "min_dwell_s": 600}]},
    )  # fmt: skip
    assert status == 201
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    status, headers, _ = call(
        f"{web.url}/api/v1/rollouts/{plan['id']}/start/", shop["token"], {}, request_id=request_id
    )
    assert status == 200 and headers["X-Request-ID"] == request_id

    # The start queued the plan's first evaluation; the worker runs it under the same request id.
    def evaluated() -> list[dict]:
        return [
            line for line in worker.lines()
            if line.get("request_id") == request_id and line.get("task") == "rollouts.evaluate_plan"
        ]  # fmt: skip

    [finished] = wait_for(evaluated, timeout=30)
    assert "succeeded" in finished["message"] and finished["task_id"]

    web_lines = [line for line in web.lines() if line.get("request_id") == request_id]
    [request] = [line for line in web_lines if line["logger"] == "controlplane.request"]
    assert (request["method"], request["status"], request["user"]) == ("POST", 200, "alice")
    audited = [line for line in web_lines if line["logger"] == "controlplane.audit.services"]
    assert {line["action"] for line in audited} >= {"rollout.start"}
    assert all(line["actor"].startswith("token:ci") and line["actor"].endswith("of alice") for line in audited)

    samples = scrape_url(f"{worker.url}/metrics", token=TOKEN)  # the pool processes' numbers, summed
    assert value(samples, "flagplane_rollout_ticks_total", outcome="decided") >= 1
    assert value(samples, "flagplane_rollout_decisions_total", action="hold") >= 1
    assert (
        value(scrape_url(f"{web.url}/metrics", token=TOKEN), "flagplane_rollout_decisions_total", action="start") == 1
    )
