"""Helpers for rollout tests: define plans and act on them through the API, report SDK health
signals, read what is served; counts spread over unit groups as SDKs of wire format 2 report them."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

from controlplane.documents import assembly
from controlplane.metrics import services
from controlplane.rollouts import clock
from controlplane.rollouts.models import RolloutPlan
from controlplane.rollouts.observations import ArmCounts
from controlplane.rollouts.services import evaluate
from flagplane.metrics import LATENCY_BOUNDS_MS, UNIT_GROUPS
from tests.documents.helpers import published_document


def _spread(count: int, groups: int) -> list[int]:
    base, extra = divmod(count, groups)
    return [base + (1 if g < extra else 0) for g in range(groups)]


def grouped(total: int, events: int = 0, histogram: tuple[int, ...] = (), groups: int = UNIT_GROUPS) -> ArmCounts:
    """An arm whose trials (and events, and latencies) come from many units, evenly over the groups:
    what independent requests from a large population look like."""
    trials = _spread(total, groups)
    bad = _spread(events, groups)
    per_bucket = [_spread(count, groups) for count in histogram]
    return ArmCounts(
        total=total,
        events=events,
        histogram=histogram,
        groups=tuple(zip(trials, bad, strict=True)),
        group_histograms=tuple(tuple(bucket[g] for bucket in per_bucket) for g in range(groups)) if histogram else (),
    )


def report_units(
    sdk, groups_by_variant: dict[str, dict[int, tuple[int, int]]], flag: str = "new-checkout", ago_s: float = 0.0
) -> None:
    """Post one wire-format-2 batch (``units_batch``), its period ``ago_s`` ago."""
    batch = units_batch(groups_by_variant, datetime.now(UTC) - timedelta(seconds=ago_s), flag)
    response = sdk.post("/api/v1/metrics", batch, format="json")
    assert response.status_code == 202, response.content


def units_batch(
    groups_by_variant: dict[str, dict[int, tuple[int, int]]], end: datetime, flag: str = "new-checkout"
) -> dict:
    """A wire-format-2 batch: {variant: {unit group: (requests, errors)}}, every request
    split-served with a latency of 80 ms (totals are the groups' sums), its period ending at ``end``."""
    now = end.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    fast = LATENCY_BOUNDS_MS.index(100)
    entries = []
    for variant, groups in groups_by_variant.items():
        order = sorted(groups)
        total = sum(n for n, _ in groups.values())
        errors = sum(e for _, e in groups.values())
        entries.append(
            {
                "flag": flag,
                "variant": variant,
                "evaluations": total,
                "successes": total - errors,
                "errors": errors,
                "latency_ms": {
                    "bounds": list(LATENCY_BOUNDS_MS),
                    "counts": [total if i == fast else 0 for i in range(len(LATENCY_BOUNDS_MS) + 1)],
                    "sum": 80.0 * total,
                },
                "units": {
                    "groups": UNIT_GROUPS,
                    "group": order,
                    "successes": [groups[g][0] - groups[g][1] for g in order],
                    "errors": [groups[g][1] for g in order],
                    "latency_counts": [
                        [groups[g][0] if i == fast else 0 for i in range(len(LATENCY_BOUNDS_MS) + 1)] for g in order
                    ],
                },
            }
        )
    return {
        "format": 2,
        "sdk": {"name": "test", "version": "0"},
        "batch_id": uuid.uuid4().hex,
        "document_version": None,
        "period": {"start": now, "end": now},
        "flags": entries,
        "dropped": 0,
    }


def everywhere(requests: int, errors: int) -> dict[int, tuple[int, int]]:
    """The same (requests, errors) in every unit group: traffic from many healthy units."""
    return dict.fromkeys(range(UNIT_GROUPS), (requests, errors))


ERROR_RULE = {
    "key": "errors",
    "metric": "error_rate",
    "comparison": "vs_control_absolute",
    "threshold": 0.02,
    "min_samples": 100,
    "severity": "rollback",
}


def create_plan(api, stages, rules=(ERROR_RULE,), **extra) -> dict:
    body = {
        "project": "shop",
        "flag": "new-checkout",
        "environment": "production",
        "stages": list(stages),
        "rules": list(rules),
        "starvation_timeout_s": 600,
        **extra,
    }
    response = api.post("/api/v1/rollouts/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def act(api, plan_id: int, action: str, **body) -> dict:
    response = api.post(f"/api/v1/rollouts/{plan_id}/{action}/", body, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def report(sdk, requests: dict[str, tuple[int, int]], at: float | None = None) -> None:
    """Post one SDK metrics batch (``batch_of``) for a period ending now (or at the Unix time ``at``)."""
    response = sdk.post("/api/v1/metrics", batch_of(requests, at if at is not None else time.time()), format="json")
    assert response.status_code == 202, response.content


def report_on_time(environment_id: int, requests: dict[str, tuple[int, int]], at: float) -> None:
    """Count a batch (``batch_of``) whose period ended at the Unix time ``at`` as if it had arrived
    then (an on-time batch, whatever the real clock says)."""
    services.ingest_batch(environment_id, batch_of(requests, at), now=datetime.fromtimestamp(at, tz=UTC))


def batch_of(requests: dict[str, tuple[int, int]], at: float) -> dict:
    """One SDK metrics batch: {variant: (requests, errors)} for new-checkout, its period ending at
    the Unix time ``at``."""
    now = datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "sdk": {"name": "test", "version": "0"},
        "batch_id": uuid.uuid4().hex,
        "document_version": None,
        "period": {"start": now, "end": now},
        "flags": [
            {
                "flag": "new-checkout",
                "variant": variant,
                "evaluations": total,
                "successes": total - errors,
                "errors": errors,
                "latency_ms": {
                    "bounds": [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
                    "counts": [0] * 6 + [total] + [0] * 7,
                    "sum": 80.0 * total,
                },
            }
            for variant, (total, errors) in requests.items()
        ],
        "dropped": 0,
    }


def plan_status(plan_id: int) -> RolloutPlan:
    return RolloutPlan.objects.get(pk=plan_id)


def served_split(flag) -> list[dict]:
    """The split SDKs in production get for the flag's fallthrough ([{}] while it serves one variant)."""
    environment_id = flag.states.get(environment__key="production").environment_id
    if assembly.assemble(environment_id) is None:
        return [{}]  # not published yet: the worker has not built the first document
    return published_document(environment_id)["flags"][flag.key]["default"].get("split", [{}])


class EngineClock:
    """The engine's clock, set by ``ago`` to that many seconds before the real time the test began at."""

    def __init__(self, monkeypatch) -> None:
        self.real = time.time()
        self.monkeypatch = monkeypatch

    def ago(self, seconds: float) -> float:
        self.monkeypatch.setattr(clock, "now", lambda: self.real - seconds)
        return self.real - seconds


LONG_STAGES = [
    {"percent": 1, "min_dwell_s": 3600},
    {"percent": 5, "min_dwell_s": 3600},
    {"percent": 50, "min_dwell_s": 3600},
]
HEALTHY = {"on": (300, 3), "off": (3000, 30)}


def plan_evaluated_at_stage_2(api, environment_id: int, engine: EngineClock) -> int:
    """A plan of hour-long stages, started 15 minutes ago, promoted 10 minutes ago, reported on
    healthily in both stages and evaluated 5 minutes ago: stage 1 is stored as closed, stage 2 has
    running counts."""
    plan_id = create_plan(api, LONG_STAGES, rules=[ERROR_RULE])["id"]
    engine.ago(900)
    act(api, plan_id, "start")
    report_on_time(environment_id, HEALTHY, at=engine.real - 880)
    engine.ago(600)
    act(api, plan_id, "promote")
    report_on_time(environment_id, HEALTHY, at=engine.real - 580)
    engine.ago(300)
    evaluate(plan_id)
    return plan_id
