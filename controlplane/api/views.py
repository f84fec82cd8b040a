"""REST API views: parse, call one domain function, answer. No business logic here."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, Q
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from controlplane.accounts.models import ApiToken
from controlplane.api import serializers as s
from controlplane.api.permissions import IsAuthenticatedWithScope
from controlplane.audit.models import AuditEntry
from controlplane.audit.services import Actor
from controlplane.flags import services as flag_services
from controlplane.flags.models import Flag, FlagState, Segment
from controlplane.projects import services as project_services
from controlplane.projects.models import Environment, Project, SdkKey
from flagplane.engine import InvalidDocument


def actor_of(request) -> Actor:
    if isinstance(request.auth, ApiToken):
        return Actor.for_token(request.auth)
    return Actor.for_user(request.user)


def reason_of(request, data: dict | None = None) -> str:
    data = data if data is not None else request.data
    return (data.get("reason") if hasattr(data, "get") else "") or request.headers.get("X-Flagplane-Reason", "")


def without_reason(data: dict) -> dict:
    return {key: value for key, value in data.items() if key != "reason"}


class ProjectScopedMixin:
    """Views under /projects/{project_key}/."""

    def get_project(self) -> Project | None:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no URL kwargs
            return None
        if not hasattr(self, "_project"):
            self._project = get_object_or_404(Project, key=self.kwargs["project_key"])
        return self._project


class ProjectViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    queryset = Project.objects.all()
    serializer_class = s.ProjectSerializer
    permission_classes = [IsAuthenticatedWithScope]
    lookup_field = "key"

    def perform_create(self, serializer) -> None:
        data = serializer.validated_data
        kwargs: dict[str, Any] = {
            "key": data["key"],
            "name": data.get("name", ""),
            "description": data.get("description", ""),
        }
        if "environments" in data:
            kwargs["environments"] = data["environments"]
        serializer.instance = project_services.create_project(
            actor_of(self.request), reason=reason_of(self.request), **kwargs
        )

    def perform_update(self, serializer) -> None:
        changes = without_reason(serializer.validated_data)
        changes.pop("environments", None)
        serializer.instance = project_services.update_project(
            serializer.instance, actor_of(self.request), changes, reason_of(self.request)
        )


class EnvironmentViewSet(
    ProjectScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = s.EnvironmentSerializer
    permission_classes = [IsAuthenticatedWithScope]
    lookup_field = "key"

    def get_queryset(self):
        return Environment.objects.filter(project=self.get_project())

    def perform_create(self, serializer) -> None:
        data = serializer.validated_data
        serializer.instance = project_services.create_environment(
            self.get_project(),
            actor_of(self.request),
            key=data["key"],
            name=data.get("name", ""),
            position=data.get("position"),
            reason=reason_of(self.request),
        )

    def perform_update(self, serializer) -> None:
        serializer.instance = project_services.update_environment(
            serializer.instance,
            actor_of(self.request),
            without_reason(serializer.validated_data),
            reason_of(self.request),
        )


class FlagViewSet(
    ProjectScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = s.FlagSerializer
    permission_classes = [IsAuthenticatedWithScope]
    lookup_field = "key"

    @extend_schema(
        parameters=[
            OpenApiParameter("search", str, description="In key, name or description."),
            OpenApiParameter("tag", str, description="Only flags with this tag."),
            OpenApiParameter("archived", bool, description="true: archived only; false (default): active only."),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        states = FlagState.objects.select_related("environment").order_by("environment__position")
        queryset = Flag.objects.filter(project=self.get_project()).prefetch_related(Prefetch("states", states))
        if self.action == "list":
            params = self.request.query_params
            archived = params.get("archived", "false").lower() in {"1", "true", "yes"}
            queryset = queryset.filter(archived=archived)
            if params.get("tag"):
                queryset = queryset.filter(tags__contains=[params["tag"]])
            if params.get("search"):
                term = params["search"]
                queryset = queryset.filter(
                    Q(key__icontains=term) | Q(name__icontains=term) | Q(description__icontains=term)
                )
        return queryset

    def perform_create(self, serializer) -> None:
        data = without_reason(serializer.validated_data)
        data.pop("archived", None)
        serializer.instance = flag_services.create_flag(
            self.get_project(), actor_of(self.request), reason=reason_of(self.request), **data
        )

    def perform_update(self, serializer) -> None:
        serializer.instance = flag_services.update_flag(
            serializer.instance,
            actor_of(self.request),
            without_reason(serializer.validated_data),
            reason_of(self.request),
        )

    def perform_destroy(self, instance: Flag) -> None:
        """DELETE archives: the flag leaves SDK documents but its history stays."""
        flag_services.set_archived(instance, actor_of(self.request), True, reason_of(self.request, {}))

    @extend_schema(request=s.PreviewSerializer, responses=s.PreviewResultSerializer)
    @action(detail=True, methods=["post"])
    def preview(self, request, project_key: str, key: str):
        """What this flag serves for a context in an environment, and why (evaluated by the SDK's engine)."""
        payload = s.PreviewSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        flag = self.get_object()
        environment = get_object_or_404(Environment, project=flag.project, key=payload.validated_data["environment"])
        state = flag_services.get_state(flag, environment)
        data = payload.validated_data
        try:
            results = flag_services.preview(state, data["contexts"] if "contexts" in data else [data["context"]])
        except InvalidDocument as exc:
            raise ValidationError({"flag": [f"The stored flag cannot be evaluated: {exc}"]}) from exc
        answers = [
            {"value": r.value, "variant": r.variant, "reason": r.reason, "rule": r.rule, "bucket": r.bucket,
             "flag_version": state.version}
            for r in results
        ]  # fmt: skip
        return Response({"results": answers} if "contexts" in data else answers[0])


class FlagStateView(ProjectScopedMixin, APIView):
    """A flag's targeting in one environment. Responses carry an ETag; send If-Match to update safely."""

    permission_classes = [IsAuthenticatedWithScope]
    serializer_class = s.FlagStateSerializer

    def get_state(self) -> FlagState:
        return get_object_or_404(
            FlagState.objects.select_related("flag__project", "environment"),
            flag__project=self.get_project(),
            flag__key=self.kwargs["flag_key"],
            environment__key=self.kwargs["environment_key"],
        )

    def respond(self, state: FlagState, code: int = status.HTTP_200_OK) -> Response:
        response = Response(s.FlagStateSerializer(state).data, status=code)
        response["ETag"] = state.etag
        return response

    def expected_version(self, state: FlagState) -> int | None:
        """The version named by If-Match; a stale or foreign ETag can never match."""
        if_match = self.request.headers.get("If-Match")
        if not if_match or if_match.strip() == "*":
            return None
        for candidate in if_match.split(","):
            candidate = candidate.strip().removeprefix("W/")
            if candidate == state.etag:
                return state.version
        return -1

    @extend_schema(responses=s.FlagStateSerializer)
    def get(self, request, **kwargs):
        return self.respond(self.get_state())

    @extend_schema(request=s.FlagStateSerializer, responses=s.FlagStateSerializer)
    def put(self, request, **kwargs):
        return self._update(request, partial=False)

    @extend_schema(request=s.FlagStateSerializer, responses=s.FlagStateSerializer)
    def patch(self, request, **kwargs):
        return self._update(request, partial=True)

    def _update(self, request, partial: bool) -> Response:
        state = self.get_state()
        serializer = s.FlagStateSerializer(state, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        changes = {key: value for key, value in request.data.items() if key in flag_services.STATE_FIELDS}
        state = flag_services.update_flag_state(
            state, actor_of(request), changes, expected_version=self.expected_version(state), reason=reason_of(request)
        )
        return self.respond(state)


class FlagToggleView(FlagStateView):
    @extend_schema(request=s.ToggleSerializer, responses=s.FlagStateSerializer)
    def post(self, request, **kwargs):
        """Turn the flag on or off in this environment (off is the kill switch)."""
        payload = s.ToggleSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        state = flag_services.toggle_flag(
            self.get_state(), actor_of(request), payload.validated_data["on"], reason_of(request)
        )
        return self.respond(state)

    get = put = patch = None  # type: ignore[assignment]


class SegmentViewSet(ProjectScopedMixin, viewsets.ModelViewSet):
    serializer_class = s.SegmentSerializer
    permission_classes = [IsAuthenticatedWithScope]
    lookup_field = "key"

    def get_queryset(self):
        return Segment.objects.filter(project=self.get_project())

    def perform_create(self, serializer) -> None:
        serializer.instance = flag_services.create_segment(
            self.get_project(),
            actor_of(self.request),
            reason=reason_of(self.request),
            **without_reason(serializer.validated_data),
        )

    def perform_update(self, serializer) -> None:
        serializer.instance = flag_services.update_segment(
            serializer.instance,
            actor_of(self.request),
            without_reason(serializer.validated_data),
            reason_of(self.request),
        )

    def perform_destroy(self, instance: Segment) -> None:
        flag_services.delete_segment(instance, actor_of(self.request), reason_of(self.request, {}))


class SdkKeyViewSet(ProjectScopedMixin, mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Server-side SDK keys of one environment. The key itself is shown once, when issued."""

    serializer_class = s.SdkKeySerializer
    permission_classes = [IsAuthenticatedWithScope]

    def get_environment(self) -> Environment | None:
        if getattr(self, "swagger_fake_view", False):
            return None
        return get_object_or_404(Environment, project=self.get_project(), key=self.kwargs["environment_key"])

    def get_queryset(self):
        return SdkKey.objects.filter(environment=self.get_environment()).select_related("environment")

    lookup_value_converter = "int"

    @extend_schema(responses={201: s.IssuedSdkKeySerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        sdk_key, plaintext = project_services.issue_sdk_key(
            self.get_environment(), actor_of(request), serializer.validated_data["name"], reason_of(request)
        )
        sdk_key.key = plaintext
        return Response(s.IssuedSdkKeySerializer(sdk_key).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.RevokeSerializer, responses=s.SdkKeySerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk: str, **kwargs):
        sdk_key = get_object_or_404(self.get_queryset(), pk=pk)
        sdk_key = project_services.revoke_sdk_key(sdk_key, actor_of(request), reason_of(request))
        return Response(s.SdkKeySerializer(sdk_key).data)


class AuditEntryViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit log, newest first. Read-only: entries are never changed or deleted."""

    serializer_class = s.AuditEntrySerializer
    permission_classes = [IsAuthenticatedWithScope]

    @extend_schema(
        parameters=[
            OpenApiParameter("project", str, description="Project key."),
            OpenApiParameter("environment", str, description="Environment key (with project)."),
            OpenApiParameter("action", str, description='e.g. "flag.turn_off".'),
            OpenApiParameter("object_type", str, description='e.g. "flag", "flagstate", "sdkkey".'),
            OpenApiParameter("actor", str, description="Substring of the actor."),
            OpenApiParameter("since", str, description="ISO 8601 time."),
            OpenApiParameter("until", str, description="ISO 8601 time."),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        queryset = AuditEntry.objects.all()
        params = self.request.query_params
        if params.get("project"):
            queryset = queryset.filter(project__key=params["project"])
        if params.get("environment"):
            queryset = queryset.filter(environment__key=params["environment"])
        for field in ("action", "object_type"):
            if params.get(field):
                queryset = queryset.filter(**{field: params[field]})
        if params.get("actor"):
            queryset = queryset.filter(actor__icontains=params["actor"])
        for param, lookup in (("since", "at__gte"), ("until", "at__lte")):
            if params.get(param):
                try:
                    queryset = queryset.filter(**{lookup: params[param]})
                except DjangoValidationError as exc:
                    raise ValidationError({param: [f"Not a time: {' '.join(exc.messages)}"]}) from exc
        return queryset
