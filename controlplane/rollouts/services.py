"""Every write to a rollout plan: people's actions and the engine's ticks share one code path.

Each function locks the plan row, asks the pure decision core (``decision.py``) what happens,
and applies the answer in the same transaction: the plan's state, the flag's split (through
``flags.services.update_flag_state``, so the SDK document is rebuilt and the change audited),
the Decision log entry, the audit entry and the webhook notifications.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from controlplane import broker, outbound
from controlplane.audit.services import ROLLOUT_ENGINE, Actor, record
from controlplane.flags import services as flag_services
from controlplane.flags.models import Flag
from controlplane.metrics.errors import SourceError
from controlplane.metrics.services import bucket_start
from controlplane.metrics.sources import HttpJsonSource, Measurement, MetricSource, PrometheusSource, SdkMetricSource
from controlplane.notifications.services import notify
from controlplane.observability.metrics import ROLLOUT_DECISIONS, ROLLOUT_TICK_SECONDS, ROLLOUT_TICKS
from controlplane.projects.models import Environment
from controlplane.rollouts import actions, clock
from controlplane.rollouts import decision as core
from controlplane.rollouts.errors import PlanError, TransitionRefused
from controlplane.rollouts.models import Decision, HealthRule, RolloutPlan, Stage
from controlplane.rollouts.plan_fields import PLAN_FIELDS, RULE_FIELDS, STAGE_FIELDS
from controlplane.rollouts.specs import dump_runtime, load_runtime, outcome_dict, plan_spec
from controlplane.rollouts.validation import validate_plan
from flagplane.bucketing import BUCKET_SPACE

logger = logging.getLogger(__name__)

# An external value read over HTTP is taken as a measured rate over this many requests.
HTTP_SOURCE_WEIGHT = 1_000_000


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def _percent(value: float) -> Decimal:
    return Decimal(str(round(value, 3))).quantize(Decimal("0.001"))


def plan_snapshot(plan: RolloutPlan) -> dict[str, Any]:
    return {"status": plan.status, "stage": plan.stage_index + 1, "percent": str(plan.percent)}


def definition(plan: RolloutPlan) -> dict[str, Any]:
    """The plan as people define it (what the API accepts), for audit diffs."""
    return {
        **{field: getattr(plan, field) for field in PLAN_FIELDS},
        "stages": [
            {**{field: getattr(s, field) for field in STAGE_FIELDS}, "percent": str(s.percent)}
            for s in plan.stages.all()
        ],
        "rules": [{field: getattr(r, field) for field in RULE_FIELDS} for r in plan.rules.all()],
    }


def _write_definition(plan: RolloutPlan, normalized: dict[str, Any]) -> None:
    for field, value in normalized.items():
        if field not in ("stages", "rules"):
            setattr(plan, field, value)
    plan.save()
    plan.stages.all().delete()
    plan.rules.all().delete()
    Stage.objects.bulk_create(Stage(plan=plan, position=i, **stage) for i, stage in enumerate(normalized["stages"]))
    HealthRule.objects.bulk_create(HealthRule(plan=plan, **rule) for rule in normalized["rules"])


@transaction.atomic
def create_plan(
    flag: Flag, environment: Environment, actor: Actor, data: dict[str, Any], reason: str = ""
) -> RolloutPlan:
    """A draft plan for a flag in one environment; nothing is served until it starts."""
    if environment.project_id != flag.project_id:
        raise PlanError({"environment": ["The environment belongs to another project."]})
    normalized = validate_plan(flag, data)
    plan = RolloutPlan(flag=flag, environment=environment, created_by=actor.user if actor.user else None)
    _write_definition(plan, normalized)
    record(
        actor,
        "rollout.create",
        plan,
        after=definition(plan),
        reason=reason,
        project=flag.project,
        environment=environment,
    )
    return plan


@transaction.atomic
def update_plan(plan: RolloutPlan, actor: Actor, data: dict[str, Any], reason: str = "") -> RolloutPlan:
    """Replace a draft plan's definition (stages and rules included)."""
    plan = _locked(plan.pk)
    if plan.status != RolloutPlan.Status.DRAFT:
        raise PlanError({"status": [f"Only a draft plan can be edited; this one is {plan.get_status_display()}."]})
    before = definition(plan)
    normalized = validate_plan(plan.flag, {**before, **data})
    _write_definition(plan, normalized)
    after = definition(plan)
    if after != before:
        record(
            actor,
            "rollout.update",
            plan,
            before=before,
            after=after,
            reason=reason,
            project=plan.flag.project,
            environment=plan.environment,
        )
    return plan


