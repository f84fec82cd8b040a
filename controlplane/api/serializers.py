"""Request and response shapes. Domain rules live in the services; these check types only."""

from __future__ import annotations

from rest_framework import serializers

from controlplane.audit.models import AuditEntry
from controlplane.flags.models import Flag, FlagState, Segment
from controlplane.projects.models import Environment, Project, SdkKey


class ReasonField(serializers.CharField):
    def __init__(self, **kwargs):
        super().__init__(write_only=True, required=False, allow_blank=True, max_length=2000, **kwargs)


class ProjectSerializer(serializers.ModelSerializer):
    environments = serializers.ListField(
        child=serializers.SlugField(), write_only=True, required=False, help_text="Environments to create."
    )
    reason = ReasonField()

    class Meta:
        model = Project
        fields = ["key", "name", "description", "created_at", "environments", "reason"]
        read_only_fields = ["created_at"]
        extra_kwargs = {"key": {"validators": []}, "name": {"required": False}}


class EnvironmentSerializer(serializers.ModelSerializer):
    reason = ReasonField()

    class Meta:
        model = Environment
        fields = ["key", "name", "position", "created_at", "reason"]
        read_only_fields = ["created_at"]
        extra_kwargs = {"name": {"required": False}, "position": {"required": False}}


class FlagSerializer(serializers.ModelSerializer):
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
        """Each environment's on/off state and version at a glance."""
        return {state.environment.key: {"on": state.on, "version": state.version} for state in flag.states.all()}


class FlagStateSerializer(serializers.ModelSerializer):
    flag = serializers.CharField(source="flag.key", read_only=True)
    environment = serializers.CharField(source="environment.key", read_only=True)
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
            "reason",
        ]
        read_only_fields = ["version", "updated_at"]
        extra_kwargs = {"on": {"required": False}, "default_serve": {"required": False}}


class ToggleSerializer(serializers.Serializer):
    on = serializers.BooleanField()
    reason = ReasonField()


MAX_PREVIEW_CONTEXTS = 10_000


class PreviewSerializer(serializers.Serializer):
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


class PreviewResultSerializer(serializers.Serializer):
    value = serializers.JSONField()
    variant = serializers.CharField(allow_null=True)
    reason = serializers.CharField()
    rule = serializers.CharField(allow_null=True)
    bucket = serializers.IntegerField(allow_null=True)
    flag_version = serializers.IntegerField()


class SegmentSerializer(serializers.ModelSerializer):
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


class SdkKeySerializer(serializers.ModelSerializer):
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


class RevokeSerializer(serializers.Serializer):
    reason = ReasonField()


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "at",
            "actor",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "project",
            "environment",
            "before",
            "after",
            "changes",
            "reason",
        ]
