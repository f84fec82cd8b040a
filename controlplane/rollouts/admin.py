"""The rollout admin: plans with their stages and rules, people's actions, and what the engine decided.

A plan's page (``<id>/change/``) shows its state, the action buttons, a timeline chart, the latest
rule outcomes and the decision log, and, while the plan is a draft, the editor of its definition.
Actions post to ``<id>/act/<action>/`` (rollback and cancel through a confirmation page). Every
write calls ``controlplane.rollouts.services``; decisions are never edited here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from controlplane.access import policy
from controlplane.access.admin_mixins import RoleAdminMixin, environments_where
from controlplane.admin_pages import page_context
from controlplane.audit.services import Actor
from controlplane.readonly_admin import ReadOnlyAdmin
from controlplane.rollouts import actions, charts, services
from controlplane.rollouts.actions import RolloutAction
from controlplane.rollouts.errors import PlanError, TransitionRefused
from controlplane.rollouts.forms import ActionForm, PlanEditor
from controlplane.rollouts.models import Decision, RolloutPlan, Stage
from controlplane.rollouts.specs import load_runtime

REFRESH_SECONDS = 10
DECISIONS_SHOWN = 200
WAITING_ON = {
    "dwell": "the stage's minimum dwell time",
    "min_samples": "enough samples for every rule",
    "evidence": "evidence that the treatment is no worse",
    "approval": "a person's approval",
    "external_check": "the external check",
    "person": "a person (paused)",
}
STATUS_COLORS = {
    "draft": "#757575",
    "running": "#1565c0",
    "paused": "#ef6c00",
    "completed": "#2e7d32",
    "rolled_back": "#c62828",
    "cancelled": "#424242",
}
VERDICT_COLORS = {"pass": "#2e7d32", "fail": "#c62828", "inconclusive": "#ef6c00", "insufficient_data": "#757575"}
ACTION_COLORS = {"rollback": "#c62828", "pause": "#ef6c00", "complete": "#2e7d32", "cancel": "#424242"}


def percent_text(value: Decimal | float | None) -> str:
    if value is None:
        return "—"
    text = f"{Decimal(str(value)).normalize():f}"
    return f"{text}%"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min" + (f" {seconds % 60} s" if seconds % 60 else "")
    hours, minutes = divmod(seconds // 60, 60)
    return f"{hours} h" + (f" {minutes} min" if minutes else "")


def badge(text: str, color: str) -> str:
    return format_html('<span class="fp-badge" style="background: {}">{}</span>', color, text)


# --- what a plan's page shows -------------------------------------------------------------------


def available_transitions(plan: RolloutPlan) -> list[RolloutAction]:
    """The buttons to show (``actions.PERSON_ACTIONS`` allowed from the plan's status); the
    services still decide, and refuse with a message. Approve only while the stage waits for it."""
    stages = list(plan.stages.all())
    current = stages[plan.stage_index] if plan.stage_index < len(stages) else None
    approved = load_runtime(plan).approved_stage_index == plan.stage_index
    wants_approval = current is not None and current.needs_approval and not approved
    return [action for action in actions.available_to_person(plan.status) if action.name != "approve" or wants_approval]


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}%"


def _points(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:+.2f} pp"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms"


def outcome_row(outcome: dict[str, Any]) -> dict[str, Any]:
    """One rule outcome with its numbers in the units people read (%, pp, ms)."""
    latency = outcome.get("metric") == "latency_p"
    comparison = outcome.get("comparison")
    value = _ms if latency else _rate
    statistic = value if comparison == "absolute_threshold" else _points
    if comparison == "vs_control_relative":
        threshold = f"+{outcome['threshold'] * 100:g}% of control" if outcome.get("threshold") is not None else "—"
    elif comparison == "absolute_threshold":
        threshold = f"≤ {value(outcome.get('threshold'))}"
    else:
        threshold = f"+{_ms(outcome.get('threshold'))}" if latency else _points(outcome.get("threshold"))
    lower, upper = outcome.get("lower"), outcome.get("upper")
    return {
        "rule_id": outcome.get("rule_id", "?"),
        "verdict": outcome.get("verdict", "?"),
        "verdict_badge": badge(str(outcome.get("verdict", "?")).replace("_", " "),
                               VERDICT_COLORS.get(outcome.get("verdict"), "#757575")),
        "severity": outcome.get("severity", ""),
        "treatment": f"{outcome.get('treatment_events', 0)} / {outcome.get('treatment_n', 0)}",
        "control": f"{outcome.get('control_events', 0)} / {outcome.get('control_n', 0)}",
        "treatment_value": value(outcome.get("treatment_value")),
        "control_value": value(outcome.get("control_value")),
        "statistic": statistic(outcome.get("statistic")),
        "bounds": "—" if lower is None and upper is None else f"[{_points(lower)}, {_points(upper)}]",
        "threshold": threshold,
        "cutoff": _ms(outcome.get("cutoff")) if outcome.get("cutoff") is not None else "",
        "basis": _basis(outcome),
        "summary": outcome.get("summary", ""),
    }  # fmt: skip


def _basis(outcome: dict[str, Any]) -> str:
    """How a comparative rule was judged: per unit (design effect, unit groups) or per request."""
    if outcome.get("basis") == "requests":
        return "per request (old SDKs: no unit groups), variance x4"
    if outcome.get("basis") != "units" or outcome.get("treatment_groups") is None:
        return "—"
    deff = outcome.get("design_effect")
    groups = f"{outcome['treatment_groups']:.0f} / {outcome.get('control_groups') or 0:.0f} unit groups"
    return f"per unit: design effect {deff:.1f}, {groups}" if deff is not None else f"per unit: {groups}"


def stage_rows(plan: RolloutPlan) -> list[dict[str, Any]]:
    rows = []
    for stage in plan.stages.all():
        if plan.status == RolloutPlan.Status.DRAFT:
            state = ""
        elif plan.status == RolloutPlan.Status.COMPLETED or stage.position < plan.stage_index:
            state = "done"
        elif stage.position == plan.stage_index:
            state = "current"
        else:
            state = ""
        rows.append({"stage": stage, "number": stage.position + 1, "percent": percent_text(stage.percent),
                     "dwell": duration(stage.min_dwell_s), "state": state})  # fmt: skip
    return rows


def plan_page_context(plan: RolloutPlan) -> dict[str, Any]:
    decisions = list(plan.decisions.all()[:DECISIONS_SHOWN])
    latest = next((decision for decision in decisions if decision.outcomes), None)
    if latest is None and len(decisions) == DECISIONS_SHOWN:
        latest = plan.decisions.exclude(outcomes=[]).first()
    stages = list(plan.stages.all())
    return {
        "status_badge": badge(plan.get_status_display(), STATUS_COLORS.get(plan.status, "#757575")),
        "stage_number": plan.stage_index + 1,
        "stage_count": len(stages),
        "percent": percent_text(plan.percent),
        "waiting_on": WAITING_ON.get(plan.waiting_on, plan.waiting_on),
        "run_number": load_runtime(plan).run_number,
        "stages": stage_rows(plan),
        "rules": list(plan.rules.all()),
        "decisions": [
            {
                "decision": decision,
                "stage": decision.stage_index + 1,
                "percent": percent_text(decision.percent),
                "action_badge": badge(decision.action, ACTION_COLORS.get(decision.action, "#607d8b")),
                "waiting_on": WAITING_ON.get(decision.waiting_on, decision.waiting_on),
            }
            for decision in decisions
        ],
        "decision_count": plan.decisions.count(),
        "decisions_shown": DECISIONS_SHOWN,
        "outcomes_at": latest.last_seen_at if latest else None,
        "outcomes": [outcome_row(outcome) for outcome in (latest.outcomes if latest else [])],
        "chart": charts.plan_timeline(plan),
        "refresh_seconds": REFRESH_SECONDS if plan.is_active else None,
        "now": timezone.now(),
    }


# --- the admin ----------------------------------------------------------------------------------


@admin.register(RolloutPlan)
class RolloutPlanAdmin(RoleAdminMixin, admin.ModelAdmin):
    project_path = "flag__project"
    environment_path = "environment"
    write_action = "rollout.write"
    list_display = ["flag_key", "environment_key", "status_badge", "stage", "percent_served", "waiting",
                    "updated_at"]  # fmt: skip
    list_display_links = ["flag_key"]
    list_filter = ["status", ("environment", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["flag__project", "environment__project"]
    search_fields = ["flag__key", "name"]
    ordering = ["-updated_at"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("flag__project", "environment__project")
            .prefetch_related(Prefetch("stages", Stage.objects.order_by("position")), "rules")
        )

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # only drafts may be deleted, one by one, through the service
        return actions

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.status != RolloutPlan.Status.DRAFT:
            return False  # cancel a started plan instead: its history stays
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj: RolloutPlan) -> None:
        services.delete_plan(obj, Actor.for_user(request.user), reason="deleted in the admin")

    def may_act(self, request: HttpRequest, plan: RolloutPlan, name: str) -> bool:
        """The action's permission (approving is the approver's; every other action the editor's)."""
        return policy.can(request.user, actions.BY_NAME[name].permission, *self.scope_of(plan))

    # --- changelist columns --------------------------------------------------------------------

    @admin.display(description="Flag", ordering="flag__key")
    def flag_key(self, plan: RolloutPlan) -> str:
        return format_html(
            '<strong style="white-space: nowrap">{}</strong>{}', plan.flag.key, f" — {plan.name}" if plan.name else ""
        )

    @admin.display(description="Environment", ordering="environment__key")
    def environment_key(self, plan: RolloutPlan) -> str:
        return str(plan.environment)

    @admin.display(description="Status", ordering="status")
    def status_badge(self, plan: RolloutPlan) -> str:
        return badge(plan.get_status_display(), STATUS_COLORS.get(plan.status, "#757575"))

    @admin.display(description="Stage")
    def stage(self, plan: RolloutPlan) -> str:
        return f"{plan.stage_index + 1} of {len(plan.stages.all())}"

    @admin.display(description="Percent", ordering="percent")
    def percent_served(self, plan: RolloutPlan) -> str:
        return percent_text(plan.percent)

    @admin.display(description="Waiting on", ordering="waiting_on")
    def waiting(self, plan: RolloutPlan) -> str:
        return WAITING_ON.get(plan.waiting_on, plan.waiting_on) or "—"

    # --- pages ---------------------------------------------------------------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/act/<str:transition>/", wrap(self.transition_view),
                 name="rollouts_rolloutplan_act"),
            *super().get_urls(),
        ]  # fmt: skip

    def _plan(self, request: HttpRequest, object_id: str) -> RolloutPlan:
        plan = self.get_object(request, unquote(object_id))
        if plan is None:
            raise Http404("No such rollout plan.")
        return plan

    @staticmethod
    def _editor(request: HttpRequest, plan: RolloutPlan | None, initial: dict | None = None) -> tuple[PlanEditor, bool]:
        """The editor for this request, and whether to save it ("more rows" buttons only make room)."""
        if request.method != "POST":
            return PlanEditor(plan, initial=initial or {}), False
        more_stages, more_rules = "_more_stages" in request.POST, "_more_rules" in request.POST
        if more_stages or more_rules:
            return PlanEditor.with_more_room(plan, request.POST, stages=2 * more_stages, rules=int(more_rules)), False
        return PlanEditor(plan, request.POST), True

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        initial = {name: request.GET[name] for name in ("flag", "environment") if request.GET.get(name)}
        editor, save = self._editor(request, None, initial)
        fields = editor.form.fields
        fields["flag"].queryset = fields["flag"].queryset.filter(
            project__in=policy.projects_where(request.user, self.write_action)
        )
        fields["environment"].queryset = fields["environment"].queryset.filter(
            pk__in=environments_where(request.user, self.write_action)
        )
        if save and editor.is_valid():
            flag, environment = editor.target()
            if not policy.can(request.user, self.write_action, flag.project, environment):
                raise PermissionDenied
            try:
                plan = services.create_plan(flag, environment, Actor.for_user(request.user), editor.body(),
                                            editor.reason)  # fmt: skip
            except PlanError as exc:
                editor.show_errors(exc.errors)
            else:
                messages.success(request, f"Created the draft plan {plan}. Start it when you are ready.")
                return redirect(reverse("admin:rollouts_rolloutplan_change", args=[plan.pk]))
        return TemplateResponse(
            request,
            "admin/rollouts/rolloutplan/plan_form.html",
            page_context(self, request, "Add rollout plan", here="Add rollout plan", editor=editor, adding=True),
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        plan = self._plan(request, object_id)
        if not self.has_view_or_change_permission(request, plan):
            raise PermissionDenied
        can_change = self.has_change_permission(request, plan)
        editor = None
        if plan.status == RolloutPlan.Status.DRAFT and can_change:
            editor, save = self._editor(request, plan)
            if save and editor.is_valid():
                try:
                    services.update_plan(plan, Actor.for_user(request.user), editor.body(), editor.reason)
                except PlanError as exc:
                    editor.show_errors(exc.errors)
                else:
                    messages.success(request, f"Saved the draft plan {plan}.")
                    return redirect(request.path)
        elif request.method == "POST":
            messages.error(request, f"Only a draft plan can be edited; this one is {plan.get_status_display()}.")
            return redirect(request.path)
        transitions = [
            {"name": action.name, "transition": action,
             "form": ActionForm(plan=plan, initial={"stage": plan.stage_index + 1})}
            for action in available_transitions(plan) if self.may_act(request, plan, action.name)
        ]  # fmt: skip
        context = page_context(
            self,
            request,
            f"Rollout of {plan.flag.key} in {plan.environment}",
            plan,
            editor=editor,
            transitions=transitions,
            can_change=can_change,
            can_delete=self.has_delete_permission(request, plan),
            audit_url=reverse("admin:audit_auditentry_changelist") + f"?object_type=rolloutplan&object_id={plan.pk}",
            **plan_page_context(plan),
        )
        return TemplateResponse(request, "admin/rollouts/rolloutplan/plan.html", context)

    def transition_view(self, request: HttpRequest, object_id: str, transition: str) -> HttpResponse:
        """A person's action: POST with a reason; rollback and cancel ask for a confirmation first."""
        plan = self._plan(request, object_id)
        spec = actions.BY_NAME.get(transition)
        if spec is None or not spec.by_person:
            raise Http404("No such action.")
        if not self.may_act(request, plan, spec.name):
            raise PermissionDenied
        plan_url = reverse("admin:rollouts_rolloutplan_change", args=[plan.pk])
        if request.method != "POST":
            if not spec.confirm:
                return redirect(plan_url)
            form = ActionForm(plan=plan, reason_required=spec.reason_required)
            return self._confirmation(request, plan, transition, form)
        confirming = spec.confirm and request.POST.get("confirm") == "yes"
        form = ActionForm(request.POST, plan=plan, reason_required=spec.reason_required and confirming)
        if spec.confirm and not confirming:
            form = ActionForm(plan=plan, reason_required=spec.reason_required,
                              initial={"reason": request.POST.get("reason", "")})  # fmt: skip
            return self._confirmation(request, plan, transition, form)
        if not form.is_valid():
            if spec.confirm:
                return self._confirmation(request, plan, transition, form)
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, f"{spec.title} not done: {error}")
            return redirect(plan_url)
        reason = form.cleaned_data["reason"].strip()
        try:
            stage_number = form.cleaned_data.get(spec.stage_field) if spec.stage_field else None
            plan = services.act(plan, spec.name, Actor.for_user(request.user), reason, stage_number or None)
        except TransitionRefused as exc:
            messages.error(request, f"{spec.title} refused: {exc}")
        else:
            messages.success(
                request,
                f"{spec.title}: done. {plan} is {plan.get_status_display().lower()} at stage "
                f"{plan.stage_index + 1} ({percent_text(plan.percent)}).",
            )
        return redirect(plan_url)

    def _confirmation(self, request: HttpRequest, plan: RolloutPlan, transition: str, form: ActionForm):
        spec = actions.BY_NAME[transition]
        title = f"{spec.title} the rollout of {plan.flag.key} in {plan.environment}?"
        context = page_context(
            self,
            request,
            title,
            plan,
            here=spec.label,
            form=form,
            transition=transition,
            spec=spec,
            status_badge=badge(plan.get_status_display(), STATUS_COLORS.get(plan.status, "#757575")),
            percent=percent_text(plan.percent),
            stage_number=plan.stage_index + 1,
        )
        return TemplateResponse(request, "admin/rollouts/rolloutplan/confirm.html", context)


@admin.register(Decision)
class DecisionAdmin(RoleAdminMixin, ReadOnlyAdmin):
    project_path = "plan__flag__project"
    """The decision log of every plan, read-only: it is what happened."""

    list_display = ["at", "plan", "action", "stage_number", "percent", "status", "waiting_on", "repeats", "actor",
                    "reason"]  # fmt: skip
    list_filter = ["action", "status", ("plan__environment", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["plan__flag", "plan__environment__project"]
    search_fields = ["plan__flag__key", "reason", "actor"]
    date_hierarchy = "at"
    readonly_fields = ["plan", "at", "last_seen_at", "repeats", "run_number", "stage_index", "action", "percent",
                       "status", "waiting_on", "reason", "outcomes", "actor"]  # fmt: skip
    fields = readonly_fields

    def get_actions(self, request):
        return {}

    @admin.display(description="Stage", ordering="stage_index")
    def stage_number(self, decision: Decision) -> int:
        return decision.stage_index + 1
