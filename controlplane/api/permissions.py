"""Who may call what: every view names the action each of its operations is (``access``), and
``HasRole`` asks ``access.policy`` (the function the admin asks too) whether the caller may."""

from __future__ import annotations

from rest_framework import exceptions, permissions

from controlplane.access import policy
from controlplane.accounts.models import ApiToken
from controlplane.projects.sdk_keys import KeyInfo


def token_of(request) -> ApiToken | None:
    return request.auth if isinstance(request.auth, ApiToken) else None


def access_action(view, request) -> str | None:
    """The policy action of this request: ``view.access[view.action]`` (or the HTTP method's name)."""
    name = getattr(view, "action", None) or request.method.lower()
    access = getattr(view, "access", None)
    if access is None:  # the API root: a list of links
        if request.method in permissions.SAFE_METHODS:
            return None
        raise exceptions.MethodNotAllowed(request.method)
    if name in ("metadata", "options"):
        return None
    if name == "head":
        name = "get" if "get" in access else "retrieve"
    try:
        return access[name]
    except KeyError:
        raise exceptions.MethodNotAllowed(request.method) from None


def require(request, action: str, project, environment=None) -> None:
    """PermissionDenied (403, with the reason) unless the caller may do ``action`` there."""
    why = policy.refusal(request.user, action, project, environment, token_of(request))
    if why is not None:
        raise exceptions.PermissionDenied(why)


class HasRole(permissions.BasePermission):
    """The caller's roles (narrowed by its token) allow the view's action in the project of the URL.

    A view without a project in its URL (``access_scope`` gives None) decides on the object
    (``object_scope``) or lists only what the caller may read."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        action = access_action(view, request)
        if action is None:
            return True
        project, environment = view.access_scope()
        if project is None and action != "project.create":
            return True
        require(request, action, project, environment)
        return True

    def has_object_permission(self, request, view, obj) -> bool:
        object_scope = getattr(view, "object_scope", None)
        action = access_action(view, request)
        if object_scope is None or action is None:
            return True
        require(request, action, *object_scope(obj))
        return True


class HasSdkKey(permissions.BasePermission):
    message = "An SDK key is required (Authorization: Bearer fp_srv_…)."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, KeyInfo)