@transaction.atomic
def delete_plan(plan: RolloutPlan, actor: Actor, reason: str = "") -> None:
    plan = _locked(plan.pk)
    if plan.status != RolloutPlan.Status.DRAFT:
        raise PlanError({"status": ["Only a draft plan can be deleted; cancel a started one instead."]})
    record(
        actor,
        "rollout.delete",
        plan,
        before=definition(plan),
        reason=reason,
        project=plan.flag.project,
        environment=plan.environment,
    )
    plan.delete()


def _locked(plan_id: int, skip_locked: bool = False) -> RolloutPlan | None:
    queryset = RolloutPlan.objects.select_for_update(skip_locked=skip_locked, of=("self",))
    plan = queryset.select_related("flag__project", "environment").filter(pk=plan_id).first()
    if plan is None and not skip_locked:
        raise RolloutPlan.DoesNotExist(plan_id)
    return plan


def _person_action(
    plan: RolloutPlan,
    actor: Actor,
    reason: str,
    transition: Callable[[core.PlanSpec, core.PlanRuntime, float], core.Decision],
) -> RolloutPlan:
    with transaction.atomic():
        plan = _locked(plan.pk)
        spec = plan_spec(plan)
        try:
            outcome = transition(spec, load_runtime(plan), clock.now())
        except core.TransitionError as exc:
            raise TransitionRefused(str(exc)) from exc
        if reason and reason not in outcome.reason:
            outcome = replace(outcome, reason=f"{outcome.reason} Reason given: {reason}")
        try:
            with transaction.atomic():
                _apply(plan, spec, outcome, actor, reason)
        except IntegrityError as exc:
            raise TransitionRefused(
                f"Another rollout of {plan.flag.key} in {plan.environment.key} is already active."
            ) from exc
        if plan.is_active:
            # Let the engine look at the plan right away, so its page says what it waits on.
            transaction.on_commit(lambda: _queue_evaluation(plan.pk))
    return plan


def _queue_evaluation(plan_id: int) -> None:
    from controlplane.rollouts.tasks import evaluate_plan

    broker.send(evaluate_plan, plan_id)  # if it cannot, the next beat tick evaluates the plan anyway


def act(plan: RolloutPlan, name: str, actor: Actor, reason: str = "", stage_number: int | None = None) -> RolloutPlan:
    """A person's action on a plan, by its name in ``actions.PERSON_ACTIONS``.

    ``stage_number`` (1-based, as people count stages) is the stage an action with a
    ``stage_field`` names: where ``resume`` restarts, the stage ``approve`` approves.
    Refused (``TransitionRefused``) when the plan's state does not allow it.
    """
    if name not in actions.BY_NAME or not actions.BY_NAME[name].by_person:
        raise TransitionRefused(f"There is no action called {name!r}.")
    stage = stage_number - 1 if stage_number is not None else None
    before = _refuse_start_when_served_to_everyone(plan) if name == "start" else 0.0

    def transition(spec: core.PlanSpec, runtime: core.PlanRuntime, now: float) -> core.Decision:
        outcome = core.act(name, spec, runtime, now, reason=reason, stage=stage, by=actor.label)
        if before:
            served = core.format_percent(before)
            outcome = replace(outcome, reason=f"{outcome.reason} The treatment had {served} before.")
        return outcome

    return _person_action(plan, actor, reason, transition)


def _refuse_start_when_served_to_everyone(plan: RolloutPlan) -> float:
    """The treatment's share before a start; refused when the flag already serves it to everyone.

    Starting would take the treatment away from most users (down to stage 1), and a rollback
    would leave nobody on it. Otherwise the start decision says what share it had, if any.
    """
    before = treatment_share(plan)
    if before == 100:
        raise TransitionRefused(
            f"{plan.flag.key} already serves {plan.treatment_variant} to everyone in {plan.environment.key}: "
            f"starting this plan would drop it to {core.format_percent(float(plan.stages.first().percent))} "
            f"(stage 1). Nothing is left to roll out; to roll it out again, serve {plan.control_variant} "
            "by default (or turn the flag off) first."
        )
    return before


