"""`make demo` (healthy) and `make demo FAULTY=1`: a guarded rollout, live, in about three minutes.

1. Seeds the demo project (``manage.py seed_demo``; its last line has the credentials, the same
   ones every run).
2. Starts the control plane from deploy/Procfile (uvicorn, a Celery worker, Celery beat) in its
   own process group, with demo-friendly settings: the engine ticks every 2 s, metrics are
   bucketed per second.
3. Creates a fresh flag (``checkout-v2-<timestamp>``) and a rollout plan for it through the REST
   API: 1% -> 5% -> 25% -> 50% -> 100%, one rule "error rate no worse than control + 2 pp"
   (rollback), and starts it.
4. Runs the demo service (demo/service.py): simulated users whose requests go through the real
   SDK's ``client.guard()``; the new checkout fails at 1% like the old one, or at 8% and slower
   with FAULTY=1.
5. Prints every decision of the rollout engine as it happens, with its reason, and a traffic line
   every 10 s; ends with the outcome and its numbers, then turns the flag off and archives it.

Exit status: 0 when the rollout ends as expected (completed when healthy, rolled back when
faulty), 1 when it ends otherwise, 2 when the demo cannot start, 3 after the timeout, 130 on
Ctrl-C. Ctrl-C (or SIGTERM) cancels the demo's plan and stops every process it started.

Settings (environment or flags): FAULTY=1 / --faulty, DEMO_PORT (8000), DEMO_RPS (800),
DEMO_TIMEOUT_S (360). ``--no-stack --base-url URL`` uses a control plane that already runs
(with ROLLOUTS_TICK_SECONDS and METRICS_BUCKET_SECONDS set low, or the stages will take longer).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python demo/run_demo.py` as well as `python -m demo.run_demo`
    sys.path.insert(0, str(ROOT))

import flagplane  # noqa: E402
from demo.service import Profile, TrafficGenerator, TrafficStats, VariantTotals  # noqa: E402

PROJECT = "demo"
ENVIRONMENT = "production"
STAGES = [  # percent, seconds: about two and a half minutes when healthy
    (1, 30),
    (5, 25),
    (25, 25),
    (50, 25),
    (100, 15),
]
TOLERANCE = 0.02  # 2 percentage points
MIN_SAMPLES = 200
STACK_ENV = {
    "ROLLOUTS_TICK_SECONDS": "2",
    "METRICS_BUCKET_SECONDS": "1",
    "WEB_WORKERS": "2",
    "WORKER_CONCURRENCY": "2",
    "PYTHONUNBUFFERED": "1",
}  # plus CELERY_QUEUE=flagplane-demo-<port>: other stacks' workers on this Redis do not take our tasks
TRAFFIC_EVERY_S = 10.0


class DemoError(Exception):
    """The demo cannot go on (exit status 2)."""


class Interrupted(Exception):
    """Ctrl-C, SIGTERM or SIGHUP."""


# ----------------------------------------------------------------------------------------------
# Output


class Printer:
    """One line per event: wall clock, seconds since the rollout started, the message."""

    def __init__(self) -> None:
        self.started: float | None = None

    def __call__(self, message: str = "", *, mark: str = " ") -> None:
        clock = datetime.now().strftime("%H:%M:%S")
        since = f"t+{time.monotonic() - self.started:4.0f}s" if self.started is not None else " " * 7
        print(f"{clock} {since} {mark} {message}", flush=True)


say = Printer()


def pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


# ----------------------------------------------------------------------------------------------
# REST API


class Api:
    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        timeout: float = 10.0,
        headers: dict[str, str] | None = None,
    ) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.base_url}/api/v1/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:2000]
            raise DemoError(f"{method} /api/v1/{path} answered {exc.code}: {detail}") from exc
        except OSError as exc:  # refused, reset, timed out
            raise DemoError(f"{method} /api/v1/{path} failed: {exc}") from exc
        return json.loads(payload) if payload else None

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.call("POST", path, body)


# ----------------------------------------------------------------------------------------------
# The control plane's processes


def check_port_free(port: int) -> None:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise DemoError(
                f"Port {port} is already in use (another `make run` or `make demo`?). Stop it, or pick another "
                f"port: make demo DEMO_PORT=8001"
            )
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise DemoError(f"Cannot listen on 127.0.0.1:{port}: {exc}. Pick another port: DEMO_PORT=8001") from exc


def seed(python: str) -> dict[str, str]:
    """Run seed_demo (idempotent; the same credentials each time) and parse its last line."""
    result = subprocess.run(
        [python, "manage.py", "seed_demo"], cwd=ROOT, capture_output=True, text=True, check=False, timeout=120
    )
    if result.returncode != 0:
        raise DemoError(f"manage.py seed_demo failed:\n{result.stdout}{result.stderr}")
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    try:
        credentials = json.loads(lines[-1])
        if not (credentials["api_token"] and credentials["sdk_key"]):
            raise ValueError("empty credentials")
    except (IndexError, ValueError, KeyError) as exc:
        raise DemoError(f"Unexpected output of seed_demo: {result.stdout!r}") from exc
    return credentials


class Stack:
    """`honcho -f deploy/Procfile start` in a session of its own; honcho starts each process (web,
    worker, beat) in its own process group and stops them on SIGTERM. ``stop()`` also kills any
    group honcho leaves behind."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.groups: set[int] = set()

    def start(self) -> None:
        env = {
            **os.environ,
            **STACK_ENV,
            "BIND": f"127.0.0.1:{self.port}",
            "CELERY_QUEUE": f"flagplane-demo-{self.port}",
        }
        honcho = ROOT / ".venv" / "bin" / "honcho"
        if not honcho.exists():
            raise DemoError(f"{honcho} is missing: run `make setup`.")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [str(honcho), "-f", "deploy/Procfile", "start"],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us only; we stop it in order
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def remember_groups(self) -> None:
        """The process groups of honcho's descendants: honcho runs each Procfile line in a session
        (and process group) of its own."""
        if not self.alive():
            return
        assert self.process is not None
        for pid in _descendants(self.process.pid):
            with contextlib.suppress(ProcessLookupError):
                group = os.getpgid(pid)
                if group != self.process.pid:
                    self.groups.add(group)

    def log_tail(self, lines: int = 25) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def wait_until_serving(self, api: Api, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise DemoError(f"The control plane exited during startup. Last lines of {self.log_path}:\n"
                                f"{self.log_tail()}")  # fmt: skip
            self.remember_groups()
            with contextlib.suppress(OSError, DemoError, ValueError):
                api.get(f"projects/{PROJECT}/")
                if len(self.groups) >= 3:
                    return
            time.sleep(0.5)
        raise DemoError(f"The control plane did not answer within {timeout:.0f} s. See {self.log_path}:\n"
                        f"{self.log_tail()}")  # fmt: skip

    def stop(self, timeout: float = 15.0) -> list[str]:
        """SIGTERM to honcho (it stops its processes, SIGKILL after 5 s), then make sure."""
        problems: list[str] = []
        self.remember_groups()
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                problems.append("honcho did not stop; killed it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        for group in sorted(self.groups):  # e.g. Celery's warm shutdown, still finishing after its shell exited
            for sig in (None, signal.SIGTERM, signal.SIGKILL):
                if sig is not None and _group_exists(group):
                    problems.append(f"process group {group} still ran 10 s after honcho stopped; sent {sig.name}")
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(group, sig)
                for _ in range(100):
                    if not _group_exists(group):
                        break
                    time.sleep(0.1)
        return problems


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = stat.read_text()
            ppid = int(text[text.rindex(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(stat.parent.name))
    found, queue = [], [root]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def _group_exists(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ----------------------------------------------------------------------------------------------
# The rollout


def flag_body(flag: str) -> dict[str, Any]:
    return {
        "key": flag,
        "name": "Checkout v2",
        "description": "The new checkout, rolled out by `make demo`.",
        "tags": ["demo", "checkout"],
        "owner": "checkout-team",
        "reason": "make demo",
    }


def plan_body(flag: str, faulty: bool, project: str = PROJECT) -> dict[str, Any]:
    return {
        "project": project,
        "flag": flag,
        "environment": ENVIRONMENT,
        "name": f"Roll out {flag} ({'faulty' if faulty else 'healthy'} demo)",
        "description": "Created by `make demo`.",
        "advance_mode": "time",
        "starvation_timeout_s": 120,
        "stages": [{"percent": percent, "min_dwell_s": dwell, "needs_approval": False} for percent, dwell in STAGES],
        "rules": [
            {
                "key": "errors",
                "name": "Error rate no worse than control + 2 pp",
                "metric": "error_rate",
                "comparison": "vs_control_absolute",
                "threshold": TOLERANCE,
                "min_samples": MIN_SAMPLES,
                "severity": "rollback",
            }
        ],
        "reason": "make demo",
    }


ACTION_MARKS = {"start": ">", "advance": ">", "complete": "*", "rollback": "!", "pause": "!", "cancel": "x"}


def _shape(text: str) -> str:
    """A reason without its numbers: holds are printed again only when this changes."""
    return re.sub(r"[-+]?\d[\d.,]*", "#", text)


def _rate(outcome: dict[str, Any], arm: str) -> float | None:
    value = outcome.get(f"{arm}_value")
    if value is None and outcome.get(f"{arm}_n"):
        value = outcome.get(f"{arm}_events", 0) / outcome[f"{arm}_n"]
    return value


def rule_line(outcome: dict[str, Any]) -> str:
    """One rule's latest verdict with the numbers behind it."""
    verdict = outcome.get("verdict", "?")
    treatment = f"{outcome.get('treatment_events', 0)}/{outcome.get('treatment_n', 0)}"
    control = f"{outcome.get('control_events', 0)}/{outcome.get('control_n', 0)}"
    text = f"rule {outcome.get('rule_id')}: {verdict}; new {treatment} errors ({pct(_rate(outcome, 'treatment'), 2)})"
    text += f" vs old {control} ({pct(_rate(outcome, 'control'), 2)})"
    lower, upper = outcome.get("lower"), outcome.get("upper")
    if lower is not None and upper is not None:
        text += f", difference 95% bounds [{lower * 100:+.2f}, {upper * 100:+.2f}] pp"
    return text


class DecisionLog:
    """Prints the plan's decision log as it grows: every new entry, and a hold again when its
    reason changes in words (not just in numbers) or it waits on something else."""

    def __init__(self, api: Api, plan_id: int) -> None:
        self.api = api
        self.plan_id = plan_id
        self.printed: dict[int, tuple[str, str]] = {}
        self.latest: dict[str, Any] | None = None

    def poll(self) -> None:
        page = self.api.get(f"rollouts/{self.plan_id}/decisions/?limit=50")
        entries = page["results"] if isinstance(page, dict) else page
        for entry in sorted(entries, key=lambda e: (e["at"], e["id"])):
            self.latest = entry
            key = (entry.get("waiting_on") or "", _shape(entry.get("reason") or ""))
            if self.printed.get(entry["id"]) == key:
                continue
            self.printed[entry["id"]] = key
            self.show(entry)

    def show(self, entry: dict[str, Any]) -> None:
        action = entry["action"]
        label = action.upper().replace("_", " ")
        if action == "hold":
            label = f"HOLD ({entry.get('waiting_on') or '-'})"
        say(f"{label:<20} {entry['reason']}", mark=ACTION_MARKS.get(action, " "))
        if action != "hold" or entry.get("waiting_on") == "min_samples":
            for outcome in entry.get("outcomes") or []:
                say(f"{'':<20} {rule_line(outcome)}")

    def latest_rules(self) -> str:
        if not self.latest:
            return ""
        return "; ".join(rule_line(o) for o in self.latest.get("outcomes") or [])


def traffic_line(stats: dict[str, VariantTotals], seconds: float) -> str:
    new, old = stats["new"], stats["old"]
    total = new.requests + old.requests
    share = new.requests / total if total else 0.0

    def part(name: str, t: VariantTotals) -> str:
        latency = f", {t.mean_latency_ms:.0f} ms" if t.mean_latency_ms is not None else ""
        return f"{name} {t.requests:>5} req {t.errors:>4} err ({pct(t.error_rate)}{latency})"

    return (
        f"traffic last {seconds:.0f}s: {total / seconds:4.0f} req/s, new path {pct(share)} | "
        f"{part('new', new)} | {part('old', old)}"
    )


def interrupt_on_signals() -> None:
    """SIGINT (Ctrl-C), SIGTERM and SIGHUP interrupt the demo."""

    def interrupt(signum: int, frame: Any) -> None:
        raise Interrupted(signal.Signals(signum).name)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)


def finish_cleanup_on_signals() -> None:
    """While cleaning up, a second Ctrl-C must not leave processes behind: it only says so."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: say("(still stopping everything, please wait)"))


# ----------------------------------------------------------------------------------------------
# Main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faulty", action="store_true", default=os.environ.get("FAULTY", "") not in ("", "0"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT") or 8000))
    parser.add_argument("--rps", type=float, default=float(os.environ.get("DEMO_RPS") or 800))
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("DEMO_TIMEOUT_S") or 360))
    parser.add_argument("--no-stack", action="store_true", help="use a control plane that is already running")
    parser.add_argument("--base-url", default="", help="with --no-stack (default http://127.0.0.1:PORT)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    profile = Profile.faulty() if args.faulty else Profile.healthy()
    expected = "rolled_back" if args.faulty else "completed"
    base_url = args.base_url or f"http://127.0.0.1:{args.port}"
    stack: Stack | None = None
    client: flagplane.Client | None = None
    traffic: TrafficGenerator | None = None
    api: Api | None = None
    plan: dict[str, Any] | None = None
    created_flag = ""
    result = Result(1, "RESULT: the demo stopped unexpectedly (see above).", "!")
    interrupt_on_signals()
    try:
        say(f"Flagplane demo: a guarded rollout, {profile.name} variant ({profile.describe()})")
        if not args.no_stack:
            check_port_free(args.port)
        credentials = seed(sys.executable)
        password = credentials["admin_password"] or "(the password you set)"
        say(f"Seeded project {PROJECT!r}; admin login: {credentials['admin_user']} / {password}")
        api = Api(base_url, credentials["api_token"])
        if not args.no_stack:
            log_path = Path(tempfile.gettempdir()) / f"flagplane-demo-{args.port}.log"
            stack = Stack(args.port, log_path)
            say(f"Starting the control plane (uvicorn, Celery worker, Celery beat; engine tick 2 s) "
                f"on {base_url}; logs: {log_path}")  # fmt: skip
            stack.start()
            stack.wait_until_serving(api)
            say("Control plane is up.")

        flag = f"checkout-v2-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        api.post(f"projects/{PROJECT}/flags/", flag_body(flag))
        created_flag = flag
        say(f"Created flag {flag!r} in project {PROJECT!r} (off in {ENVIRONMENT}).")

        client = flagplane.Client(
            credentials["sdk_key"],
            base_url=base_url,
            poll_interval=1.0,
            metrics_flush_interval=1.0,
            request_timeout=3.0,
        )
        deadline = time.monotonic() + 60
        sdk_logger = logging.getLogger("flagplane")
        sdk_logger.setLevel(logging.ERROR)  # "unknown flag" is expected until the document is rebuilt
        while client.evaluate(flag, "probe").reason in ("NOT_READY", "FLAG_NOT_FOUND"):
            if time.monotonic() > deadline:
                raise DemoError(f"The SDK did not receive {flag!r} within 60 s (is the Celery worker running?); "
                                f"client status: {client.status()}")  # fmt: skip
            if stack is not None and not stack.alive():
                raise DemoError(f"The control plane stopped. Last lines of its log:\n{stack.log_tail()}")
            time.sleep(0.25)
        sdk_logger.setLevel(logging.NOTSET)
        traffic = TrafficGenerator(client, flag, profile, rps=args.rps, threads=args.threads, users=args.users)
        traffic.start()
        say(f"Demo service: {args.users} users, about {args.rps:.0f} requests/s through client.guard({flag!r}); "
            f"{profile.describe()}.")  # fmt: skip

        plan = api.post("rollouts/", plan_body(flag, args.faulty))
        stages = " -> ".join(f"{p}% ({d} s)" for p, d in STAGES)
        say(f"Rollout plan #{plan['id']}: {stages}; rule: error rate no worse than control + "
            f"{TOLERANCE * 100:.0f} pp (min {MIN_SAMPLES} requests per arm), rollback.")  # fmt: skip
        say(f"Admin (plan page): {base_url}/admin/rollouts/rolloutplan/{plan['id']}/change/")
        time.sleep(2.0)  # some traffic before the start
        plan = api.post(f"rollouts/{plan['id']}/start/", {"reason": "make demo"})
        say.started = time.monotonic()
        result = watch(api, plan["id"], traffic, stack, expected, args.timeout)
        plan = api.get(f"rollouts/{plan['id']}/")
    except Interrupted as exc:
        say(f"Interrupted ({exc}); stopping everything.")
        result = Result(130, "RESULT: interrupted; everything the demo started is stopped.", "x")
    except DemoError as exc:
        say(f"ERROR: {exc}")
        result = Result(2, "RESULT: the demo could not run (see the error above).", "!")
    finally:
        finish_cleanup_on_signals()
        if traffic is not None:
            traffic.stop()
        if client is not None:
            client.close()
        if api is not None and plan is not None and plan.get("status") in ("running", "paused", "draft"):
            with contextlib.suppress(Exception):
                api.post(f"rollouts/{plan['id']}/cancel/", {"reason": "make demo stopped before the end"})
                say(f"Cancelled plan #{plan['id']} (the demo stopped before the end).")
        if api is not None and created_flag:
            retire_flag(api, created_flag)
        if stack is not None:
            say("Stopping the control plane ...")
            for problem in stack.stop():
                say(f"  {problem}")
            say("Stopped: web, worker and beat.")
        say(result.line, mark=result.mark)
    return result.code


def retire_flag(api: Api, flag: str) -> None:
    """Turn the demo's flag off in production and archive it: no run leaves a flag serving anyone.

    Its plan, decisions and audit entries stay (the admin shows archived flags too).
    """
    reason = "make demo finished"
    try:
        api.post(f"projects/{PROJECT}/flags/{flag}/environments/{ENVIRONMENT}/toggle", {"on": False, "reason": reason})
        api.call("DELETE", f"projects/{PROJECT}/flags/{flag}/", headers={"X-Flagplane-Reason": reason})
    except DemoError as exc:
        say(f"Could not turn {flag!r} off and archive it: {exc}")
    else:
        say(f"Turned {flag!r} off in {ENVIRONMENT} and archived it (its plan and decision log stay in the admin).")


@dataclass(frozen=True)
class Result:
    """The exit status and the demo's last line."""

    code: int
    line: str
    mark: str = "*"


def watch(
    api: Api, plan_id: int, traffic: TrafficGenerator, stack: Stack | None, expected: str, timeout: float
) -> Result:
    """Print decisions and traffic until the plan ends."""
    log = DecisionLog(api, plan_id)
    started = time.monotonic()
    last_traffic = started
    before = traffic.stats.snapshot()
    at_start = before
    failures = 0
    while True:
        time.sleep(1.0)
        if stack is not None and not stack.alive():
            raise DemoError(f"The control plane stopped. Last lines of its log:\n{stack.log_tail()}")
        if traffic.failures:
            raise DemoError(f"The demo service failed: {traffic.failures[0]!r}")
        try:
            log.poll()
            plan = api.get(f"rollouts/{plan_id}/")
            failures = 0
        except DemoError as exc:  # one slow answer on a loaded machine is no reason to stop the demo
            failures += 1
            if failures >= 10:
                raise
            say(f"(the control plane did not answer: {exc}; retrying)")
            continue
        now = time.monotonic()
        if now - last_traffic >= TRAFFIC_EVERY_S:
            current = traffic.stats.snapshot()
            say(traffic_line(TrafficStats.delta(current, before), now - last_traffic), mark="~")
            before, last_traffic = current, now
        status = plan["status"]
        if status in ("completed", "rolled_back", "paused", "cancelled"):
            log.poll()
            return finish(api, plan, log, traffic, at_start, expected, now - started)
        if now - started > timeout:
            return Result(
                3,
                f"RESULT: TIMEOUT after {timeout:.0f} s: plan #{plan_id} is {status} at stage {plan['stage']} "
                f"({plan['percent']:g}%): {plan.get('status_reason') or log.latest_rules()}",
                "!",
            )


def finish(
    api: Api,
    plan: dict[str, Any],
    log: DecisionLog,
    traffic: TrafficGenerator,
    at_start: dict[str, VariantTotals],
    expected: str,
    elapsed: float,
) -> Result:
    status = plan["status"]
    seen = TrafficStats.delta(traffic.stats.snapshot(), at_start)
    say(
        f"demo service since the start: new path {seen['new'].requests} requests, {seen['new'].errors} errors "
        f"({pct(seen['new'].error_rate, 2)}); old path {seen['old'].requests} requests, {seen['old'].errors} "
        f"errors ({pct(seen['old'].error_rate, 2)})",
        mark="~",
    )
    with contextlib.suppress(DemoError, OSError, KeyError, TypeError):
        metrics = api.get(f"rollouts/{plan['id']}/metrics/")
        t, c = metrics["treatment"], metrics["control"]
        say(
            f"control plane's metrics for this run: treatment '{t['variant']}' {t['requests']} requests, "
            f"{t['errors']} errors ({pct(t['error_rate'], 2)}); control '{c['variant']}' {c['requests']} requests, "
            f"{c['errors']} errors ({pct(c['error_rate'], 2)})",
            mark="~",
        )
    minutes, seconds = divmod(round(elapsed), 60)
    words = {
        "completed": "COMPLETED",
        "rolled_back": "ROLLED BACK automatically",
        "paused": "PAUSED",
        "cancelled": "CANCELLED",
    }[status]
    verdict = "as expected" if status == expected else f"NOT as expected (expected {expected.replace('_', ' ')})"
    line = f"RESULT: {words} after {minutes} min {seconds:02d} s, {verdict}: {plan.get('status_reason', '')}"
    if status != "rolled_back" and log.latest_rules():  # a rollback's reason has the numbers already
        line += f" Numbers: {log.latest_rules()}."
    return Result(0 if status == expected else 1, line, "*" if status == expected else "!")


if __name__ == "__main__":
    sys.exit(main())
