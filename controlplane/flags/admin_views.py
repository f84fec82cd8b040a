"""The flag admin's own pages: targeting editor, on/off confirmation, and preview.

Each page reads with the ORM and writes only through ``controlplane.flags.services``.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from controlplane.access import policy
from controlplane.admin_pages import page_context
from controlplane.audit.services import Actor
from controlplane.flags import services
from controlplane.flags.errors import TargetingError, VersionConflict
from controlplane.flags.forms import PreviewForm, ToggleForm
from controlplane.flags.models import Flag, FlagState
from controlplane.flags.serving import state_summary
from controlplane.flags.targeting_forms import TargetingEditor
from flagplane.engine import InvalidDocument


def flag_change_url(flag: Flag) -> str:
    return reverse("admin:flags_flag_change", args=[flag.pk])


def _flag(model_admin, request: HttpRequest, object_id: str) -> Flag:
    flag = model_admin.get_object(request, object_id)
    if flag is None:
        raise Http404("No such flag.")
    if not model_admin.has_view_permission(request, flag):
        raise PermissionDenied
    return flag


def _state(flag: Flag, environment_key: str) -> FlagState:
    return get_object_or_404(
        FlagState.objects.select_related("flag__project", "environment"), flag=flag, environment__key=environment_key
    )


def _changeable_state(request: HttpRequest, flag: Flag, environment_key: str) -> FlagState:
    """The flag's state in that environment, if the person may change targeting there."""
    state = _state(flag, environment_key)
    if not policy.can(request.user, "targeting.write", flag.project, state.environment):
        raise PermissionDenied
    return state


def targeting_view(model_admin, request: HttpRequest, object_id: str, environment_key: str) -> HttpResponse:
    """Edit one environment's on/off, individual targets, rules and default serve."""
    flag = _flag(model_admin, request, object_id)
    state = _changeable_state(request, flag, environment_key)
    conflict = None
    more_rules, more_clause_rows = ("_add_rule" in request.POST), ("_add_clause_row" in request.POST)
    if request.method != "POST":
        editor = TargetingEditor(state)
    elif more_rules or more_clause_rows:
        editor = TargetingEditor.with_more_room(
            state, request.POST, rules=int(more_rules), clause_rows=int(more_clause_rows)
        )
    else:
        editor = TargetingEditor(state, request.POST)
    if request.method == "POST" and not (more_rules or more_clause_rows) and editor.is_valid():
        try:
            saved = services.update_flag_state(
                state,
                Actor.for_user(request.user),
                editor.changes(),
                expected_version=editor.expected_version,
                reason=editor.reason,
            )
        except VersionConflict as exc:
            conflict = exc.current_version
        except TargetingError as exc:
            editor.show_errors(exc.errors)
        else:
            if saved.version == editor.expected_version:
                messages.info(request, f"Nothing changed in {flag.key} in {environment_key}.")
            else:
                messages.success(
                    request, f"Saved the targeting of {flag.key} in {environment_key} (now version {saved.version})."
                )
            return redirect(flag_change_url(flag))
    title = f"Targeting of {flag.key} in {state.environment.key}"
    return TemplateResponse(
        request,
        "admin/flags/flag/targeting.html",
        page_context(
            model_admin,
            request,
            title,
            flag,
            here=f"Targeting in {state.environment.key}",
            state=state,
            serves=state_summary(state),
            editor=editor,
            conflict=conflict,
            reload_url=request.path,
            media=model_admin.media,
        ),
    )


def toggle_view(model_admin, request: HttpRequest, object_id: str, environment_key: str) -> HttpResponse:
    """Confirm turning a flag on or off in one environment, with a reason."""
    flag = _flag(model_admin, request, object_id)
    state = _changeable_state(request, flag, environment_key)
    if request.method == "POST":
        form = ToggleForm(request.POST, environment=state.environment)
        if form.is_valid():
            on = form.cleaned_data["on"]
            before = state.version
            state = services.toggle_flag(state, Actor.for_user(request.user), on, form.cleaned_data["reason"].strip())
            word = "ON" if on else "OFF"
            if state.version == before:
                messages.info(request, f"{flag.key} was already {word} in {environment_key}.")
            else:
                messages.success(request, f"Flag {flag.key} is now {word} in {environment_key}.")
            return redirect(flag_change_url(flag))
    else:
        form = ToggleForm(initial={"on": not state.on}, environment=state.environment)
    turn_on = bool(form["on"].value()) if form.is_bound else not state.on
    title = f"Turn {flag.key} {'on' if turn_on else 'off'} in {environment_key}?"
    return TemplateResponse(
        request,
        "admin/flags/flag/toggle_confirm.html",
        page_context(
            model_admin,
            request,
            title,
            flag,
            here=f"Turn {'on' if turn_on else 'off'} in {state.environment.key}",
            state=state,
            serves=state_summary(state),
            form=form,
            turn_on=turn_on,
        ),
    )


def preview_view(model_admin, request: HttpRequest, object_id: str) -> HttpResponse:
    """What the flag serves for a context in an environment, and why: the SDK's engine evaluates it."""
    flag = _flag(model_admin, request, object_id)
    environments = list(flag.project.environments.order_by("position", "key").values_list("key", flat=True))
    result = error = state = None
    form = PreviewForm(
        request.POST or None, environments=environments, initial={"environment": request.GET.get("environment")}
    )
    if request.method == "POST" and form.is_valid():
        state = _state(flag, form.cleaned_data["environment"])
        try:
            context = form.cleaned_data["context"]
            [result] = services.preview(state, [context])
        except InvalidDocument as exc:
            error = f"The flag cannot be evaluated: {exc}"
    matched_rule = None
    if result is not None and result.rule:
        matched_rule = next((rule for rule in state.rules if rule.get("id") == result.rule), None)
    return TemplateResponse(
        request,
        "admin/flags/flag/preview.html",
        page_context(
            model_admin,
            request,
            f"Preview {flag.key}",
            flag,
            here="Preview",
            form=form,
            result=result,
            error=error,
            state=state,
            matched_rule=matched_rule,
            value_json=json.dumps(result.value, ensure_ascii=False) if result is not None else "",
        ),
    )