def treatment_share(plan: RolloutPlan) -> float:
    """The percentage of the flag's default serve that gets the plan's treatment now (0 when the flag is off)."""
    state = flag_services.get_state(plan.flag, plan.environment)
    if not state.on:
        return 0.0
    serve = state.default_serve or {}
    if "split" not in serve:
        return 100.0 if serve.get("variant") == plan.treatment_variant else 0.0
    weight = sum(item["weight"] for item in serve["split"] if item["variant"] == plan.treatment_variant)
    return weight * 100 / BUCKET_SPACE


def evaluate(plan_id: int) -> Decision | None:
    """One engine tick for one plan.

    The slow part (metric queries, HTTP sources, the external check) runs before the plan is
    locked, so a person's rollback never waits for a slow endpoint. The decision is then taken
    and applied under the lock, and only if nobody changed the plan in between; otherwise (or if
    another worker holds the plan right now) this tick does nothing and the next one decides.
    """
    plan = RolloutPlan.objects.select_related("flag__project", "environment").filter(pk=plan_id).first()
    if plan is None or not plan.is_active:
        return None
    started = time.perf_counter()
    runtime = load_runtime(plan)
    now = clock.now()
    sdk_source = MeasuredOnce(SdkMetricSource())
    observations = [observe(plan, rule, runtime, now, sdk_source) for rule in plan.rules.all()]
    stage_gates = replace(gates(plan, runtime, now), traffic=sample_ratio_traffic(plan, runtime, now, sdk_source))
    with transaction.atomic():
        locked = _locked(plan_id, skip_locked=True)
        if locked is None or not locked.is_active or locked.runtime != plan.runtime:
            ROLLOUT_TICKS.labels("skipped").inc()
            return None
        spec = plan_spec(locked)
        state = flag_services.get_state(locked.flag, locked.environment)
        if not state.on and locked.status == RolloutPlan.Status.RUNNING:
            reason = f"the flag was turned off in {locked.environment.key} (kill switch)"
            outcome = core.pause(spec, runtime, now, reason)
        else:
            outcome = core.decide(spec, runtime, now, observations, stage_gates)
        entry = _apply(locked, spec, outcome, ROLLOUT_ENGINE, "")
    ROLLOUT_TICKS.labels("decided").inc()
    ROLLOUT_TICK_SECONDS.observe(time.perf_counter() - started)
    return entry


class MeasuredOnce:
    """A source that measures each period once: a plan's SDK rules share their stages' counts."""

    def __init__(self, source: MetricSource) -> None:
        self.source = source
        self.measured: dict[tuple, Measurement] = {}

    def measure(self, environment_id, flag_key, variants, since, until=None) -> Measurement:
        key = (environment_id, flag_key, tuple(variants), since, until)
        if key not in self.measured:
            self.measured[key] = self.source.measure(environment_id, flag_key, variants, since, until)
        return self.measured[key]


def source_for(plan: RolloutPlan, rule: HealthRule, sdk_source: MetricSource) -> MetricSource:
    if rule.source == HealthRule.Source.HTTP:
        return HttpJsonSource(rule.source_url, rule.source_json_path)
    if rule.source == HealthRule.Source.PROMETHEUS:
        return PrometheusSource(
            rule.source_url or settings.ROLLOUTS_PROMETHEUS_URL,
            rule.source_events_query,
            rule.source_total_query,
            environment=plan.environment.key,
        )
    return sdk_source


