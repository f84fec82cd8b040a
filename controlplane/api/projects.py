"""REST API of projects, their environments and the environments' SDK and client-side keys."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from controlplane.access import policy
from controlplane.api.common import ProjectScopedMixin, ReasonField, StrictFields, actor_of, reason_of, without_reason
from controlplane.api.permissions import HasRole, token_of
from controlplane.api.publication import PublicationSerializer, publication_data
from controlplane.api.schema import documented
from controlplane.projects import services
from controlplane.projects.models import ClientKey, Environment, Project, SdkKey


class ProjectSerializer(StrictFields, serializers.ModelSerializer):
    environments = serializers.ListField(
        child=serializers.SlugField(), write_only=True, required=False, help_text="Environments to create."
    )
    reason = ReasonField()

    class Meta:
        model = Project
        fields = ["key", "name", "description", "created_at", "environments", "reason"]
        read_only_fields = ["created_at"]
        extra_kwargs = {"key": {"validators": []}, "name": {"required": False}}


class EnvironmentSerializer(StrictFields, serializers.ModelSerializer):
    publication = serializers.SerializerMethodField()
    reason = ReasonField()

    class Meta:
        model = Environment
        fields = [
            "key",
            "name",
            "position",
            "require_reason",
            "client_side_origins",
            "created_at",
            "publication",
            "reason",
        ]
        read_only_fields = ["created_at"]
        extra_kwargs = {
            "name": {"required": False},
            "position": {"required": False},
            "require_reason": {"required": False},
            "client_side_origins": {"required": False},
        }

    @extend_schema_field(PublicationSerializer)
    def get_publication(self, environment: Environment) -> dict:
        """The SDK document version SDKs have, since when, and whether publication is behind."""
        return publication_data(environment.id)


class SdkKeySerializer(StrictFields, serializers.ModelSerializer):
    environment = serializers.CharField(source="environment.key", read_only=True)
    reason = ReasonField()

    class Meta:
        model = SdkKey
        fields = ["id", "name", "environment", "display_prefix", "created_at", "revoked_at", "last_used_at", "reason"]
        read_only_fields = ["id", "display_prefix", "created_at", "revoked_at", "last_used_at"]


class IssuedSdkKeySerializer(SdkKeySerializer):
    key = serializers.CharField(read_only=True, help_text="Shown once: store it now.")

    class Meta(SdkKeySerializer.Meta):
        fields = [*SdkKeySerializer.Meta.fields, "key"]


class ClientKeySerializer(StrictFields, serializers.ModelSerializer):
    environment = serializers.CharField(source="environment.key", read_only=True)
    reason = ReasonField()

    class Meta:
        model = ClientKey
        fields = [
            "id",
            "name",
            "environment",
            "display_prefix",
            "client_side_flags_only",
            "created_at",
            "revoked_at",
            "last_used_at",
            "reason",
        ]
        read_only_fields = ["id", "display_prefix", "created_at", "revoked_at", "last_used_at"]


class IssuedClientKeySerializer(ClientKeySerializer):
    key = serializers.CharField(read_only=True, help_text="Shown once: store it now (it may go in a web page).")

    class Meta(ClientKeySerializer.Meta):
        fields = [*ClientKeySerializer.Meta.fields, "key"]


class RevokeSerializer(StrictFields, serializers.Serializer):
    reason = ReasonField()


@documented("projects", "a project", "projects")
class ProjectViewSet(
    ProjectScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """The projects the caller has a role in (every project, for a superuser)."""

    serializer_class = ProjectSerializer
    permission_classes = [HasRole]
    access = {
        "list": None,
        "retrieve": "project.read",
        "create": "project.create",
        "update": "project.manage",
        "partial_update": "project.manage",
    }
    lookup_field = "key"
    lookup_url_kwarg = "project_key"

    def get_queryset(self):
        return policy.visible_projects(self.request.user, token_of(self.request))

    def perform_create(self, serializer) -> None:
        data = serializer.validated_data
        kwargs: dict[str, Any] = {
            "key": data["key"],
            "name": data.get("name", ""),
            "description": data.get("description", ""),
        }
        if "environments" in data:
            kwargs["environments"] = data["environments"]
        serializer.instance = services.create_project(actor_of(self.request), reason=reason_of(self.request), **kwargs)

    def perform_update(self, serializer) -> None:
        changes = without_reason(serializer.validated_data)
        changes.pop("environments", None)
        serializer.instance = services.update_project(
            serializer.instance, actor_of(self.request), changes, reason_of(self.request)
        )


@documented("environments", "an environment", "environments")
class EnvironmentViewSet(
    ProjectScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """A project's environments, in their order, each with where its SDKs stand (``publication``)."""

    serializer_class = EnvironmentSerializer
    permission_classes = [HasRole]
    access = {
        "list": "project.read",
        "retrieve": "project.read",
        "create": "project.manage",
        "update": "project.manage",
        "partial_update": "project.manage",
    }
    lookup_field = "key"
    lookup_url_kwarg = "environment_key"

    def access_scope(self):
        # The environment in the URL is the object itself: reading and managing environments are
        # decided in the whole project, as for the list.
        return self.get_project(), None

    def get_queryset(self):
        return Environment.objects.filter(project=self.get_project())

    def perform_create(self, serializer) -> None:
        data = serializer.validated_data
        serializer.instance = services.create_environment(
            self.get_project(),
            actor_of(self.request),
            key=data["key"],
            name=data.get("name", ""),
            position=data.get("position"),
            require_reason=data.get("require_reason"),
            reason=reason_of(self.request),
        )

    def perform_update(self, serializer) -> None:
        serializer.instance = services.update_environment(
            serializer.instance,
            actor_of(self.request),
            without_reason(serializer.validated_data),
            reason_of(self.request),
        )


