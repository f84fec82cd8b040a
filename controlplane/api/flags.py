"""REST API of flags, their targeting in each environment (with ETags), the kill switch and segments."""

from __future__ import annotations

from django.db.models import Prefetch, Q
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from controlplane.api.common import ProjectScopedMixin, ReasonField, StrictFields, actor_of, reason_of, without_reason
from controlplane.api.permissions import HasRole
from controlplane.api.publication import PublicationSerializer, publication_data
from controlplane.api.schema import documented
from controlplane.etags import listed_etags
from controlplane.flags import services
from controlplane.flags.models import Flag, FlagState, Segment
from controlplane.flags.serving import state_summary
from controlplane.projects.models import Environment
from flagplane.engine import InvalidDocument


class FlagSerializer(StrictFields, serializers.ModelSerializer):
    environments = serializers.SerializerMethodField()
    reason = ReasonField()

    class Meta:
        model = Flag
        fields = [
            "key",
            "name",
            "description",
            "tags",
            "owner",
            "archived",
            "kind",
            "variant_type",
            "variants",
            "off_variant",
            "salt",
            "metadata",
            "client_side",
            "created_at",
            "updated_at",
            "environments",
            "reason",
        ]
        read_only_fields = ["created_at", "updated_at"]
        extra_kwargs = {"key": {"validators": []}, "off_variant": {"required": False}, "name": {"required": False}}

    def get_environments(self, flag: Flag) -> dict:
        """Each environment's on/off state, version and what it serves, at a glance."""
        return {
            state.environment.key: {"on": state.on, "version": state.version, "serves": state_summary(state)}
            for state in flag.states.all()
        }


class FlagStateSerializer(StrictFields, serializers.ModelSerializer):
    flag = serializers.CharField(source="flag.key", read_only=True)
    environment = serializers.CharField(source="environment.key", read_only=True)
    publication = serializers.SerializerMethodField()
    reason = ReasonField()

    class Meta:
        model = FlagState
        fields = [
            "flag",
            "environment",
            "on",
            "targets",
            "rules",
            "default_serve",
            "bucket_by",
            "version",
            "updated_at",
            "publication",
            "reason",
        ]
        read_only_fields = ["version", "updated_at"]
        extra_kwargs = {"on": {"required": False}, "default_serve": {"required": False}}

    @extend_schema_field(PublicationSerializer)
    def get_publication(self, state: FlagState) -> dict:
        """Whether SDKs have this environment's committed changes yet (behind until the build)."""
        return publication_data(state.environment_id)


class ToggleSerializer(StrictFields, serializers.Serializer):
    on = serializers.BooleanField()
    reason = ReasonField()


MAX_PREVIEW_CONTEXTS = 10_000


class PreviewSerializer(StrictFields, serializers.Serializer):
    environment = serializers.SlugField()
    context = serializers.JSONField(
        required=False, help_text='A context object like {"key": "user-42", "plan": "free"}, or a key.'
    )
    contexts = serializers.ListField(
        child=serializers.JSONField(),
        required=False,
        max_length=MAX_PREVIEW_CONTEXTS,
        help_text='Several contexts at once (at most 10,000); the answer is then {"results": [...]} in order.',
    )

    def validate(self, data):
        if ("context" in data) == ("contexts" in data):
            raise serializers.ValidationError({"context": ["Give either context or contexts."]})
        for index, context in enumerate(data.get("contexts", [data.get("context")])):
            if not isinstance(context, dict | str):
                path = f"contexts.{index}" if "contexts" in data else "context"
                raise serializers.ValidationError({path: ['A context is an object like {"key": "user-42"} or a key.']})
        return data


class PreviewResultSerializer(StrictFields, serializers.Serializer):
    value = serializers.JSONField()
    variant = serializers.CharField(allow_null=True)
    reason = serializers.CharField()
    rule = serializers.CharField(allow_null=True)
    bucket = serializers.IntegerField(allow_null=True)
    flag_version = serializers.IntegerField()


class PreviewResultsSerializer(serializers.Serializer):
    results = PreviewResultSerializer(many=True)


PREVIEW_ANSWER = PolymorphicProxySerializer(
    component_name="PreviewAnswer",
    serializers=[PreviewResultSerializer, PreviewResultsSerializer],
    resource_type_field_name=None,
)


class SegmentSerializer(StrictFields, serializers.ModelSerializer):
    reason = ReasonField()

    class Meta:
        model = Segment
        fields = [
            "key",
            "name",
            "description",
            "included",
            "excluded",
            "rules",
            "version",
            "created_at",
            "updated_at",
            "reason",
        ]
        read_only_fields = ["version", "created_at", "updated_at"]
        extra_kwargs = {"key": {"validators": []}, "name": {"required": False}}


