"""The demo service: simulated checkout traffic that goes through the real Flagplane SDK.

Every simulated request is wrapped in ``client.guard(flag, ctx)``, exactly as an application
would do it: the SDK evaluates the flag for the user, the block runs the new code path
(``enabled``) or the old one, and the SDK records a success, or an error when the block raises,
plus the block's wall-clock latency, for the variant that was served. The SDK flushes those
signals to ``POST /api/v1/metrics``, where the rollout engine reads them.

Each path has an error rate and a latency. A request sleeps its simulated latency inside the
guarded block (sleeping costs no CPU, so a few dozen threads make several hundred requests per
second on a small machine) and raises ``SimulatedError`` at the path's error rate.

    client = flagplane.Client(sdk_key, base_url, poll_interval=1.0, metrics_flush_interval=1.0)
    traffic = TrafficGenerator(client, "checkout-v2", Profile.healthy(), rps=500)
    traffic.start()
    ...
    traffic.stop()
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

PLANS = ("free", "free", "free", "pro", "enterprise")
COUNTRIES = ("DE", "FR", "US", "US", "GB", "BR", "JP")


class SimulatedError(Exception):
    """A failed request of the simulated service (raised inside the guard, caught outside)."""


class GuardingClient(Protocol):
    def guard(self, flag_key: str, context: Any, default: bool = False) -> Any: ...


@dataclass(frozen=True)
class Behaviour:
    """How one code path behaves: the share of requests that fail and their typical latency."""

    error_rate: float
    latency_ms: float
    jitter: float = 0.25  # latency varies by up to +/- this fraction

    def __post_init__(self) -> None:
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"error_rate must be in [0, 1], not {self.error_rate}")
        if self.latency_ms < 0 or not 0.0 <= self.jitter < 1.0:
            raise ValueError("latency_ms must be >= 0 and jitter in [0, 1)")

    def latency(self, rng: random.Random) -> float:
        return self.latency_ms * (1.0 + self.jitter * (2.0 * rng.random() - 1.0))

    def describe(self) -> str:
        return f"{self.error_rate:.1%} errors, ~{self.latency_ms:.0f} ms"


@dataclass(frozen=True)
class Profile:
    """The old code path (served to the control variant) and the new one (the treatment)."""

    old: Behaviour
    new: Behaviour
    name: str = "custom"

    @classmethod
    def healthy(cls, error_rate: float = 0.01, latency_ms: float = 40.0) -> Profile:
        """The new checkout is as good as the old one."""
        return cls(old=Behaviour(0.01, 40.0), new=Behaviour(error_rate, latency_ms), name="healthy")

    @classmethod
    def faulty(cls, error_rate: float = 0.08, latency_ms: float = 90.0) -> Profile:
        """The new checkout fails 8% of requests and is slower."""
        return cls(old=Behaviour(0.01, 40.0), new=Behaviour(error_rate, latency_ms), name="faulty")

    def describe(self) -> str:
        return f"old path {self.old.describe()}, new path {self.new.describe()}"


@dataclass
class VariantTotals:
    requests: int = 0
    errors: int = 0
    latency_ms: float = 0.0

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def mean_latency_ms(self) -> float | None:
        return self.latency_ms / self.requests if self.requests else None


@dataclass
class TrafficStats:
    """What the service saw, per path ("new" = flag enabled, "old" = not); thread-safe."""

    totals: dict[str, VariantTotals] = field(default_factory=lambda: {"new": VariantTotals(), "old": VariantTotals()})
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, enabled: bool, ok: bool, latency_ms: float) -> None:
        with self._lock:
            totals = self.totals["new" if enabled else "old"]
            totals.requests += 1
            totals.errors += 0 if ok else 1
            totals.latency_ms += latency_ms

    def snapshot(self) -> dict[str, VariantTotals]:
        with self._lock:
            return {path: VariantTotals(t.requests, t.errors, t.latency_ms) for path, t in self.totals.items()}

    @staticmethod
    def delta(now: dict[str, VariantTotals], before: dict[str, VariantTotals]) -> dict[str, VariantTotals]:
        return {
            path: VariantTotals(
                now[path].requests - before[path].requests,
                now[path].errors - before[path].errors,
                now[path].latency_ms - before[path].latency_ms,
            )
            for path in now
        }


def user_context(rng: random.Random, users: int) -> dict[str, Any]:
    """One of ``users`` distinct simulated users, with a few attributes a real app would send."""
    n = rng.randrange(users)
    return {"key": f"user-{n}", "plan": PLANS[n % len(PLANS)], "country": COUNTRIES[n % len(COUNTRIES)]}


def handle_request(
    client: GuardingClient,
    flag: str,
    context: dict[str, Any],
    profile: Profile,
    rng: random.Random,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[bool, bool, float]:
    """Serve one simulated checkout through ``client.guard``; returns (enabled, ok, latency_ms).

    The guard records the outcome for the variant it served: an error when the simulated code
    path raises ``SimulatedError`` (the guard re-raises it; the caller, like a web framework,
    turns it into a 500), a success otherwise, with the time the block took.
    """
    enabled = False
    latency_ms = 0.0
    try:
        with client.guard(flag, context) as enabled:
            behaviour = profile.new if enabled else profile.old
            latency_ms = behaviour.latency(rng)
            if latency_ms > 0:
                sleep(latency_ms / 1000.0)
            if rng.random() < behaviour.error_rate:
                raise SimulatedError(f"{'new' if enabled else 'old'} checkout failed")
    except SimulatedError:
        return bool(enabled), False, latency_ms
    return bool(enabled), True, latency_ms


class TrafficGenerator:
    """``threads`` workers that together make about ``rps`` guarded requests per second.

    Each worker paces itself (one request every ``threads / rps`` seconds, the simulated latency
    included), so the rate stays steady as long as a request takes less than that interval.
    """

    def __init__(
        self,
        client: GuardingClient,
        flag: str,
        profile: Profile,
        *,
        rps: float = 500.0,
        threads: int = 32,
        users: int = 5000,
        seed: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rps <= 0 or threads <= 0 or users <= 0:
            raise ValueError("rps, threads and users must be positive")
        self.client = client
        self.flag = flag
        self.profile = profile
        self.rps = rps
        self.threads = threads
        self.users = users
        self.seed = seed if seed is not None else random.randrange(2**32)
        self.stats = TrafficStats()
        self._sleep = sleep
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self.failures: list[BaseException] = []

    def run_requests(self, count: int, rng: random.Random | None = None) -> TrafficStats:
        """Serve ``count`` requests in this thread, without pacing (tests, warm-up)."""
        rng = rng or random.Random(self.seed)
        for _ in range(count):
            self._one(rng)
        return self.stats

    def _one(self, rng: random.Random) -> None:
        context = user_context(rng, self.users)
        enabled, ok, latency_ms = handle_request(self.client, self.flag, context, self.profile, rng, self._sleep)
        self.stats.add(enabled, ok, latency_ms)

    def start(self) -> None:
        if self._workers:
            raise RuntimeError("already started")
        self._stop.clear()
        for index in range(self.threads):
            worker = threading.Thread(target=self._work, args=(index,), name=f"demo-traffic-{index}", daemon=True)
            self._workers.append(worker)
            worker.start()

    def _work(self, index: int) -> None:
        rng = random.Random(self.seed * 1000 + index)
        interval = self.threads / self.rps
        next_at = time.monotonic() + rng.random() * interval  # spread the workers out
        try:
            while not self._stop.wait(max(0.0, next_at - time.monotonic())):
                self._one(rng)
                next_at += interval
                now = time.monotonic()
                if next_at < now - 1.0:  # fell far behind (a loaded machine): do not burst to catch up
                    next_at = now
        except BaseException as exc:  # a bug in the demo: keep it for the orchestrator to report
            self.failures.append(exc)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every worker (each finishes its current request) and wait for them."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        self._workers = [worker for worker in self._workers if worker.is_alive()]

    @property
    def running(self) -> bool:
        return any(worker.is_alive() for worker in self._workers)
