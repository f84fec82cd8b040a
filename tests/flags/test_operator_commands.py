"""Operators script flags with manage.py: list what each environment serves, export an environment and import
it into another (a dry run shows the diff and saves nothing), copy a flag's targeting. Writes are audited."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from controlplane.audit.models import AuditEntry
from controlplane.audit.services import SYSTEM
from controlplane.flags.models import Flag, FlagState, Segment
from controlplane.flags.services import create_segment, update_flag_state
from controlplane.projects.services import create_project

SPLIT = {"split": [{"variant": "on", "weight": 25_000}, {"variant": "off", "weight": 75_000}]}
BETA_RULE = {
    "id": "beta",
    "clauses": [{"attribute": "key", "op": "in_segment", "values": ["beta"]}],
    "serve": {"variant": "on"},
}


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def staged(project, checkout_flag, layout_flag, development):
    """new-checkout in development: on, a rule on segment beta, a 25% split; the layout flag off."""
    create_segment(project, SYSTEM, key="beta", included=["user-1"])
    update_flag_state(
        FlagState.objects.get(flag=checkout_flag, environment=development),
        SYSTEM,
        {"on": True, "rules": [BETA_RULE], "default_serve": SPLIT},
    )
    return project


def test_list_flags_says_what_each_environment_serves(staged):
    assert run("list_flags", "shop") == (
        "shop/checkout-layout\n"
        "  development      OFF: serves control\n"
        "  production       OFF: serves control\n"
        "shop/new-checkout\n"
        "  development      ON: rules, then 25% on / 75% off\n"
        "  production       OFF: serves off\n"
    )
    listed = json.loads(run("list_flags", "--json"))
    assert listed[1]["environments"]["development"] == {
        "on": True,
        "serves": "ON: rules, then 25% on / 75% off",
        "rollout": None,
    }


def test_an_environment_is_exported_and_imported_into_another_project(staged, tmp_path):
    export = tmp_path / "development.json"
    call_command("export_environment", "shop", "development", "-o", str(export), stderr=io.StringIO())
    data = json.loads(export.read_text())
    assert (data["project"], data["environment"]) == ("shop", "development")
    assert [s["key"] for s in data["segments"]] == ["beta"]
    assert [f["key"] for f in data["flags"]] == ["checkout-layout", "new-checkout"]

    other = create_project(SYSTEM, key="shop-eu", environments=["staging"])
    entries = AuditEntry.objects.count()
    dry = run("import_environment", "shop-eu", "staging", str(export), "--dry-run")
    assert "+ segment beta" in dry
    assert "+ flag new-checkout" in dry
    assert "~ new-checkout in staging\n    default_serve: {'variant': 'on'} -> " + repr(SPLIT) in dry
    assert "    on: False -> True\n" in dry
    assert dry.endswith("4 object(s) would change in shop-eu/staging (dry run: nothing saved).\n")
    assert AuditEntry.objects.count() == entries
    assert not Flag.objects.filter(project=other).exists() and not Segment.objects.filter(project=other).exists()

    done = run("import_environment", "shop-eu", "staging", str(export), "--reason", "EU launch")
    assert done.replace("changed in", "would change in").replace(".\n", " (dry run: nothing saved).\n") == dry
    state = FlagState.objects.get(flag__project=other, flag__key="new-checkout")
    source = FlagState.objects.get(flag__project=staged, flag__key="new-checkout", environment__key="development")
    assert (state.on, state.rules, state.default_serve) == (True, source.rules, SPLIT)
    reasons = set(AuditEntry.objects.filter(project=other, action__startswith="flag").values_list("reason", flat=True))
    assert reasons == {"EU launch"}
    assert run("import_environment", "shop-eu", "staging", str(export)) == (
        f"shop-eu/staging already matches {export}.\n"
    )


def test_an_import_into_production_needs_a_reason_and_saves_nothing_without_one(staged, tmp_path):
    export = tmp_path / "development.json"
    export.write_text(run("export_environment", "shop", "development"))

    with pytest.raises(CommandError) as refused:
        run("import_environment", "shop", "production", str(export))

    assert "Nothing was saved:\n  new-checkout.production.reason: Production requires a reason" in str(refused.value)
    assert FlagState.objects.get(flag__key="new-checkout", environment__key="production").version == 1
    assert "1 object(s) changed" in run("import_environment", "shop", "production", str(export), "--reason", "promote")


def test_a_bad_file_is_refused_with_what_is_wrong(project, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"flags": []}')
    with pytest.raises(CommandError, match="format: Not an environment export"):
        run("import_environment", "shop", "development", str(bad))
    bad.write_text("{")
    with pytest.raises(CommandError, match="Cannot read"):
        run("import_environment", "shop", "development", str(bad))


def test_copy_targeting_between_environments(staged, checkout_flag, production):
    dry = run("copy_targeting", "shop", "new-checkout", "--from", "development", "--to", "production", "--dry-run")
    assert dry.startswith("~ new-checkout in production\n")
    assert "on:" not in dry and dry.endswith("Dry run: nothing saved.\n")
    assert FlagState.objects.get(flag=checkout_flag, environment=production).version == 1

    with pytest.raises(CommandError, match="Production requires a reason"):
        run("copy_targeting", "shop", "new-checkout", "--from", "development", "--to", "production")
    run("copy_targeting", "shop", "new-checkout", "--from", "development", "--to", "production", "--reason", "go")
    copied = FlagState.objects.get(flag=checkout_flag, environment=production)
    source = FlagState.objects.get(flag=checkout_flag, environment__key="development")
    assert (copied.on, copied.rules, copied.default_serve) == (False, source.rules, SPLIT)
    entry = AuditEntry.objects.get(action="flag_state.update", environment=production)
    assert entry.reason == "go" and entry.actor.startswith("manage.py copy_targeting (")

    run(
        "copy_targeting",
        "shop",
        "new-checkout",
        "--from",
        "development",
        "--to",
        "production",
        "--with-on-off",
        "--reason",
        "on",
    )
    assert FlagState.objects.get(flag=checkout_flag, environment=production).on is True
    again = run(
        "copy_targeting", "shop", "new-checkout", "--from", "development", "--to", "production", "--reason", "x"
    )
    assert again == "new-checkout in production already has the targeting it has in development.\n"
