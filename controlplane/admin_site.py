"""The admin site: its name, and an index grouped by what people do rather than by Django app.

The index (and the navigation sidebar) lists the screens people work in first: flags and
rollouts, then projects and keys, people and access, the audit log. What the control plane keeps
for itself (published documents, metric buckets, decisions, delivery attempts, login records)
comes last, under "Internals". A model no section names lands in Internals too, so none is lost.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig

Section = tuple[str, str, tuple[str, ...]]
"""(anchor, title, models as "app_label.ModelName"), in the order shown."""

SECTIONS: tuple[Section, ...] = (
    ("flags-and-rollouts", "Flags and rollouts", ("flags.Flag", "rollouts.RolloutPlan", "flags.Segment")),
    (
        "projects-and-keys",
        "Projects and keys",
        ("projects.Project", "projects.Environment", "projects.SdkKey", "projects.ClientKey", "accounts.ApiToken"),
    ),
    ("people", "People and access", ("access.RoleAssignment", "auth.User", "auth.Group", "axes.AccessAttempt")),
    ("audit", "Audit and notifications", ("audit.AuditEntry", "notifications.Webhook")),
)
INTERNALS = ("internals", "Internals")


def group_models(app_list: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Django's per-app list regrouped into SECTIONS, then Internals; empty sections are left out."""
    models = {f"{app['app_label']}.{model['object_name']}": model for app in app_list for model in app["models"]}
    sections = []
    for anchor, title, names in SECTIONS:
        sections.append(_section(anchor, title, [models.pop(name) for name in names if name in models]))
    sections.append(_section(*INTERNALS, sorted(models.values(), key=lambda model: str(model["name"]))))
    return [section for section in sections if section["models"]]


def _section(anchor: str, title: str, models: list[dict[str, Any]]) -> dict[str, Any]:
    # app_url is an anchor: no page belongs to a section, and the sidebar must not mark it current.
    return {"name": title, "app_label": anchor, "app_url": f"#{anchor}", "has_module_perms": True, "models": models}


class FlagplaneAdminSite(admin.AdminSite):
    site_header = "Flagplane"
    site_title = "Flagplane"
    index_title = "Control plane"

    def get_app_list(self, request, app_label=None):
        app_list = super().get_app_list(request, app_label)
        return app_list if app_label else group_models(app_list)


class FlagplaneAdminConfig(AdminConfig):
    default_site = "controlplane.admin_site.FlagplaneAdminSite"
