"""The rollout engine at three sizes: plans a worker machine evaluates per second, queries per evaluate.

Each size adds plans to a scratch database (``bench/scale.py``'s), each its own flag, running at
stage 3 of 4 (two stages closed, the third dwelling for hours: every tick is a hold, and what the engine
stores of stages' counts is stored, as after its first tick of the plan), with two SDK
health rules (error rate and p95 latency against control) and 45 minutes of SDK health signals in
unit groups, one batch a minute per variant. Then:

- one batch of plans (``rollouts.evaluate_plans``, ``tasks.BATCH`` plans) in this process: queries and
  milliseconds per plan, the batch's shared reads included (BEGIN and COMMIT counted), what the
  process held before frozen out of the garbage collector's sight as a worker's pool process does;
- one tick (``rollouts.tick``) with a real worker (``celery worker``, prefork, concurrency 2, as a
  worker machine runs it): plans evaluated per second until every plan is done (or ``--seconds``);
- a second tick while the first one's work is still queued or running: what it queues again.

``engine_plans_per_worker`` is the plans per second at the largest size times the 15-s tick: the
active plans one worker machine keeps up with.

Usage: ``.venv/bin/python bench/scale_engine.py [--sizes 500,2000,5000] [--seconds 90]
[--instances 64 [--folded]]`` (``--instances``: each series reported by that many SDK instances, a
unit row each a bucket, the same totals; ``--folded``: those rows folded by ``metrics.compact``; at 500
plans, load 1.0-1.3, 64 unfolded read the batch's whole runs in 14.5 s against 0.22 s for one)
(or ``bench/scale.py --only engine``).
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TICK_S = 15.0
MINUTES = 45
"""The run's age: stages 1 and 2 lasted 15 minutes each, stage 3 began 15 minutes ago."""
STAGES = [(1, 900), (5, 900), (25, 14_400), (100, 3600)]
SIGNALS_PER_GROUP = 100
"""Requests a minute per unit group, over both arms (6,400 a minute per flag)."""
RULES = [
    {"key": "errors", "metric": "error_rate", "comparison": "vs_control_absolute", "threshold": 0.01},
    {"key": "p95", "metric": "latency_p", "comparison": "vs_control_absolute", "threshold": 50, "percentile": 0.95},
]


def fill(project, environment, start: int, end: int, instances: int = 1, folded: bool = False) -> None:
    """Plans ``start..end-1`` with their flags, stages, rules and SDK health signals (``fill_signals``)."""
    from controlplane.flags.models import Flag, FlagState
    from controlplane.flags.services import BOOLEAN_VARIANTS
    from controlplane.rollouts.models import HealthRule, RolloutPlan, Stage

    now = time.time()
    run_started = now // 60 * 60 - MINUTES * 60  # on a bucket's edge, so each bucket is one stage's
    segment_starts = [run_started + i * 900 for i in range(3)]
    runtime = {
        "status": "running", "stage_index": 2, "stage_started_at": segment_starts[2],
        "run_started_at": segment_starts[0], "run_number": 1, "segment_starts": segment_starts,
        "approved_stage_index": None, "reason": "", "updated_at": now,
        "rules": [{"rule_id": r["key"], "treatment_seen": 0, "last_new_data_at": now, "breach_streak": 0}
                  for r in RULES],
    }  # fmt: skip
    split = {"split": [{"variant": "on", "weight": 25_000}, {"variant": "off", "weight": 75_000}]}
    for low in range(start, end, 1000):
        high = min(end, low + 1000)
        flags = Flag.objects.bulk_create(
            Flag(project=project, key=f"engine-{i:05d}", name=f"Engine {i}", variants=BOOLEAN_VARIANTS,
                 off_variant="off")
            for i in range(low, high)
        )  # fmt: skip
        FlagState.objects.bulk_create(
            FlagState(flag=flag, environment=environment, on=True, default_serve=split) for flag in flags
        )
        plans = RolloutPlan.objects.bulk_create(
            RolloutPlan(flag=flag, environment=environment, status="running", stage_index=2, percent=25,
                        waiting_on="dwell", runtime=runtime, starvation_timeout_s=7200)
            for flag in flags
        )  # fmt: skip
        Stage.objects.bulk_create(
            Stage(plan=plan, position=i, percent=percent, min_dwell_s=dwell)
            for plan in plans
            for i, (percent, dwell) in enumerate(STAGES)
        )
        HealthRule.objects.bulk_create(HealthRule(plan=plan, **rule) for plan in plans for rule in RULES)
        fill_signals(environment.id, low, high, segment_starts, instances, folded)
        store_closed_stages(plans)


