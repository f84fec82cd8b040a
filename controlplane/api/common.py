"""What every API module shares: who is acting, why, and the project named in the URL."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from rest_framework import serializers

from controlplane.accounts.models import ApiToken
from controlplane.audit.services import Actor
from controlplane.projects.models import Project


def actor_of(request) -> Actor:
    if isinstance(request.auth, ApiToken):
        return Actor.for_token(request.auth)
    return Actor.for_user(request.user)


def reason_of(request, data: dict | None = None) -> str:
    data = data if data is not None else request.data
    return (data.get("reason") if hasattr(data, "get") else "") or request.headers.get("X-Flagplane-Reason", "")


def without_reason(data: dict) -> dict:
    return {key: value for key, value in data.items() if key != "reason"}


class ReasonField(serializers.CharField):
    """The optional "why" of a write; it goes to the audit log."""

    def __init__(self, **kwargs):
        super().__init__(write_only=True, required=False, allow_blank=True, max_length=2000, **kwargs)


class ProjectScopedMixin:
    """Views under /projects/{project_key}/."""

    def get_project(self) -> Project | None:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no URL kwargs
            return None
        if not hasattr(self, "_project"):
            self._project = get_object_or_404(Project, key=self.kwargs["project_key"])
        return self._project
