"""The flag admin: the main screen of Flagplane.

Flags are listed with their on/off state in every environment; each environment's targeting has
its own page (``<id>/targeting/<environment>/``), turning a flag on or off goes through a
confirmation page with a reason (``<id>/toggle/<environment>/``), and ``<id>/preview/`` shows
what the flag serves for a context. Every write calls ``controlplane.flags.services``.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import F, Func, Prefetch
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from controlplane.access import policy
from controlplane.access.admin_mixins import RoleAdminMixin
from controlplane.admin_pages import page_context
from controlplane.audit.services import Actor
from controlplane.documents.admin import publication_summary
from controlplane.documents.services import publication_of
from controlplane.flags import admin_views, services
from controlplane.flags.errors import TargetingError
from controlplane.flags.forms import BulkToggleForm, FlagForm, SegmentForm
from controlplane.flags.models import Flag, FlagState, Segment
from controlplane.flags.serving import active_rollouts, describe_serve, rollout_stage, state_summary
from controlplane.projects.models import Environment
from controlplane.service_admin import ServiceAdmin


class TagFilter(admin.SimpleListFilter):
    title = "tag"
    parameter_name = "tag"

    def lookups(self, request, model_admin):
        # The distinct tags, in PostgreSQL: not every flag's tags into Python on every page.
        readable = Flag.objects.filter(project__in=policy.visible_projects(request.user))
        tags = readable.annotate(tag=Func(F("tags"), function="unnest")).order_by().values_list("tag", flat=True)
        return [(tag, tag) for tag in sorted(set(tags.distinct()))]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(tags__contains=[self.value()])
        return queryset


@admin.register(Flag)
class FlagAdmin(RoleAdminMixin, ServiceAdmin, admin.ModelAdmin):
    write_action = "flag.write"
    form = FlagForm
    list_display = ["key", "name", "project", "environment_states", "tag_list", "archived", "updated_at"]
    list_filter = [("project", admin.RelatedOnlyFieldListFilter), TagFilter, "archived", "kind", "client_side"]
    list_select_related = ["project"]
    search_fields = ["key", "name", "description"]
    actions = ["turn_on", "turn_off", "archive", "restore"]
    fieldsets = [
        (None, {"fields": ["project", "key", "name", "description", "tags", "owner"]}),
        ("Variants", {"fields": ["kind", "variant_type", "variants", "off_variant", "salt"]}),
        ("OpenFeature", {"fields": ["metadata", "client_side"]}),
        ("Audit", {"fields": ["reason"]}),
    ]

    def get_queryset(self, request):
        states = FlagState.objects.select_related("environment").order_by("environment__position", "environment__key")
        return super().get_queryset(request).prefetch_related(Prefetch("states", states), active_rollouts())

    def get_readonly_fields(self, request, obj=None):
        return ["project", "key", "archived", "sdks_have"] if obj else []

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.fieldsets
        return [
            (None, {"fields": ["project", "key", "archived", *self.fieldsets[0][1]["fields"][2:]]}),
            *self.fieldsets[1:-1],
            ("Published to SDKs", {"fields": ["sdks_have"]}),
            self.fieldsets[-1],
        ]

    @admin.display(description="SDKs have")
    def sdks_have(self, flag: Flag) -> str:
        """Per environment, the published document's version and whether changes still wait."""
        environments = list(Environment.objects.filter(project_id=flag.project_id).order_by("position", "key"))
        publications = publication_of(environment.id for environment in environments)
        return format_html_join(
            "",
            "<div>{}: {}</div>",
            ((environment.key, publication_summary(publications[environment.id])) for environment in environments),
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # archive instead: the history stays

    def write(self, form: FlagForm, actor: Actor, reason: str) -> Flag:
        data = form.cleaned_data
        optional = {name: data[name] for name in ("variant_type", "variants", "off_variant") if data.get(name)}
        if form.instance.pk is None:
            return services.create_flag(
                data["project"],
                actor,
                key=data["key"],
                name=data["name"],
                description=data["description"],
                tags=data["tags"],
                owner=data["owner"],
                kind=data["kind"],
                salt=data["salt"],
                metadata=data["metadata"] or {},
                client_side=data["client_side"],
                reason=reason,
                **optional,
            )
        changes = {name: data[name] for name in ("name", "description", "tags", "owner", "kind", "salt", "client_side")}
        changes["metadata"] = data["metadata"] or {}
        changes["name"] = changes["name"] or form.instance.key
        return services.update_flag(form.instance, actor, {**changes, **optional}, reason)

    @admin.display(description="What each environment serves")
    def environment_states(self, flag: Flag) -> str:
        rollouts = {plan.environment_id: plan for plan in getattr(flag, "active_rollouts", [])}
        return format_html_join(
            "",
            '<div class="fp-env"><a class="fp-badge fp-{}" href="{}" title="{}: version {}">{}</a> {}{}</div>',
            (
                (
                    "on" if state.on else "off",
                    reverse("admin:flags_flag_targeting", args=[flag.pk, state.environment.key]),
                    state.environment.name,
                    state.version,
                    state.environment.key,
                    state_summary(state),
                    self._rollout_stage(rollouts.get(state.environment_id)),
                )
                for state in flag.states.all()
            ),
        )

    @staticmethod
    def _rollout_stage(plan) -> str:
        if plan is None:
            return ""
        return format_html(
            ' <a class="fp-rollout" href="{}">{}</a>',
            reverse("admin:rollouts_rolloutplan_change", args=[plan.pk]),
            rollout_stage(plan),
        )

    @admin.display(description="Tags")
    def tag_list(self, flag: Flag) -> str:
        return ", ".join(flag.tags)

    # --- the flag's own pages ------------------------------------------------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/targeting/<str:environment_key>/",
                wrap(self.targeting_view),
                name="flags_flag_targeting",
            ),
            path("<path:object_id>/toggle/<str:environment_key>/", wrap(self.toggle_view), name="flags_flag_toggle"),
            path("<path:object_id>/preview/", wrap(self.preview_view), name="flags_flag_preview"),
            *super().get_urls(),
        ]

    def targeting_view(self, request, object_id, environment_key):
        return admin_views.targeting_view(self, request, object_id, environment_key)

    def toggle_view(self, request, object_id, environment_key):
        return admin_views.toggle_view(self, request, object_id, environment_key)

    def preview_view(self, request, object_id):
        return admin_views.preview_view(self, request, object_id)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        flag = self.get_object(request, object_id)
        if flag is not None:
            states = [
                {"state": state, "default": describe_serve(state.default_serve or {}), "serves": state_summary(state)}
                for state in flag.states.all()
            ]
            extra_context = {**(extra_context or {}), "environment_states": states}
        return super().change_view(request, object_id, form_url, extra_context)

    # --- actions -------------------------------------------------------------------------------

    def has_targeting_permission(self, request) -> bool:
        return policy.projects_where(request.user, "targeting.write").exists()

    @admin.action(description="Turn ON in an environment…", permissions=["targeting"])
    def turn_on(self, request, queryset):
        return self._toggle_selected(request, queryset, on=True)

    @admin.action(description="Turn OFF in an environment…", permissions=["targeting"])
    def turn_off(self, request, queryset):
        return self._toggle_selected(request, queryset, on=False)

    def _toggle_selected(self, request, queryset, *, on: bool):
        environments = [
            environment
            for environment in Environment.objects.filter(project__flags__in=queryset).distinct()
            if all(policy.can(request.user, "targeting.write", flag.project, environment)
                   for flag in queryset if flag.project_id == environment.project_id)
        ]  # fmt: skip
        form = BulkToggleForm(request.POST if "confirm" in request.POST else None, environments=environments)
        if form.is_bound and form.is_valid():
            actor = Actor.for_user(request.user)
            environment = form.cleaned_data["environment"]
            changed = 0
            for state in FlagState.objects.filter(flag__in=queryset, environment__key=environment):
                before = state.version
                changed += services.toggle_flag(state, actor, on, form.cleaned_data["reason"].strip()).version != before
            word = "ON" if on else "OFF"
            self.message_user(request, f"Turned {changed} flag(s) {word} in {environment}.", messages.SUCCESS)
            return None
        context = page_context(
            self,
            request,
            f"Turn {'on' if on else 'off'} {queryset.count()} flag(s)?",
            here=f"Turn {'on' if on else 'off'}",
            flags=queryset,
            form=form,
            turn_on=on,
            action="turn_on" if on else "turn_off",
            action_checkbox_name=helpers.ACTION_CHECKBOX_NAME,
        )
        return TemplateResponse(request, "admin/flags/flag/bulk_toggle.html", context)

    @admin.action(description="Archive (leave SDK documents, keep history)", permissions=["change"])
    def archive(self, request, queryset):
        self._set_archived(request, queryset, True)

    @admin.action(description="Restore archived flags", permissions=["change"])
    def restore(self, request, queryset):
        self._set_archived(request, queryset, False)

    def _set_archived(self, request, queryset, archived: bool) -> None:
        actor = Actor.for_user(request.user)
        flags = [flag for flag in queryset if flag.archived != archived and self.has_change_permission(request, flag)]
        for flag in flags:
            services.set_archived(
                flag, actor, archived, reason="archived in the admin" if archived else "restored in the admin"
            )
        self.message_user(request, f"{'Archived' if archived else 'Restored'} {len(flags)} flag(s).", messages.SUCCESS)