def fill_signals(environment_id: int, low: int, high: int, segment_starts: list[float], instances: int = 1,
                 folded: bool = False) -> None:  # fmt: skip
    """One bucket a minute per variant since the run started, each stage's traffic split as it served,
    reported by ``instances`` SDK instances (a unit row each a series' bucket, the same counts), and
    with ``folded`` those rows folded by ``metrics.services.compact`` as its beat task would have."""
    from django.db import connection
    from django.test.utils import override_settings

    from controlplane.metrics.histogram import HISTOGRAM_SIZE
    from controlplane.metrics.services import compact
    from flagplane.metrics import UNIT_GROUPS

    first = datetime.fromtimestamp(segment_starts[0], tz=UTC)
    shares = "ARRAY[1, 5, 25]"
    fast = 6  # every request in the same latency bucket (both arms equally fast)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            CREATE TEMP TABLE bench_signals AS
            SELECT 'engine-' || lpad(f::text, 5, '0') AS flag_key, v.variant,
                   %s::timestamptz + m * interval '1 minute' AS bucket_start,
                   CASE WHEN v.variant = 'on' THEN ({shares})[1 + m / 15]
                        ELSE 100 - ({shares})[1 + m / 15] END AS per_instance
            FROM generate_series(%s, %s) AS f, generate_series(0, {MINUTES - 1}) AS m,
                 (VALUES ('on'), ('off')) AS v(variant)
            """,
            [first, low, high - 1],
        )
        cursor.execute(
            f"""
            INSERT INTO metrics_metricbucket (environment_id, flag_key, variant, bucket_start, evaluations,
                                              successes, errors, latency_counts, latency_sum, ungrouped_signals)
            SELECT %s, flag_key, variant, bucket_start, per_group * {UNIT_GROUPS}, per_group * {UNIT_GROUPS}, 0,
                   array(SELECT CASE WHEN i = {fast} THEN per_group * {UNIT_GROUPS} ELSE 0 END
                         FROM generate_series(0, {HISTOGRAM_SIZE - 1}) AS i),
                   80.0 * per_group * {UNIT_GROUPS}, 0
            FROM (SELECT *, per_instance * %s AS per_group FROM bench_signals) s
            """,
            [environment_id, instances],
        )
        cursor.execute(
            f"""
            INSERT INTO metrics_metricunitbucket (environment_id, flag_key, variant, bucket_start, batch,
                                                  unit_groups, successes, errors, latency_bins, latency_counts)
            SELECT %s, flag_key, variant, bucket_start, batch,
                   array(SELECT generate_series(0, {UNIT_GROUPS - 1})),
                   array_fill(per_instance::bigint, ARRAY[{UNIT_GROUPS}]),
                   array_fill(0::bigint, ARRAY[{UNIT_GROUPS}]),
                   array(SELECT g * {HISTOGRAM_SIZE} + {fast} FROM generate_series(0, {UNIT_GROUPS - 1}) AS g),
                   array_fill(per_instance::bigint, ARRAY[{UNIT_GROUPS}])
            FROM bench_signals, generate_series(1, %s) AS batch
            """,
            [environment_id, instances],
        )
        cursor.execute("DROP TABLE bench_signals")
    if folded:
        with override_settings(METRICS_COMPACT_SPAN_S=(MINUTES + 60) * 60):  # the whole run, not 2 minutes
            compact()


def store_closed_stages(plans: list) -> None:
    """Where the engine stores closed stages' counts (``StageCounts``) and the open stage's settled
    part (``RunningCounts``), and the hold it logs, the state its first tick of each plan leaves: one
    plan evaluated, the others given the same rows (their signals are the same). Every tick the
    bench measures is then a plan's next hold, folded into the one logged."""
    from controlplane.rollouts import services
    from controlplane.rollouts.models import Decision, RunningCounts, StageCounts

    services.evaluate(plans[0].id)
    for model in (StageCounts, RunningCounts):
        rows = list(model.objects.filter(plan=plans[0]))
        model.objects.bulk_create(
            model(
                plan=plan,
                variant=row.variant,
                since=row.since,
                until=row.until,
                counts=row.counts,
                counted_at=row.counted_at,
            )
            for plan in plans[1:]
            for row in rows
        )
    hold = Decision.objects.get(plan=plans[0])
    copied = [field.name for field in Decision._meta.concrete_fields if field.name not in ("id", "plan")]
    Decision.objects.bulk_create(
        Decision(plan=plan, **{name: getattr(hold, name) for name in copied}) for plan in plans[1:]
    )


