"""REST API of rollout plans: CRUD of the whole plan in one JSON body, and its actions."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from controlplane.access import policy
from controlplane.api.common import StrictFields, actor_of, reason_of
from controlplane.api.permissions import HasRole, require, token_of
from controlplane.api.schema import documented
from controlplane.flags.models import Flag
from controlplane.metrics.queries import arm_counts
from controlplane.projects.models import Environment
from controlplane.rollouts import actions, services
from controlplane.rollouts.actions import RolloutAction
from controlplane.rollouts.models import Decision, HealthRule, RolloutPlan, Stage
from controlplane.rollouts.plan_fields import PLAN_FIELDS, STAGE_FIELDS
from controlplane.rollouts.specs import load_runtime


class StageSerializer(StrictFields, serializers.ModelSerializer):
    class Meta:
        model = Stage
        fields = list(STAGE_FIELDS)


class RuleSerializer(StrictFields, serializers.Serializer):
    """A health rule as the API shows it: every field of ``plan_fields.RULE_FIELDS``."""

    key = serializers.SlugField()
    name = serializers.CharField(required=False, allow_blank=True)
    metric = serializers.ChoiceField(HealthRule.Metric.values)
    comparison = serializers.ChoiceField(HealthRule.Comparison.values)
    threshold = serializers.FloatField()
    percentile = serializers.FloatField(required=False, allow_null=True)
    window_s = serializers.IntegerField(required=False)
    min_samples = serializers.IntegerField(required=False)
    severity = serializers.ChoiceField(HealthRule.Severity.values, required=False)
    source = serializers.ChoiceField(HealthRule.Source.values, required=False)
    source_url = serializers.URLField(required=False, allow_blank=True)
    source_json_path = serializers.CharField(required=False, allow_blank=True)
    source_events_query = serializers.CharField(
        required=False, allow_blank=True, help_text='Prometheus: PromQL for one arm\'s bad events, with "{variant}".'
    )
    source_total_query = serializers.CharField(
        required=False, allow_blank=True, help_text="Prometheus: PromQL for one arm's trials (requests)."
    )


class RolloutPlanSerializer(StrictFields, serializers.ModelSerializer):
    """A plan with its stages and rules. Write the whole plan in one body; stage numbers are 1-based."""

    project = serializers.CharField(source="flag.project.key")
    flag = serializers.CharField(source="flag.key")
    environment = serializers.CharField(source="environment.key")
    stage = serializers.SerializerMethodField(help_text="The current stage, 1-based.")
    stages = StageSerializer(many=True)
    rules = RuleSerializer(many=True, required=False)

    class Meta:
        model = RolloutPlan
        fields = [
            "id",
            "project",
            "flag",
            "environment",
            *PLAN_FIELDS,
            "stages",
            "rules",
            "status",
            "stage",
            "percent",
            "waiting_on",
            "status_reason",
            "created_at",
            "updated_at",
            "evaluated_at",
        ]
        read_only_fields = [
            "status",
            "percent",
            "waiting_on",
            "status_reason",
            "created_at",
            "updated_at",
            "evaluated_at",
        ]

    def get_stage(self, plan: RolloutPlan) -> int:
        return plan.stage_index + 1


class DecisionSerializer(StrictFields, serializers.ModelSerializer):
    stage = serializers.SerializerMethodField()

    class Meta:
        model = Decision
        fields = [
            "id",
            "at",
            "last_seen_at",
            "repeats",
            "run_number",
            "stage",
            "action",
            "percent",
            "status",
            "waiting_on",
            "reason",
            "outcomes",
            "actor",
        ]

    def get_stage(self, decision: Decision) -> int:
        return decision.stage_index + 1


class ActionSerializer(StrictFields, serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True)
    stage = serializers.IntegerField(required=False, min_value=1, help_text="approve: the stage (1-based).")
    from_stage = serializers.IntegerField(required=False, min_value=1, help_text="resume: restart here (1-based).")


def _plan_body(request) -> dict:
    """The request's JSON object; anything else (a list, a string) is a 400 like DRF's own."""
    if not isinstance(request.data, dict):
        raise ValidationError({"non_field_errors": [f"Expected a JSON object, got {type(request.data).__name__}."]})
    return request.data


def _definition_of(data: dict) -> dict:
    """The plan body without the fields that locate it."""
    return {key: value for key, value in data.items() if key not in ("project", "flag", "environment", "reason")}


def plan_action(spec: RolloutAction):
    """The POST action on one plan that takes ``spec`` (a row of ``actions.PERSON_ACTIONS``)."""

    def view(self, request, pk=None):
        plan = self.get_object()  # who may act on it is decided before what they sent is read
        payload = ActionSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        reason = reason_of(request)
        if spec.reason_required and not reason:
            raise ValidationError({"reason": ["Say why: the reason goes to the audit log and the webhooks."]})
        stage_number = payload.validated_data.get(spec.stage_field) if spec.stage_field else None
        plan = services.act(plan, spec.name, actor_of(request), reason, stage_number)
        return Response(RolloutPlanSerializer(self._fresh(plan)).data)

    view.__name__ = spec.name
    view.__doc__ = spec.explanation + (f" `{spec.stage_field}`: a stage number (1-based)." if spec.stage_field else "")
    if spec.reason_required:
        view.__doc__ += " A reason is required."
    summary = f"{spec.verb.capitalize()} a rollout plan"
    return extend_schema(summary=summary, request=ActionSerializer, responses=RolloutPlanSerializer)(
        action(detail=True, methods=["post"])(view)
    )


@documented(
    "rollouts",
    "a rollout plan",
    "rollout plans",
    decisions="List a rollout plan's decisions",
    metrics="Get a rollout plan's health signals per variant",
)
class RolloutPlanViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Rollout plans: a flag's treatment served to growing shares of an environment, stage by stage,
    while health rules watch it (docs/rollout-decisions.md). Write the whole plan in one body."""

    serializer_class = RolloutPlanSerializer
    permission_classes = [HasRole]
    lookup_value_regex = r"[0-9]+"
    access = {
        "list": None,  # the plans of the projects the caller may read
        "retrieve": "project.read",
        "decisions": "project.read",
        "metrics": "project.read",
        "create": "rollout.write",
        "update": "rollout.write",
        "partial_update": "rollout.write",
        "destroy": "rollout.write",
        **{spec.name: spec.permission for spec in actions.PERSON_ACTIONS},
    }

    def access_scope(self):
        return None, None  # no project in the URL: the plan (or the body, to create one) names it

    def object_scope(self, plan: RolloutPlan):
        return plan.flag.project, plan.environment

    @extend_schema(parameters=[OpenApiParameter(name, str) for name in ("project", "flag", "environment", "status")])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        queryset = RolloutPlan.objects.select_related("flag__project", "environment").prefetch_related(
            Prefetch("stages", Stage.objects.order_by("position")), "rules"
        )
        readable = policy.visible_projects(self.request.user, token_of(self.request))
        queryset = queryset.filter(flag__project__in=readable)
        params = self.request.query_params
        filters = {
            "project": "flag__project__key",
            "flag": "flag__key",
            "environment": "environment__key",
            "status": "status",
        }
        for param, lookup in filters.items():
            if params.get(param):
                queryset = queryset.filter(**{lookup: params[param]})
        return queryset

    def create(self, request, *args, **kwargs):
        data = _plan_body(request)
        missing = {
            field: ["This field is required."] for field in ("project", "flag", "environment") if not data.get(field)
        }
        if missing:
            raise ValidationError(missing)
        readable = policy.visible_projects(request.user, token_of(request))
        flag = get_object_or_404(Flag, project__in=readable, project__key=data["project"], key=data["flag"])
        environment = get_object_or_404(Environment, project=flag.project, key=data["environment"])
        require(request, "rollout.write", flag.project, environment)
        plan = services.create_plan(flag, environment, actor_of(request), _definition_of(data), reason_of(request))
        return Response(RolloutPlanSerializer(self._fresh(plan)).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        plan = self.get_object()
        plan = services.update_plan(plan, actor_of(request), _definition_of(_plan_body(request)), reason_of(request))
        return Response(RolloutPlanSerializer(self._fresh(plan)).data)

    def perform_destroy(self, instance: RolloutPlan) -> None:
        services.delete_plan(instance, actor_of(self.request), reason_of(self.request, {}))

    def _fresh(self, plan: RolloutPlan) -> RolloutPlan:
        return self.get_queryset().get(pk=plan.pk)

    @extend_schema(responses=DecisionSerializer(many=True))
    @action(detail=True, methods=["get"])
    def decisions(self, request, pk=None):
        """The decision log, newest first, with the numbers behind each rule outcome."""
        queryset = self.get_object().decisions.all()
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(DecisionSerializer(page, many=True).data)

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"])
    def metrics(self, request, pk=None):
        """Health signals per variant since the current run started (or the plan was created)."""
        plan = self.get_object()
        since_seconds = load_runtime(plan).run_started_at
        since = datetime.fromtimestamp(since_seconds, tz=UTC) if since_seconds else plan.created_at
        summary = {}
        for arm, variant in (("treatment", plan.treatment_variant), ("control", plan.control_variant)):
            totals = arm_counts(plan.environment_id, plan.flag.key, [variant], since, None)
            summary[arm] = {
                "variant": variant,
                "evaluations": totals.evaluations,
                "requests": totals.requests,
                "errors": totals.errors,
                "error_rate": totals.errors / totals.requests if totals.requests else None,
                "latency_histogram": {"bounds_ms": list(totals.bounds_ms), "counts": list(totals.histogram)},
            }
        return Response({"since": since, **summary})


for _spec in actions.PERSON_ACTIONS:
    setattr(RolloutPlanViewSet, _spec.name, plan_action(_spec))
