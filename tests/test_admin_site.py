"""The admin index lists people's screens first (Flags at the top) and the internals apart."""

from __future__ import annotations

import re

from django.contrib import admin

from controlplane.admin_site import SECTIONS


def sections(html: str) -> list[tuple[str, list[str]]]:
    """(caption, [model row names]) per box of the index's #content-main, in page order."""
    main = html.split('id="content-main"', 1)[1].split('id="content-related"', 1)[0]
    found = []
    for box in re.findall(r"<caption>(.*?)</table>", main, flags=re.S):
        caption = re.sub(r"<[^>]+>", "", box.split("</caption>", 1)[0]).strip()
        rows = [
            re.sub(r"<[^>]+>", "", name).strip() for name in re.findall(r'<th scope="row"[^>]*>(.*?)</th>', box, re.S)
        ]
        found.append((caption, rows))
    return found


def test_the_index_shows_flags_first_and_the_internals_last(admin_client):
    found = sections(admin_client.get("/admin/").content.decode())
    captions = [caption for caption, _ in found]
    assert captions == ["Flags and rollouts", "Projects and keys", "People and access", "Audit and notifications",
                        "Internals"]  # fmt: skip
    assert found[0][1] == ["Flags", "Rollout plans", "Segments"]
    assert found[1][1] == ["Projects", "Environments", "SDK keys", "Client-side keys", "API tokens"]
    assert found[3][1] == ["Audit entries", "Webhooks"]
    internals = found[-1][1]
    for internal in ["Published SDK documents", "Metric buckets", "Decisions", "Webhook deliveries", "Flag activity"]:
        assert internal in internals
    assert "Flags" not in internals and "Audit entries" not in internals


def test_every_registered_model_is_on_the_index_once(admin_client):
    found = sections(admin_client.get("/admin/").content.decode())
    listed = [name for _, rows in found for name in rows]
    registered = [str(model._meta.verbose_name_plural) for model in admin.site._registry]
    assert sorted(name.lower() for name in listed) == sorted(name.lower() for name in registered)
    named = [name for _, _, names in SECTIONS for name in names]
    assert len(named) == len(set(named))


def test_an_apps_own_page_still_lists_that_app(admin_client):
    html = admin_client.get("/admin/rollouts/").content.decode()
    assert [rows for _, rows in sections(html)] == [["Decisions", "Rollout plans"]]


def test_the_sidebar_marks_only_the_current_screen(admin_client):
    html = admin_client.get("/admin/flags/flag/").content.decode()
    assert html.count("current-app") == 0 and html.count("current-model") == 1
