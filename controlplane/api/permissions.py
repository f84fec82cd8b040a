"""Who may call what. Every view names its permission explicitly."""

from __future__ import annotations

from rest_framework import permissions

from controlplane.accounts.models import ApiToken
from controlplane.projects.models import SdkKey


class IsAuthenticatedWithScope(permissions.BasePermission):
    """Reads need any authenticated person; writes need a write-scoped token or a staff session."""

    message = "This API token is read-only; writes need a token with the write scope."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        if isinstance(request.auth, ApiToken):
            return request.auth.can_write
        return bool(user.is_staff)


class HasSdkKey(permissions.BasePermission):
    message = "An SDK key is required (Authorization: Bearer fp_srv_…)."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, SdkKey)