def start_worker() -> subprocess.Popen:
    environment = {**os.environ, "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING")}
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "controlplane", "worker", "-Q", environment["CELERY_QUEUE"],
         "--pool", "prefork", "--concurrency", "2", "--loglevel", "WARNING", "--without-mingle",
         "--without-gossip"],
        cwd=ROOT, env=environment, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def queue_length() -> int:
    from controlplane.celery import app

    with app.connection_for_write() as connection:
        return connection.default_channel.client.llen(app.conf.task_default_queue)


def clear_queue() -> None:
    from django.conf import settings

    from controlplane.documents import cache

    client = cache.client()
    client.delete(settings.CELERY_TASK_DEFAULT_QUEUE)
    for key in client.scan_iter(f"{settings.REDIS_PREFIX}:rollouts:*"):
        client.delete(key)


def evaluated_since(moment: datetime) -> int:
    from controlplane.rollouts.models import RolloutPlan

    return RolloutPlan.objects.filter(evaluated_at__gte=moment).count()


def in_process(plan_ids: list[int]) -> tuple[float, float]:
    """Queries and milliseconds per plan of one batch of ``plan_ids`` (``rollouts.evaluate_plans``,
    as a worker runs it) in this process: the batch's shared reads spread over its plans."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from controlplane.rollouts.tasks import evaluate_plans

    gc.collect()
    gc.freeze()  # what the process holds by now, out of the collector's sight, as a pool process's is
    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        evaluate_plans(plan_ids, "bench")  # it holds no claim: releasing one is a no-op
        elapsed_ms = (time.perf_counter() - started) * 1000
    return len(captured.captured_queries) / len(plan_ids), elapsed_ms / len(plan_ids)


def one_pass(size: int, seconds: float) -> dict[str, float]:
    """A tick with the worker running: plans evaluated per second, and what a second tick queues."""
    from controlplane.rollouts.tasks import tick

    clear_queue()
    moment = datetime.now(UTC)
    started = time.perf_counter()
    tick()
    tick_ms = (time.perf_counter() - started) * 1000
    second_tick = None
    while time.perf_counter() - started < seconds:
        done = evaluated_since(moment)
        if done >= size:
            break
        if second_tick is None and time.perf_counter() - started >= TICK_S:
            second_tick = tick()  # the first tick's plans are not all done yet
        time.sleep(0.5)
    elapsed = time.perf_counter() - started
    done = evaluated_since(moment)
    left = queue_length()
    clear_queue()
    return {"tick_ms": tick_ms, "per_s": done / elapsed, "done": done, "elapsed": elapsed,
            "second_tick": second_tick, "queue_left": left}  # fmt: skip


def full_read_ms(environment_id: int, plan_ids: list[int]) -> float:
    """Median of 5 ``arm_counts_many`` of the plans' arms since their runs began: what a tick reads
    of unit rows when nothing of them is stored yet (after a restart of the run), the read the
    number of SDK instances (unit rows a bucket) weighs on; a held plan reads only its open stage's
    unsettled tail."""
    from datetime import timedelta

    from controlplane.metrics.queries import Window, arm_counts_many
    from controlplane.rollouts.models import RolloutPlan

    since = datetime.now(UTC) - timedelta(minutes=MINUTES + 5)
    keys = list(RolloutPlan.objects.filter(id__in=plan_ids).values_list("flag__key", flat=True))
    windows = [Window(environment_id, key, [arm], since, None) for key in keys for arm in ("on", "off")]
    times = []
    for _ in range(5):
        started = time.perf_counter()
        arm_counts_many(windows)
        times.append((time.perf_counter() - started) * 1000)
    return sorted(times)[2]


def measure(engine_sizes: list[int], seconds: float = 90.0, instances: int = 1, folded: bool = False) -> dict[str, Any]:
    from controlplane.audit.services import Actor
    from controlplane.projects.services import create_project
    from controlplane.rollouts.models import RolloutPlan
    from controlplane.rollouts.tasks import BATCH

    project = create_project(Actor.system("bench"), key="engine", environments=["production"])
    environment = project.environments.get()
    worker = start_worker()
    results: dict[str, Any] = {}
    filled = 0
    try:
        for size in engine_sizes:
            started = time.perf_counter()
            fill(project, environment, filled, size, instances, folded)
            filled = size
            print(f"engine: {size:,} active plans ({time.perf_counter() - started:.0f} s to fill)", flush=True)
            results["engine_fill_s"] = results.get("engine_fill_s", 0.0) + time.perf_counter() - started
            sample = list(RolloutPlan.objects.order_by("?").values_list("id", flat=True)[:BATCH])
            queries, ms = in_process(sample)
            print(f"  a batch of {len(sample)} in this process: {queries:.1f} queries and {ms:.1f} ms per plan")
            read_ms = full_read_ms(environment.id, sample)
            print(f"  the batch's whole runs read (both arms, latencies, {MINUTES} min): {read_ms:.1f} ms")
            results["engine_full_read_ms"] = round(read_ms, 1)
            run = one_pass(size, seconds)
            queued_again = run["second_tick"]
            if queued_again is None:
                queued_again = "nothing (all done within a tick)" if run["done"] >= size else "n/a (no time left)"
            print(f"  worker (concurrency 2): {run['done']:,} plans in {run['elapsed']:.1f} s = "
                  f"{run['per_s']:.1f} plans/s, keeps up with {run['per_s'] * TICK_S:,.0f} plans at a "
                  f"{TICK_S:g}-s tick; tick {run['tick_ms']:.0f} ms; the next tick queued {queued_again}; "
                  f"{run['queue_left']:,} tasks left in the queue", flush=True)  # fmt: skip
            results["engine_queries_per_evaluate"] = round(queries, 1)
            results["engine_ms_per_evaluate"] = round(ms, 1)
            results["engine_plans_per_worker"] = round(run["per_s"] * TICK_S)
    finally:
        worker.terminate()  # a warm shutdown: the running evaluations end first
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
    return results


def main() -> None:
    from bench import scale
    from bench.scale import cleanup_redis, drop_database, setup_database, sizes

    # Its own, per run: bench/scale.py or another run of this bench may be running at the same time.
    scale.DATABASE = f"flagplane_bench_engine_{os.getpid()}"
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=sizes, default=sizes("500,2000,5000"))
    parser.add_argument("--seconds", type=float, default=90.0, help="longest wait for one tick's plans")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--instances",
        type=int,
        default=1,
        help="SDK instances reporting each series: unit rows a series' bucket, as appended",
    )
    parser.add_argument("--folded", action="store_true", help="those rows folded by metrics.compact")
    args = parser.parse_args()
    setup_database()
    try:
        results = measure(args.sizes, args.seconds, args.instances, args.folded)
    finally:
        cleanup_redis()
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database()
    print("scale_engine: " + " ".join(f"{key}={value}" for key, value in results.items()))


if __name__ == "__main__":
    main()
