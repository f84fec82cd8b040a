"""The open stage is counted from where the last tick's settled buckets end, and counts what it
would have counted from every bucket since the stage began.

The plan runs on the engine's clock 25 minutes in the past, so that SDK reports can arrive at any
moment of it, late ones included (reports are counted in the bucket of their period's end, and
arrive at that end or, if the engine's clock is past it, at the engine's time).
"""

import time

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from controlplane.audit.services import SYSTEM
from controlplane.flags.services import create_flag
from controlplane.metrics import services as metrics_services
from controlplane.metrics.queries import Window, arm_counts_many
from controlplane.metrics.services import bucket_start
from controlplane.rollouts import clock, measurements, services, tick_inputs
from controlplane.rollouts.measurements import ADVANCE, totals_from_bytes
from controlplane.rollouts.models import IN_FLIGHT, RolloutPlan, RunningCounts, StageCounts
from tests.rollouts.helpers import ERROR_RULE, act, create_plan, units_batch

pytestmark = pytest.mark.django_db

LATENCY_RULE = {"key": "p95", "metric": "latency_p", "comparison": "vs_control_absolute", "threshold": 50,
                "percentile": 0.95, "min_samples": 100}  # fmt: skip
STAGES = [
    {"percent": 10, "min_dwell_s": 3600},
    {"percent": 25, "min_dwell_s": 3600},
    {"percent": 50, "min_dwell_s": 3600},
]


class EngineClock:
    """The engine's clock, ``BEHIND`` seconds behind the real one, moved by the test."""

    BEHIND = 1500

    def __init__(self, monkeypatch) -> None:
        self.origin = time.time() - self.BEHIND
        self.now = self.origin
        monkeypatch.setattr(clock, "now", lambda: self.now)

    def at(self, offset_s: float) -> None:
        self.now = self.origin + offset_s


@pytest.fixture
def engine_clock(monkeypatch) -> EngineClock:
    return EngineClock(monkeypatch)


def send(
    production, engine_clock: EngineClock, offset_s: float, treatment_errors: int = 1, flag: str = "new-checkout"
) -> None:
    """A batch from two unit groups per arm whose period ends at ``offset_s`` on the engine's clock,
    counted then or, if the engine's clock is past that, now (late, if its bucket has settled)."""
    traffic = {"on": {3: (40, treatment_errors), 7: (60, 0)}, "off": {3: (400, 4), 9: (500, 5)}}
    end = engine_clock.origin + offset_s
    arrival = clock.moment(max(end, engine_clock.now))
    metrics_services.ingest_batch(production.id, units_batch(traffic, clock.moment(end), flag), now=arrival)


def observed(plan_id: int) -> tuple:
    loaded = services.load_active([plan_id])[plan_id]
    observations, gates, _ = tick_inputs.read(loaded.plan, loaded.runtime, loaded.now, loaded.sdk_counts)
    measurements.store_many([loaded.sdk_counts])  # as the tick does once it has the plan's lock
    return observations, gates


def observed_from_every_bucket(plan_id: int) -> tuple:
    """What the tick observes with nothing stored: every period counted from its buckets."""
    with transaction.atomic():
        RunningCounts.objects.filter(plan_id=plan_id).delete()
        StageCounts.objects.filter(plan_id=plan_id).delete()
        result = observed(plan_id)
        transaction.set_rollback(True)
    return result


@pytest.fixture
def windows_read(monkeypatch) -> list:
    """Every bucket window the ticks read (``arm_counts_many``'s), in order."""
    read: list = []

    def counting(windows):
        read.extend((window.variants, window.since, window.until) for window in windows)
        return arm_counts_many(windows)

    monkeypatch.setattr(measurements, "arm_counts_many", counting)
    return read


