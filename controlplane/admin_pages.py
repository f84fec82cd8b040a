"""The context of an admin page that a ModelAdmin draws itself (a targeting editor, a confirmation,
the page that shows a secret once): what Django gives its own pages, and the breadcrumbs.

``admin/_breadcrumbs.html`` draws ``breadcrumbs``: Home, the app, the list, the object, this
page, each a link except the last.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest
from django.urls import reverse
from django.utils.text import capfirst

Crumb = tuple[str, str | None]
"""(label, link); the current page has no link."""


def page_context(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    title: str,
    original: models.Model | None = None,
    *,
    here: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """``title`` heads the page; ``original`` is the object it belongs to, if any; ``here`` names
    the page in the breadcrumbs after the object (None: the page is the object's own)."""
    opts = model_admin.opts
    changelist_url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    original_url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[original.pk]) if original else None
    crumbs: list[Crumb] = [
        ("Home", reverse("admin:index")),
        (str(opts.app_config.verbose_name), reverse("admin:app_list", kwargs={"app_label": opts.app_label})),
        (capfirst(opts.verbose_name_plural), changelist_url),
    ]
    if original is not None:
        crumbs.append((str(original), original_url if here is not None else None))
    if here is not None:
        crumbs.append((here, None))
    return {
        **model_admin.admin_site.each_context(request),
        "opts": opts,
        "app_label": opts.app_label,
        "title": title,
        "subtitle": None,
        "original": original,
        "has_view_permission": model_admin.has_view_permission(request, original),
        "changelist_url": changelist_url,
        "original_url": original_url,
        "breadcrumbs": crumbs,
        **extra,
    }
