"""Every write to a rollout plan: people's actions and the engine's ticks share one code path.

Each function locks the plan row, asks the pure core what happens (``decision.decide`` for a
tick, ``transitions`` for a person's action) and applies the ``Step`` in the same transaction:
the plan's state, the flag's split (through ``flags.services.update_flag_state``, so the SDK
document is rebuilt and the change audited), the Decision log entry, the audit entry and the
webhook notifications. What a tick reads first (metrics, the external check) is in
``tick_inputs.py``; the stored runtime is read only through ``specs.load_runtime``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, close_old_connections, transaction
from django.db.models import OuterRef, Subquery

from controlplane import broker
from controlplane.audit import actions as audit_actions
from controlplane.audit.services import ROLLOUT_ENGINE, Actor, record
from controlplane.flags import services as flag_services
from controlplane.flags.models import Flag, FlagState
from controlplane.flags.serving import variant_share
from controlplane.notifications.services import notify
from controlplane.observability.metrics import ROLLOUT_DECISIONS, ROLLOUT_TICK_SECONDS, ROLLOUT_TICKS
from controlplane.projects.models import Environment
from controlplane.rollouts import actions, clock, measurements, stored_sources, tick_inputs, tick_writes, transitions
from controlplane.rollouts.decision import Step, decide
from controlplane.rollouts.errors import PlanError, TransitionError, TransitionRefused
from controlplane.rollouts.models import Decision, HealthRule, RolloutPlan, SourceCounts, Stage
from controlplane.rollouts.plan_fields import PLAN_FIELDS, RULE_FIELDS, STAGE_FIELDS
from controlplane.rollouts.plan_spec import PlanRuntime, PlanSpec
from controlplane.rollouts.specs import dump_runtime, load_runtime, outcome_dict, plan_spec
from controlplane.rollouts.validation import validate_plan
from controlplane.rollouts.wording import format_percent
from flagplane.bucketing import BUCKET_SPACE

logger = logging.getLogger(__name__)


def _percent(value: float) -> Decimal:
    return Decimal(str(round(value, 3))).quantize(Decimal("0.001"))


def plan_snapshot(plan: RolloutPlan) -> dict[str, Any]:
    return {"status": plan.status, "stage": plan.stage_index + 1, "percent": float(plan.percent)}


def definition(plan: RolloutPlan) -> dict[str, Any]:
    """The plan as people define it (what the API accepts), for audit diffs."""
    return {
        **{field: getattr(plan, field) for field in PLAN_FIELDS},
        "stages": [
            {**{field: getattr(s, field) for field in STAGE_FIELDS}, "percent": float(s.percent)}
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
    plan = RolloutPlan(flag=flag, environment=environment, created_by=actor.user_or_none)
    _write_definition(plan, normalized)
    record(
        actor,
        audit_actions.ROLLOUT_CREATE,
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
            audit_actions.ROLLOUT_UPDATE,
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
        audit_actions.ROLLOUT_DELETE,
        plan,
        before=definition(plan),
        reason=reason,
        project=plan.flag.project,
        environment=plan.environment,
    )
    plan.delete()


def _locked(plan_id: int) -> RolloutPlan:
    """The plan, locked (waiting for another transaction that holds it)."""
    queryset = RolloutPlan.objects.select_for_update(of=("self",)).select_related("flag__project", "environment")
    return queryset.get(pk=plan_id)


def _person_action(
    plan: RolloutPlan,
    actor: Actor,
    reason: str,
    transition: Callable[[PlanSpec, PlanRuntime, float], Step],
) -> RolloutPlan:
    with transaction.atomic():
        plan = _locked(plan.pk)
        spec = plan_spec(plan)
        try:
            step = transition(spec, load_runtime(plan), clock.now())
        except TransitionError as exc:
            raise TransitionRefused(str(exc)) from exc
        if reason and reason not in step.reason:
            step = replace(step, reason=f"{step.reason} Reason given: {reason}")
        try:
            with transaction.atomic():
                _apply(plan, spec, step, actor, reason)
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

    def transition(spec: PlanSpec, runtime: PlanRuntime, now: float) -> Step:
        step = transitions.act(name, spec, runtime, now, reason=reason, stage=stage, by=actor.label)
        if before:
            served = format_percent(before)
            step = replace(step, reason=f"{step.reason} The treatment had {served} before.")
        return step

    return _person_action(plan, actor, reason, transition)


def _refuse_start_when_served_to_everyone(plan: RolloutPlan) -> float:
    """The treatment's share before a start; refused when the flag already serves it to everyone.

    Starting would take the treatment away from most users (down to stage 1), and a rollback
    would leave nobody on it. Otherwise the start decision says what share it had, if any.
    """
    before = variant_share(flag_services.get_state(plan.flag, plan.environment), plan.treatment_variant)
    if before == 100:
        raise TransitionRefused(
            f"{plan.flag.key} already serves {plan.treatment_variant} to everyone in {plan.environment.key}: "
            f"starting this plan would drop it to {format_percent(float(plan.stages.all()[0].percent))} "
            f"(stage 1). Nothing is left to roll out; to roll it out again, serve {plan.control_variant} "
            "by default (or turn the flag off) first."
        )
    return before


def evaluate(plan_id: int) -> Decision | None:
    """One engine tick for one plan (what a person's action queues); None if it is not active."""
    loaded = load_active([plan_id])
    return evaluate_batch(list(loaded.values())).get(plan_id)


@dataclass(frozen=True)
class LoadedPlan:
    """A plan as ``load_active`` read it at ``now`` (the tick's time): whether its flag was on at that
    moment (off: the kill switch), its runtime, and its SDK counts, measured with the batch's."""

    plan: RolloutPlan
    flag_on: bool
    runtime: PlanRuntime
    now: float
    sdk_counts: measurements.TickMeasurements


def load_active(plan_ids: Sequence[int]) -> dict[int, LoadedPlan]:
    """The active plans of ``plan_ids``, by id, with all a tick reads of them before it decides but
    the external check and other sources: flag (and whether it is on), project, environment,
    stages, rules, stored counts (``StageCounts`` of closed stages, ``RunningCounts`` of the open
    one, ``SourceCounts`` of a Prometheus rule's closed stages) and SDK counts, in seven queries for
    the whole batch. Nothing is locked: ``evaluate_batch`` checks under the lock that the plan has
    not changed since. A plan whose runtime or SDK counts cannot be read is logged and left out (the
    caller releases it with the plans that are not active)."""
    flag_on = FlagState.objects.filter(flag=OuterRef("flag_id"), environment=OuterRef("environment_id")).values("on")
    plans = (
        RolloutPlan.objects.filter(pk__in=plan_ids, status__in=RolloutPlan.ACTIVE)
        .select_related("flag__project", "environment")
        .prefetch_related("stages", "rules__source_counts")
        .annotate(flag_on=Subquery(flag_on))
        .order_by()
    )
    stored = measurements.stored_counts([plan.pk for plan in plans])
    now = clock.now()
    loaded = {}
    for plan in plans:
        try:
            runtime = load_runtime(plan)
            sdk_counts = tick_inputs.sdk_source(plan, runtime, now, stored[plan.pk])
            loaded[plan.pk] = LoadedPlan(plan, bool(plan.flag_on), runtime, now, sdk_counts)
        except Exception:
            _failed("The evaluation of rollout plan %s failed", plan.pk)

    def failed(source: measurements.TickMeasurements) -> None:
        _failed("The SDK counts of rollout plan %s failed", source.plan.pk)
        del loaded[source.plan.pk]

    measurements.prefetch([item.sdk_counts for item in loaded.values()], failed)
    return loaded


def evaluate_batch(
    batch: Sequence[LoadedPlan], done: Callable[[list[int]], None] = lambda plan_ids: None
) -> dict[int, Decision | None]:
    """One engine tick for each plan of ``batch`` as ``load_active`` read it; each plan's log
    entry, None where this tick did nothing. ``done`` is told which plans are evaluated, as they are.

    The slow part (metric queries, HTTP sources, the external check) runs before the plan is
    locked, so a person's rollback never waits for a slow endpoint; so is the decision (pure: the
    plan as read and what was measured). A transition (advance, rollback, pause, complete) is
    written at once, under the plan's lock, with the counts the tick stores, in its own transaction;
    the batch's holds are written together at the end, in one (``tick_writes.write_holds``). Either
    is written only if nobody changed the plan since it was read; otherwise (or if another worker
    holds the plan right now) this tick does nothing of the plan and the next one decides. A
    running plan whose flag was off when the batch was read (the kill switch) is paused; if the
    flag was turned on or off since, this tick is skipped and the next one decides (pauses). A
    plan whose evaluation fails is logged without stopping the others; so is a plan whose hold
    fails to be written (the others' holds are written each alone then).
    """
    entries: dict[int, Decision | None] = {}
    holds: list[_Held] = []
    for loaded in batch:
        try:
            held = _decide(loaded)
            if held.hold is not None:
                holds.append(held)
                continue
            entries[loaded.plan.pk] = _transition(held)
        except Exception:
            _failed("The evaluation of rollout plan %s failed", loaded.plan.pk)
        done([loaded.plan.pk])
    try:
        entries.update(_write_holds_apart(holds))
    finally:
        done([held.loaded.plan.pk for held in holds])
    return entries


def _failed(message: str, *args: Any) -> None:
    logger.exception(message, *args)
    ROLLOUT_TICKS.labels("failed").inc()
    close_old_connections()  # a broken connection is not handed to the next plan


def _write_holds_apart(holds: Sequence[_Held]) -> dict[int, Decision | None]:
    """The holds written together; if that fails, each alone (its own transaction), so that a plan
    whose write fails loses only its own hold."""
    try:
        return _write_holds(holds)
    except Exception:
        if len(holds) == 1:
            _failed("The hold of rollout plan %s failed", holds[0].loaded.plan.pk)
            return {}
        logger.warning("The holds of rollout plans %s failed together; writing each alone",
                       [held.loaded.plan.pk for held in holds], exc_info=True)  # fmt: skip
        close_old_connections()
    entries: dict[int, Decision | None] = {}
    for held in holds:
        entries.update(_write_holds_apart([held]))
    return entries


@dataclass(frozen=True)
class _Held:
    """A plan's decision of this tick, not written yet; ``hold``: what it writes if it is a hold
    (it changes nothing but the plan's runtime, what it waits on and its log)."""

    loaded: LoadedPlan
    spec: PlanSpec
    step: Step
    closed: list[SourceCounts]
    started: float
    hold: tick_writes.Hold | None


def _decide(loaded: LoadedPlan) -> _Held:
    started = time.perf_counter()
    plan, runtime, now = loaded.plan, loaded.runtime, loaded.now
    observations, stage_gates, closed = tick_inputs.read(plan, runtime, now, loaded.sdk_counts)
    spec = plan_spec(plan)  # an active plan's stages and rules never change
    if not loaded.flag_on and plan.status == RolloutPlan.Status.RUNNING:
        reason = f"the flag was turned off in {plan.environment.key} (kill switch)"
        step = transitions.pause(spec, runtime, now, reason)
    else:
        step = decide(spec, runtime, now, observations, stage_gates)
    hold = None
    if step.action == "hold" and not step.changed and _percent(step.percent) == plan.percent:
        read = tick_writes.Read(plan, loaded.flag_on)
        at = clock.moment(step.at)
        hold = tick_writes.Hold(read, dump_runtime(step.runtime), step.waiting_on, at, _entry(step, ROLLOUT_ENGINE))
    return _Held(loaded, spec, step, closed, started, hold)


def _transition(held: _Held) -> Decision | None:
    with transaction.atomic():  # one commit for the tick's writes
        if not tick_writes.claim(tick_writes.Read(held.loaded.plan, held.loaded.flag_on), _decided_state(held.step)):
            ROLLOUT_TICKS.labels("skipped").inc()
            return None
        measurements.store_many([held.loaded.sdk_counts])
        stored_sources.store(held.closed)
        entry = _apply(held.loaded.plan, held.spec, held.step, ROLLOUT_ENGINE, "", claimed=True)
    ROLLOUT_TICKS.labels("decided").inc()
    ROLLOUT_TICK_SECONDS.observe(time.perf_counter() - held.started)
    return entry


def _write_holds(holds: Sequence[_Held]) -> dict[int, Decision | None]:
    with transaction.atomic():
        written = tick_writes.write_holds([held.hold for held in holds if held.hold is not None])
        measurements.store_many([held.loaded.sdk_counts for held in holds if held.loaded.plan.pk in written])
        stored_sources.store([row for held in holds if held.loaded.plan.pk in written for row in held.closed])
        transaction.on_commit(lambda: ROLLOUT_DECISIONS.labels("hold").inc(len(written)))
    ended = time.perf_counter()
    for held in holds:
        if held.loaded.plan.pk in written:
            ROLLOUT_TICKS.labels("decided").inc()
            ROLLOUT_TICK_SECONDS.observe(ended - held.started)
        else:
            ROLLOUT_TICKS.labels("skipped").inc()
    return {held.loaded.plan.pk: written.get(held.loaded.plan.pk) for held in holds}


def _decided_state(step: Step) -> dict[str, Any]:
    """What a decision writes of a plan (the rest is its definition, fixed while it is active)."""
    runtime = step.runtime
    return {
        "status": runtime.status,
        "stage_index": runtime.stage_index,
        "percent": _percent(step.percent),
        "waiting_on": step.waiting_on,
        "status_reason": runtime.reason,
        "runtime": dump_runtime(runtime),
        "evaluated_at": clock.moment(step.at),
    }


def _apply(
    plan: RolloutPlan, spec: PlanSpec, step: Step, actor: Actor, reason: str, *, claimed: bool = False
) -> Decision:
    """Persist a decision: plan state (unless ``claimed`` wrote it already), flag split, decision
    log, audit entry, webhooks."""
    before = plan_snapshot(plan)
    decided = _decided_state(step)
    split_changes = decided["percent"] != plan.percent or step.action in ("start", "resume")
    for field, value in decided.items():
        setattr(plan, field, value)
    if not claimed:
        plan.save(update_fields=[*decided, "updated_at"])
    if split_changes:
        _serve(plan, decided["percent"], actor, step.reason, turn_on=step.action in ("start", "resume"))
    entry = _log(plan, step, actor)
    transaction.on_commit(lambda: ROLLOUT_DECISIONS.labels(step.action).inc())
    if step.changed or step.action in ("approve", "advance", "complete"):
        record(
            actor,
            audit_actions.rollout_decision(step.action),
            plan,
            before=before,
            after=plan_snapshot(plan),
            reason=reason or step.reason,
            project=plan.flag.project,
            environment=plan.environment,
        )
        _notify(plan, step, actor)
    return entry


def _notify(plan: RolloutPlan, step: Step, actor: Actor) -> None:
    event = actions.event_of(step.action)
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
                "percent": float(plan.percent),
                "reason": step.reason,
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
    flag_services.update_flag_state(state, actor, changes, reason=reason, action=audit_actions.FLAG_ROLLOUT_SPLIT)


def _log(plan: RolloutPlan, step: Step, actor: Actor) -> Decision:
    at = clock.moment(step.at)
    return Decision.objects.create(plan=plan, at=at, last_seen_at=at, **_entry(step, actor))


def _entry(step: Step, actor: Actor) -> dict[str, Any]:
    """The fields of ``step``'s log entry but its times."""
    return {
        "run_number": step.runtime.run_number,
        "stage_index": step.stage_index,
        "action": step.action,
        "percent": _percent(step.percent),
        "status": step.runtime.status,
        "waiting_on": step.waiting_on,
        "reason": step.reason,
        "outcomes": [outcome_dict(o) for o in step.outcomes],
        "actor": actor.label,
    }