@documented("sdk-keys", "an SDK key", "SDK keys", create="Issue an SDK key", revoke="Revoke an SDK key")
class SdkKeyViewSet(ProjectScopedMixin, mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Server-side SDK keys of one environment. The key itself is shown once, when issued."""

    serializer_class = SdkKeySerializer
    permission_classes = [HasRole]
    access = {"list": "sdk_key.read", "create": "sdk_key.manage", "revoke": "sdk_key.manage"}

    def get_queryset(self):
        return SdkKey.objects.filter(environment=self.get_environment()).select_related("environment")

    lookup_value_regex = r"[0-9]+"  # a non-numeric id is a 404, not a ValueError

    @extend_schema(responses={201: IssuedSdkKeySerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        sdk_key, plaintext = services.issue_sdk_key(
            self.get_environment(), actor_of(request), serializer.validated_data["name"], reason_of(request)
        )
        sdk_key.key = plaintext
        return Response(IssuedSdkKeySerializer(sdk_key).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=RevokeSerializer, responses=SdkKeySerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk: str, **kwargs):
        sdk_key = get_object_or_404(self.get_queryset(), pk=pk)
        sdk_key = services.revoke_sdk_key(sdk_key, actor_of(request), reason_of(request))
        return Response(SdkKeySerializer(sdk_key).data)


@documented(
    "sdk-keys",
    "a client-side key",
    "client-side keys",
    create="Issue a client-side key",
    revoke="Revoke a client-side key",
)
class ClientKeyViewSet(SdkKeyViewSet):
    """Client-side keys (fp_cli_…) of one environment: OFREP evaluation only, safe in a web page."""

    serializer_class = ClientKeySerializer

    def get_queryset(self):
        return ClientKey.objects.filter(environment=self.get_environment()).select_related("environment")

    @extend_schema(responses={201: IssuedClientKeySerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        client_key, plaintext = services.issue_client_key(
            self.get_environment(),
            actor_of(request),
            serializer.validated_data["name"],
            client_side_flags_only=serializer.validated_data.get("client_side_flags_only", True),
            reason=reason_of(request),
        )
        client_key.key = plaintext
        return Response(IssuedClientKeySerializer(client_key).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=RevokeSerializer, responses=ClientKeySerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk: str, **kwargs):
        client_key = get_object_or_404(self.get_queryset(), pk=pk)
        client_key = services.revoke_client_key(client_key, actor_of(request), reason_of(request))
        return Response(ClientKeySerializer(client_key).data)