def assert_stored_counts_are_their_buckets(plan_id: int, environment_id: int) -> None:
    for row in [*RunningCounts.objects.filter(plan_id=plan_id), *StageCounts.objects.filter(plan_id=plan_id)]:
        stored = totals_from_bytes(row.counts)
        period = Window(environment_id, "new-checkout", [row.variant], row.since, row.until, stored.latencies)
        assert stored == arm_counts_many([period])[0], row


@pytest.fixture
def plan_in_stage_2(api, production, checkout_flag, engine_clock) -> int:
    """Started at 0 s, promoted at 300 s, with a batch every 50 s up to 600 s."""
    plan = create_plan(api, STAGES, rules=[ERROR_RULE, LATENCY_RULE])
    act(api, plan["id"], "start")
    for offset in range(20, 601, 50):
        if offset > 300 >= offset - 50:
            engine_clock.at(300)
            act(api, plan["id"], "promote")
        send(production, engine_clock, offset)
    engine_clock.at(630)
    return plan["id"]


def test_a_tick_keeps_the_open_stage_s_settled_buckets_and_the_next_adds_late_ones(
    plan_in_stage_2, engine_clock, production
):
    services.evaluate(plan_in_stage_2)
    running = RunningCounts.objects.filter(plan_id=plan_in_stage_2)
    assert sorted(row.variant for row in running) == ["off", "off", "on", "on"]  # the rules' and the traffic's
    rules, traffic = (running.filter(since=since) for since in sorted({row.since for row in running}))
    assert [totals_from_bytes(row.counts).latencies for row in [*rules, *traffic]] == [True, True, False, False]
    first_end = running.order_by("since").first().until
    assert first_end.timestamp() <= engine_clock.now - 60 - IN_FLIGHT.total_seconds()  # every batch committed

    send(production, engine_clock, 590, treatment_errors=30)  # late, but its bucket was still settling
    send(production, engine_clock, 640)
    engine_clock.at(700)
    assert observed(plan_in_stage_2) == observed_from_every_bucket(plan_in_stage_2)
    assert running.order_by("since").first().until >= first_end + ADVANCE
    assert_stored_counts_are_their_buckets(plan_in_stage_2, production.id)


