"""A person's actions on a rollout: start, pause, resume, approve, promote, roll back, cancel.

Pure like ``decide``: each takes the plan, its state and the time and returns the ``Step`` to
apply, or refuses with ``TransitionError`` from a status the actions table (``actions.py``) does
not allow it from. ``services.act`` calls them under the plan's row lock.
"""

from __future__ import annotations

from dataclasses import replace

from . import actions
from .decision import Step, enter_stage, make_step
from .errors import TransitionError
from .plan_spec import PlanRuntime, PlanSpec
from .wording import stage_label, who


def _require(runtime: PlanRuntime, name: str) -> None:
    """Refuse a person's action from a status the actions table does not allow it from."""
    action = actions.BY_NAME[name]
    if runtime.status not in action.allowed_from:
        raise TransitionError(
            f"cannot {action.verb} a rollout that is {runtime.status} (allowed from: {', '.join(action.allowed_from)})"
        )


def start(plan: PlanSpec, runtime: PlanRuntime, now: float, by: str = "") -> Step:
    """draft -> running at stage 1 (a new run)."""
    _require(runtime, "start")
    after = enter_stage(runtime, 0, now, new_run=True)
    reason = f"Started{who(by)} at {stage_label(plan, 0)}."
    return make_step(plan, runtime, after, now, "start", reason, actor="person", stage_index=0)


def pause(plan: PlanSpec, runtime: PlanRuntime, now: float, reason: str = "", by: str = "") -> Step:
    """running -> paused; the treatment keeps its current percentage."""
    _require(runtime, "pause")
    why = reason or "paused by a person"
    text = f"Paused{who(by)} at {stage_label(plan, runtime.stage_index)}: {why}."
    after = replace(runtime, status="paused", reason=text)
    return make_step(plan, runtime, after, now, "pause", text, actor="person")


def resume(
    plan: PlanSpec,
    runtime: PlanRuntime,
    now: float,
    from_stage: int | None = None,
    by: str = "",
) -> Step:
    """paused or rolled_back -> running at ``from_stage`` (0-based).

    Default stage: the current one when paused, the first one after a
    rollback. Every resume starts a new run: a fresh dwell clock and a fresh
    statistical baseline (counts served before ``now`` are no longer used),
    because the treatment may have been fixed and old evidence would either
    re-fire a stale failure or vouch for a different build. Works any number
    of times.
    """
    _require(runtime, "resume")
    if from_stage is None:
        from_stage = runtime.stage_index if runtime.status == "paused" else 0
    if not 0 <= from_stage < len(plan.stages):
        raise TransitionError(f"from_stage must be between 0 and {len(plan.stages) - 1}")
    after = enter_stage(runtime, from_stage, now, new_run=True)
    reason = f"Resumed{who(by)} at {stage_label(plan, from_stage)} (run {after.run_number})."
    return make_step(plan, runtime, after, now, "resume", reason, actor="person", stage_index=from_stage)


def approve(plan: PlanSpec, runtime: PlanRuntime, now: float, stage_index: int | None = None, by: str = "") -> Step:
    """Record a person's approval of the current stage (running or paused).

    Allowed only when the current stage needs approval and is not approved
    yet; ``stage_index`` (if given) must be the current stage, so that a stale
    approval click cannot approve a later stage.
    """
    _require(runtime, "approve")
    current = runtime.stage_index
    if stage_index is not None and stage_index != current:
        raise TransitionError(f"cannot approve stage {stage_index + 1}: the rollout is at stage {current + 1}")
    if not plan.stages[current].needs_approval:
        raise TransitionError(f"stage {current + 1} does not need approval")
    if runtime.approved_stage_index == current:
        raise TransitionError(f"stage {current + 1} is already approved")
    after = replace(runtime, approved_stage_index=current)
    reason = f"Approved{who(by)}: {stage_label(plan, current)} may advance once its other gates pass."
    return make_step(plan, runtime, after, now, "approve", reason, actor="person")


def promote(plan: PlanSpec, runtime: PlanRuntime, now: float, reason: str = "", by: str = "") -> Step:
    """Skip the remaining wait: advance to the next stage now (or complete).

    From running the statistical baseline continues (a new segment); from
    paused it is a resume at the next stage and starts a new run.
    """
    _require(runtime, "promote")
    current = runtime.stage_index
    why = f": {reason}" if reason else ""
    if current == len(plan.stages) - 1:
        text = f"Completed{who(by)} at {stage_label(plan, current)} by promotion{why}."
        after = replace(runtime, status="completed", reason=text)
        return make_step(plan, runtime, after, now, "complete", text, actor="person")
    after = enter_stage(runtime, current + 1, now, new_run=runtime.status == "paused")
    text = f"Promoted{who(by)} from {stage_label(plan, current)} to {stage_label(plan, current + 1)}{why}."
    return make_step(plan, runtime, after, now, "advance", text, actor="person")


def rollback(plan: PlanSpec, runtime: PlanRuntime, now: float, reason: str = "", by: str = "") -> Step:
    """running or paused -> rolled_back; the treatment goes to 0%."""
    _require(runtime, "rollback")
    why = reason or "rolled back by a person"
    text = f"Rolled back{who(by)} at {stage_label(plan, runtime.stage_index)}: {why}."
    after = replace(runtime, status="rolled_back", reason=text)
    return make_step(plan, runtime, after, now, "rollback", text, actor="person")


def cancel(plan: PlanSpec, runtime: PlanRuntime, now: float, reason: str = "", by: str = "") -> Step:
    """draft, running, paused or rolled_back -> cancelled (terminal); treatment 0%."""
    _require(runtime, "cancel")
    why = f": {reason}" if reason else ""
    text = f"Cancelled{who(by)}{why}."
    after = replace(runtime, status="cancelled", reason=text)
    return make_step(plan, runtime, after, now, "cancel", text, actor="person")


def act(
    name: str,
    plan: PlanSpec,
    runtime: PlanRuntime,
    now: float,
    *,
    reason: str = "",
    stage: int | None = None,
    by: str = "",
) -> Step:
    """A person's action by its name in ``actions.PERSON_ACTIONS``.

    ``stage`` (0-based) is read by the actions with a ``stage_field`` (resume: where to restart;
    approve: the stage the person looked at); the others record ``reason`` in their decision.
    """
    if name == "start":
        return start(plan, runtime, now, by=by)
    if name == "resume":
        return resume(plan, runtime, now, stage, by=by)
    if name == "approve":
        return approve(plan, runtime, now, stage, by=by)
    with_reason = {"pause": pause, "promote": promote, "rollback": rollback, "cancel": cancel}
    if name not in with_reason:
        raise TransitionError(f"no person's action is called {name!r}")
    return with_reason[name](plan, runtime, now, reason, by=by)