@admin.register(Segment)
class SegmentAdmin(RoleAdminMixin, ServiceAdmin, admin.ModelAdmin):
    write_action = "flag.write"
    form = SegmentForm
    list_display = ["key", "name", "project", "included_count", "excluded_count", "rule_count", "version", "updated_at"]
    list_filter = [("project", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["project"]
    search_fields = ["key", "name", "description"]
    fields = ["project", "key", "name", "description", "included", "excluded", "rules", "reason"]

    def get_readonly_fields(self, request, obj=None):
        return ["project", "key", "version"] if obj else []

    def get_fields(self, request, obj=None):
        return ["project", "key", "version", *self.fields[2:]] if obj else self.fields

    @admin.display(description="Included")
    def included_count(self, segment: Segment) -> int:
        return len(segment.included)

    @admin.display(description="Excluded")
    def excluded_count(self, segment: Segment) -> int:
        return len(segment.excluded)

    @admin.display(description="Rules")
    def rule_count(self, segment: Segment) -> int:
        return len(segment.rules)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # one by one: a segment still in use is refused on its page
        return actions

    def write(self, form: SegmentForm, actor: Actor, reason: str) -> Segment:
        data = form.cleaned_data
        fields = {name: data[name] for name in ("name", "description", "included", "excluded")}
        fields["rules"] = data["rules"] or []
        if form.instance.pk is None:
            return services.create_segment(data["project"], actor, key=data["key"], reason=reason, **fields)
        fields["name"] = fields["name"] or form.instance.key
        return services.update_segment(form.instance, actor, fields, reason)

    def delete_model(self, request, obj: Segment) -> None:
        services.delete_segment(obj, Actor.for_user(request.user), reason="deleted in the admin")

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except TargetingError as exc:  # still used by a flag's rules; the transaction was rolled back
            for messages_of_path in exc.errors.values():
                for message in messages_of_path:
                    self.message_user(request, f"Not deleted: {message}", messages.ERROR)
            return redirect(reverse("admin:flags_segment_change", args=[object_id]))