def test_the_decisions_are_those_counted_from_every_bucket(plan_in_stage_2, production, engine_clock):
    outcomes = []
    for offset in (630, 700, 760, 830, 900):
        engine_clock.at(offset)
        send(production, engine_clock, offset - 20, treatment_errors=offset // 100)
        expected = observed_from_every_bucket(plan_in_stage_2)
        assert observed(plan_in_stage_2) == expected
        outcomes.append(services.evaluate(plan_in_stage_2).outcomes)
    assert RunningCounts.objects.filter(plan_id=plan_in_stage_2).count() == 2 * 2  # the rules' and the traffic's
    assert outcomes[-1][0]["treatment_n"] == (12 + 5) * 100  # every batch of the run, once


def test_a_new_stage_starts_from_nothing_and_the_closed_one_is_stored_whole(
    plan_in_stage_2, api, engine_clock, production
):
    services.evaluate(plan_in_stage_2)
    engine_clock.at(660)
    act(api, plan_in_stage_2, "promote")
    send(production, engine_clock, 680)
    engine_clock.at(700)  # stage 2's last reports may still arrive
    assert observed(plan_in_stage_2) == observed_from_every_bucket(plan_in_stage_2)
    services.evaluate(plan_in_stage_2)
    send(production, engine_clock, 655, treatment_errors=20)  # late, into stage 2
    for offset in (730, 780, 830):
        send(production, engine_clock, offset)
    engine_clock.at(850)
    assert observed(plan_in_stage_2) == observed_from_every_bucket(plan_in_stage_2)
    entry = services.evaluate(plan_in_stage_2)
    assert RolloutPlan.objects.get(pk=plan_in_stage_2).stage_index == 2
    assert entry.outcomes[0]["treatment_n"] == 17 * 100 and entry.outcomes[0]["treatment_events"] == 16 + 20
    closed = StageCounts.objects.filter(plan_id=plan_in_stage_2, since__gt=clock.moment(engine_clock.origin + 250))
    assert {row.variant for row in closed} == {"on", "off"}  # stage 2, stored whole once settled
    assert_stored_counts_are_their_buckets(plan_in_stage_2, production.id)


def test_a_resumed_run_starts_from_nothing(plan_in_stage_2, api, engine_clock, production):
    services.evaluate(plan_in_stage_2)
    engine_clock.at(650)
    act(api, plan_in_stage_2, "rollback", reason="test")
    engine_clock.at(700)
    act(api, plan_in_stage_2, "resume", from_stage=2)
    for offset in (720, 770, 820, 870):
        send(production, engine_clock, offset)
    engine_clock.at(1000)
    assert observed(plan_in_stage_2) == observed_from_every_bucket(plan_in_stage_2)
    services.evaluate(plan_in_stage_2)
    entry = services.evaluate(plan_in_stage_2)
    assert entry.outcomes[0]["treatment_n"] == 4 * 100  # the new run's batches only
    assert_stored_counts_are_their_buckets(plan_in_stage_2, production.id)


def test_an_absolute_threshold_s_window_from_the_run_s_start_is_counted_beside_a_closed_first_stage(
    api, checkout_flag, engine_clock, production
):
    """Within ``window_s`` of the run's start the rule's window begins where stage 0 does; once
    stage 1 opens, stage 0 still settling and the window are two periods from one start."""
    rule = {**ERROR_RULE, "key": "error-ceiling", "comparison": "absolute_threshold", "threshold": 0.05}
    plan_id = create_plan(api, STAGES, rules=[rule])["id"]
    act(api, plan_id, "start")
    for offset in (20, 70, 120, 170):
        send(production, engine_clock, offset)
    engine_clock.at(200)  # stage 0 lasted 200 s, less than the rule's 300-s window
    act(api, plan_id, "promote")
    send(production, engine_clock, 220)
    engine_clock.at(240)  # stage 0's last reports may still arrive
    entry = services.evaluate(plan_id)
    assert entry is not None and RolloutPlan.objects.get(pk=plan_id).stage_index == 1
    send(production, engine_clock, 245)
    engine_clock.at(250)
    assert observed(plan_id) == observed_from_every_bucket(plan_id)
    assert_stored_counts_are_their_buckets(plan_id, production.id)


def test_a_batch_the_sdk_sent_five_minutes_late_counts_in_the_open_stage(api, production, checkout_flag, engine_clock):
    plan_id = create_plan(api, STAGES, rules=[ERROR_RULE])["id"]
    act(api, plan_id, "start")
    for offset in range(20, 1001, 50):
        if offset != 720:
            send(production, engine_clock, offset)
    engine_clock.at(1010)
    services.evaluate(plan_id)
    assert RunningCounts.objects.filter(plan_id=plan_id, until__gt=clock.moment(engine_clock.origin + 730)).exists()
    send(production, engine_clock, 720, treatment_errors=30)  # retried by its SDK after an outage, 5 minutes late
    engine_clock.at(1030)
    assert observed(plan_id) == observed_from_every_bucket(plan_id)
    entry = services.evaluate(plan_id)
    assert entry.outcomes[0]["treatment_n"] == 20 * 100 and entry.outcomes[0]["treatment_events"] == 19 + 30


def test_a_tick_without_late_batches_counts_only_the_buckets_since_its_stored_counts_end(
    plan_in_stage_2, production, engine_clock, windows_read
):
    services.evaluate(plan_in_stage_2)  # stage 1 stored, stage 2's settled buckets kept
    ends = {row.until for row in RunningCounts.objects.filter(plan_id=plan_in_stage_2)}
    send(production, engine_clock, 640)
    engine_clock.at(650)
    windows_read.clear()
    services.evaluate(plan_in_stage_2)
    assert windows_read and {since for _, since, _ in windows_read} == ends  # nothing of stage 1, nothing before

    send(production, engine_clock, 420, treatment_errors=30)  # into stage 2's stored buckets, 4 minutes late
    engine_clock.at(660)
    windows_read.clear()
    entry = services.evaluate(plan_in_stage_2)
    stage_2 = bucket_start(clock.moment(engine_clock.origin + 300))
    assert min(since for _, since, _ in windows_read) == stage_2  # that stage counted again, from its start
    assert {since for _, since, until in windows_read if until is not None and until <= stage_2} == set()
    assert entry.outcomes[0]["treatment_n"] == 14 * 100 and entry.outcomes[0]["treatment_events"] == 13 + 30
    assert_stored_counts_are_their_buckets(plan_in_stage_2, production.id)

    engine_clock.at(720)  # counted again while a tick may have missed the late batch's transaction
    services.evaluate(plan_in_stage_2)
    engine_clock.at(790)
    ends = {row.until for row in RunningCounts.objects.filter(plan_id=plan_in_stage_2)}
    windows_read.clear()
    services.evaluate(plan_in_stage_2)
    moved_to = {row.until for row in RunningCounts.objects.filter(plan_id=plan_in_stage_2)}
    assert {since for _, since, _ in windows_read} == ends | moved_to  # from the stored end again


def test_a_late_batch_never_shrinks_counts_that_begin_before_the_oldest_bucket_kept(
    plan_in_stage_2, engine_clock, production, settings, caplog
):
    """Stage 2 began at 300 s; the metrics keep 300 s of buckets, so at 700 s those before 400 s are
    pruned, and a batch of 500 s arrives late."""

    def stored() -> dict:
        rows = RunningCounts.objects.filter(plan_id=plan_in_stage_2)
        return {(row.variant, row.since): totals_from_bytes(row.counts).requests for row in rows}

    services.evaluate(plan_in_stage_2)
    before = stored()
    settings.METRICS_RETENTION_DAYS = 300 / 86400
    engine_clock.at(700)
    send(production, engine_clock, 500)  # late
    metrics_services.prune(now=clock.moment(engine_clock.now))

    caplog.set_level("WARNING", logger="controlplane.rollouts.measurements")
    services.evaluate(plan_in_stage_2)
    engine_clock.at(760)
    services.evaluate(plan_in_stage_2)
    after = stored()
    assert after.keys() == before.keys()
    stage_2 = min(since for _, since in after)
    assert after[("on", stage_2)] == 6 * 100  # its on-time batches (320 s to 570 s), the late one left out
    kept = [r for r in caplog.records if "not counted again" in r.getMessage()]
    assert len(kept) == len(before)  # each row once, not once a tick


def test_a_batch_stores_its_plans_counts_in_one_upsert_a_table(api, project, production, checkout_flag, engine_clock):
    second = create_flag(project, SYSTEM, key="second-checkout")
    plan_ids = [create_plan(api, STAGES, rules=[ERROR_RULE, LATENCY_RULE], flag=key)["id"]
                for key in (checkout_flag.key, second.key)]  # fmt: skip
    for plan_id in plan_ids:
        act(api, plan_id, "start")
    for offset in range(20, 601, 50):
        if offset > 300 >= offset - 50:
            engine_clock.at(300)
            for plan_id in plan_ids:
                act(api, plan_id, "promote")
        for key in (checkout_flag.key, second.key):
            send(production, engine_clock, offset, flag=key)
    engine_clock.at(630)
    loaded = services.load_active(plan_ids)
    with CaptureQueriesContext(connection) as captured:
        services.evaluate_batch([loaded[plan_id] for plan_id in plan_ids])

    for model in (StageCounts, RunningCounts):
        assert {row.plan_id for row in model.objects.all()} == set(plan_ids)  # stage 1 stored, stage 2 kept
        inserts = [
            q["sql"] for q in captured.captured_queries if q["sql"].startswith(f'INSERT INTO "{model._meta.db_table}"')
        ]
        assert len(inserts) == 1, model
