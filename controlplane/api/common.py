"""What every API module shares: who is acting, why, and the project named in the URL."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from rest_framework import serializers

from controlplane.access import policy
from controlplane.accounts.models import ApiToken
from controlplane.api.permissions import token_of
from controlplane.audit.services import Actor
from controlplane.projects.models import Environment, Project


def actor_of(request) -> Actor:
    if isinstance(request.auth, ApiToken):
        return Actor.for_token(request.auth)
    return Actor.for_user(request.user)


def reason_of(request, data: dict | None = None) -> str:
    data = data if data is not None else request.data
    return (data.get("reason") if hasattr(data, "get") else "") or request.headers.get("X-Flagplane-Reason", "")


def without_reason(data: dict) -> dict:
    return {key: value for key, value in data.items() if key != "reason"}


# A serializer that refuses fields it does not know (400), instead of ignoring them silently:
# ``PATCH {"enabled": true}`` must not answer 200 and change nothing. Read-only fields (sent back
# from a GET) are accepted and ignored. (A comment, not a docstring: drf-spectacular would show a
# docstring as the description of every serializer without one.)
class StrictFields:
    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                known = ", ".join(name for name, field in self.fields.items() if not field.read_only)
                raise serializers.ValidationError(
                    {name: [f"Unknown field; this one takes: {known}."] for name in unknown}
                )
        return super().to_internal_value(data)


class ReasonField(serializers.CharField):
    """The optional "why" of a write; it goes to the audit log."""

    def __init__(self, **kwargs):
        super().__init__(write_only=True, required=False, allow_blank=True, max_length=2000, **kwargs)


class ProjectScopedMixin:
    """Views under /projects/{project_key}/: a project the caller cannot read is not found (404)."""

    project_url_kwarg = "project_key"

    def get_project(self) -> Project | None:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no URL kwargs
            return None
        if not hasattr(self, "_project"):
            readable = policy.visible_projects(self.request.user, token_of(self.request))
            self._project = get_object_or_404(readable, key=self.kwargs[self.project_url_kwarg])
        return self._project

    def get_environment(self) -> Environment | None:
        """The environment named in the URL, if there is one."""
        if getattr(self, "swagger_fake_view", False) or "environment_key" not in self.kwargs:
            return None
        return get_object_or_404(Environment, project=self.get_project(), key=self.kwargs["environment_key"])

    def access_scope(self) -> tuple[Project | None, Environment | None]:
        if self.project_url_kwarg not in self.kwargs:
            return None, None
        return self.get_project(), self.get_environment()