def observe(
    plan: RolloutPlan, rule: HealthRule, runtime: core.PlanRuntime, now: float, sdk_source: MetricSource
) -> core.RuleObservation:
    """Counts for one rule: per stage served in the current run, and over the rule's window.

    Times are widened to whole metric buckets: a bucket that straddles a boundary counts for
    the later period, so no report is lost between two stages.
    """
    try:
        source = source_for(plan, rule, sdk_source)
    except SourceError as exc:  # e.g. a JSON path it cannot parse: this rule has no data, the others still count
        logger.warning("Health rule %s of %s cannot be read: %s", rule.key, plan, exc)
        return core.RuleObservation(rule_id=rule.key)

    def arm(variant: str, since: float, until: float | None) -> core.ArmCounts:
        measurement = source.measure(
            plan.environment_id,
            plan.flag.key,
            [variant],
            bucket_start(_moment(since)),
            bucket_start(_moment(until)) if until is not None else None,
        )
        return _arm_counts(measurement, rule)

    def period(since: float, until: float | None) -> core.SegmentCounts:
        return core.SegmentCounts(
            treatment=arm(plan.treatment_variant, since, until), control=arm(plan.control_variant, since, until)
        )

    run_started_at = runtime.run_started_at or now
    window_start = max(now - rule.window_s, run_started_at)
    try:
        if isinstance(source, HttpJsonSource):  # one number about the treatment, no per-stage counts
            return core.RuleObservation(
                rule_id=rule.key, window=core.SegmentCounts(treatment=arm(plan.treatment_variant, window_start, None))
            )
        starts = list(runtime.segment_starts)
        segments = tuple(
            period(start, starts[i + 1] if i + 1 < len(starts) else None) for i, start in enumerate(starts)
        )
        return core.RuleObservation(rule_id=rule.key, segments=segments, window=period(window_start, None))
    except SourceError as exc:
        logger.warning("Health rule %s of %s has no data this tick: %s", rule.key, plan, exc)
        return core.RuleObservation(rule_id=rule.key)


def _arm_counts(measurement: Measurement, rule: HealthRule | None) -> core.ArmCounts:
    """The decision core's counts for one arm (``rule`` None: the traffic of the sample-ratio check)."""
    if isinstance(measurement, float | int):
        # An external value is taken as a measured rate over many requests: no sampling noise.
        rate = min(max(float(measurement), 0.0), 1.0)
        return core.ArmCounts(total=HTTP_SOURCE_WEIGHT, events=round(rate * HTTP_SOURCE_WEIGHT))
    if rule is not None and rule.metric == HealthRule.Metric.LATENCY:
        return core.ArmCounts(
            total=sum(measurement.histogram),
            histogram=tuple(measurement.histogram),
            group_histograms=measurement.unit_histograms,
            ungrouped=measurement.ungrouped,
        )
    return core.ArmCounts(
        total=measurement.requests,
        events=measurement.errors,
        groups=tuple(zip(measurement.unit_requests, measurement.unit_errors, strict=True)),
        ungrouped=measurement.ungrouped,
    )


def sample_ratio_traffic(
    plan: RolloutPlan, runtime: core.PlanRuntime, now: float, sdk_source: MetricSource
) -> tuple[core.SegmentCounts, ...]:
    """Both arms' SDK health signals per stage of the run, each from the stage's start plus
    ``ROLLOUTS_SAMPLE_RATIO_SETTLE_S`` (SDKs need a moment to pick up a new split): ``Gates.traffic``."""
    starts = list(runtime.segment_starts)
    segments = []
    for i, start in enumerate(starts):
        since = start + settings.ROLLOUTS_SAMPLE_RATIO_SETTLE_S
        until = starts[i + 1] if i + 1 < len(starts) else None
        if since >= (until if until is not None else now):
            segments.append(core.SegmentCounts())
            continue
        arms = [
            _arm_counts(
                sdk_source.measure(
                    plan.environment_id,
                    plan.flag.key,
                    [variant],
                    bucket_start(_moment(since)),
                    bucket_start(_moment(until)) if until is not None else None,
                ),
                None,
            )
            for variant in (plan.treatment_variant, plan.control_variant)
        ]
        segments.append(core.SegmentCounts(treatment=arms[0], control=arms[1]))
    return tuple(segments)


def gates(plan: RolloutPlan, runtime: core.PlanRuntime, now: float) -> core.Gates:
    """Call the current stage's external check once its dwell is over (Flagger's confirm-promotion)."""
    stage = plan.stages.all()[runtime.stage_index]
    if not stage.external_check_url or runtime.stage_started_at is None:
        return core.Gates()
    if now < runtime.stage_started_at + stage.min_dwell_s:
        return core.Gates(external_check_ok=None)
    try:
        answer = outbound.request("GET", stage.external_check_url, timeout=settings.ROLLOUTS_EXTERNAL_CHECK_TIMEOUT_S)
    except outbound.OutboundError as exc:
        logger.info("External check of %s failed: %s", plan, exc)
        return core.Gates(external_check_ok=False)
    if not answer.ok:
        logger.info("External check of %s answered %s", plan, answer.summary)
    return core.Gates(external_check_ok=answer.ok)