@documented("flags", "a flag", "flags", destroy="Archive a flag", preview="Preview what a flag serves")
class FlagViewSet(
    ProjectScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """A project's flags, each with what every environment serves. DELETE archives a flag: it leaves
    the SDK documents, its history stays."""

    serializer_class = FlagSerializer
    permission_classes = [HasRole]
    access = {
        "list": "project.read",
        "retrieve": "project.read",
        "preview": "project.read",
        "create": "flag.write",
        "update": "flag.write",
        "partial_update": "flag.write",
        "destroy": "flag.write",
    }
    lookup_field = "key"
    lookup_url_kwarg = "flag_key"

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
        serializer.instance = services.create_flag(
            self.get_project(), actor_of(self.request), reason=reason_of(self.request), **data
        )

    def perform_update(self, serializer) -> None:
        serializer.instance = services.update_flag(
            serializer.instance,
            actor_of(self.request),
            without_reason(serializer.validated_data),
            reason_of(self.request),
        )

    def perform_destroy(self, instance: Flag) -> None:
        """DELETE archives: the flag leaves SDK documents but its history stays."""
        services.set_archived(instance, actor_of(self.request), True, reason_of(self.request, {}))

    @extend_schema(request=PreviewSerializer, responses=PREVIEW_ANSWER)
    @action(detail=True, methods=["post"])
    def preview(self, request, project_key: str, flag_key: str):
        """What this flag serves for a context in an environment, and why (evaluated by the SDK's engine)."""
        payload = PreviewSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        flag = self.get_object()
        environment = get_object_or_404(Environment, project=flag.project, key=payload.validated_data["environment"])
        state = services.get_state(flag, environment)
        data = payload.validated_data
        try:
            results = services.preview(state, data["contexts"] if "contexts" in data else [data["context"]])
        except InvalidDocument as exc:
            raise ValidationError({"flag": [f"The stored flag cannot be evaluated: {exc}"]}) from exc
        answers = [
            {"value": r.value, "variant": r.variant, "reason": r.reason, "rule": r.rule, "bucket": r.bucket,
             "flag_version": state.version}
            for r in results
        ]  # fmt: skip
        return Response({"results": answers} if "contexts" in data else answers[0])


@documented(
    "flags",
    get="Get a flag's targeting in an environment",
    put="Replace a flag's targeting in an environment",
    patch="Change a flag's targeting in an environment",
)
class FlagStateView(ProjectScopedMixin, APIView):
    """A flag's targeting in one environment. Responses carry an ETag; send If-Match to update safely."""

    permission_classes = [HasRole]
    access = {"get": "project.read", "put": "targeting.write", "patch": "targeting.write"}
    serializer_class = FlagStateSerializer

    def get_state(self) -> FlagState:
        return get_object_or_404(
            FlagState.objects.select_related("flag__project", "environment"),
            flag__project=self.get_project(),
            flag__key=self.kwargs["flag_key"],
            environment__key=self.kwargs["environment_key"],
        )

    def respond(self, state: FlagState, code: int = status.HTTP_200_OK) -> Response:
        response = Response(FlagStateSerializer(state).data, status=code)
        response["ETag"] = state.etag
        return response

    def expected_version(self, state: FlagState) -> int | None:
        """The version named by If-Match; a stale or foreign ETag can never match."""
        listed = listed_etags(self.request.headers.get("If-Match"))
        if not listed:  # no If-Match, or "*"
            return None
        return state.version if state.etag in listed else -1

    @extend_schema(responses=FlagStateSerializer)
    def get(self, request, **kwargs):
        return self.respond(self.get_state())

    @extend_schema(request=FlagStateSerializer, responses=FlagStateSerializer)
    def put(self, request, **kwargs):
        return self._update(request, partial=False)

    @extend_schema(request=FlagStateSerializer, responses=FlagStateSerializer)
    def patch(self, request, **kwargs):
        return self._update(request, partial=True)

    def _update(self, request, partial: bool) -> Response:
        state = self.get_state()
        serializer = FlagStateSerializer(state, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        changes = {key: value for key, value in request.data.items() if key in services.STATE_FIELDS}
        state = services.update_flag_state(
            state, actor_of(request), changes, expected_version=self.expected_version(state), reason=reason_of(request)
        )
        return self.respond(state)


@documented("flags", post="Turn a flag on or off in an environment")
class FlagToggleView(FlagStateView):
    @extend_schema(request=ToggleSerializer, responses=FlagStateSerializer)
    def post(self, request, **kwargs):
        """Turn the flag on or off in this environment (off is the kill switch)."""
        payload = ToggleSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        state = services.toggle_flag(
            self.get_state(), actor_of(request), payload.validated_data["on"], reason_of(request)
        )
        return self.respond(state)

    http_method_names = ["post", "options"]  # not FlagStateView's get, put and patch
    access = {"post": "targeting.write"}


@documented("segments", "a segment", "segments")
class SegmentViewSet(ProjectScopedMixin, viewsets.ModelViewSet):
    """A project's segments: groups of users that targeting rules of any environment refer to."""

    serializer_class = SegmentSerializer
    permission_classes = [HasRole]
    access = {
        "list": "project.read",
        "retrieve": "project.read",
        "create": "flag.write",
        "update": "flag.write",
        "partial_update": "flag.write",
        "destroy": "flag.write",
    }
    lookup_field = "key"
    lookup_url_kwarg = "segment_key"

    def get_queryset(self):
        return Segment.objects.filter(project=self.get_project())

    def perform_create(self, serializer) -> None:
        serializer.instance = services.create_segment(
            self.get_project(),
            actor_of(self.request),
            reason=reason_of(self.request),
            **without_reason(serializer.validated_data),
        )

    def perform_update(self, serializer) -> None:
        serializer.instance = services.update_segment(
            serializer.instance,
            actor_of(self.request),
            without_reason(serializer.validated_data),
            reason_of(self.request),
        )

    def perform_destroy(self, instance: Segment) -> None:
        services.delete_segment(instance, actor_of(self.request), reason_of(self.request, {}))