def _apply(plan: RolloutPlan, spec: core.PlanSpec, outcome: core.Decision, actor: Actor, reason: str) -> Decision:
    """Persist a decision: plan state, flag split, decision log, audit entry, webhooks."""
    before = plan_snapshot(plan)
    runtime = outcome.runtime
    percent = _percent(outcome.percent)
    split_changes = percent != plan.percent or outcome.action in ("start", "resume")
    plan.status = runtime.status
    plan.stage_index = runtime.stage_index
    plan.percent = percent
    plan.waiting_on = outcome.waiting_on
    plan.status_reason = runtime.reason
    plan.runtime = dump_runtime(runtime)
    plan.evaluated_at = _moment(outcome.at)
    plan.save()
    if split_changes:
        _serve(plan, percent, actor, outcome.reason, turn_on=outcome.action in ("start", "resume"))
    entry = _log(plan, outcome, actor)
    transaction.on_commit(lambda: ROLLOUT_DECISIONS.labels(outcome.action).inc())
    if outcome.changed or outcome.action in ("approve", "advance", "complete"):
        record(
            actor,
            f"rollout.{outcome.action}",
            plan,
            before=before,
            after=plan_snapshot(plan),
            reason=reason or outcome.reason,
            project=plan.flag.project,
            environment=plan.environment,
        )
        _notify(plan, outcome, actor)
    return entry


def _notify(plan: RolloutPlan, outcome: core.Decision, actor: Actor) -> None:
    event = actions.event_of(outcome.action)
    if event:
        notify(
            plan.flag.project,
            event,
            {
                "plan": plan.pk,
                "flag": plan.flag.key,
                "environment": plan.environment.key,
                "status": plan.status,
                "stage": plan.stage_index + 1,
                "percent": str(plan.percent),
                "reason": outcome.reason,
                "actor": actor.label,
            },
        )


def _serve(plan: RolloutPlan, percent: Decimal, actor: Actor, reason: str, *, turn_on: bool) -> None:
    """Give ``percent`` of the flag's fallthrough to the treatment, the rest to the control.

    Only starting or resuming a plan turns the flag on. Any other step leaves ``on`` as it is
    now: the engine read the flag state at the start of its tick, without a lock, and a person
    may have used the kill switch since; the next tick sees the flag off and pauses the plan.
    """
    treatment_weight = int(percent * 1000)
    split = [
        {"variant": plan.treatment_variant, "weight": treatment_weight},
        {"variant": plan.control_variant, "weight": BUCKET_SPACE - treatment_weight},
    ]
    changes: dict[str, Any] = {"default_serve": {"split": split}}
    if turn_on and plan.status == RolloutPlan.Status.RUNNING:
        changes["on"] = True
    state = flag_services.get_state(plan.flag, plan.environment)
    flag_services.update_flag_state(state, actor, changes, reason=reason, action="flag.rollout_split")


def _log(plan: RolloutPlan, outcome: core.Decision, actor: Actor) -> Decision:
    """Write the decision; consecutive holds waiting on the same thing fold into one entry."""
    at = _moment(outcome.at)
    fields = {
        "run_number": outcome.runtime.run_number,
        "stage_index": outcome.stage_index,
        "action": outcome.action,
        "percent": _percent(outcome.percent),
        "status": outcome.runtime.status,
        "waiting_on": outcome.waiting_on,
        "reason": outcome.reason,
        "outcomes": [outcome_dict(o) for o in outcome.outcomes],
        "actor": actor.label,
    }
    if outcome.action == "hold":
        last = plan.decisions.order_by("-at", "-id").first()
        same = ("run_number", "stage_index", "action", "waiting_on", "status")
        if last is not None and all(getattr(last, key) == fields[key] for key in same):
            last.last_seen_at = at
            last.repeats += 1
            last.reason = fields["reason"]
            last.outcomes = fields["outcomes"]
            last.save(update_fields=["last_seen_at", "repeats", "reason", "outcomes"])
            return last
    return Decision.objects.create(plan=plan, at=at, last_seen_at=at, **fields)
