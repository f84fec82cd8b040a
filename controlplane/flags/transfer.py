"""Moving flags between environments: export one to JSON, import it into another, copy one flag's targeting.

An export holds the project's segments and, for every flag that is not archived, its definition and
its state (on/off and targeting) in the exported environment. An import creates what is missing and
updates what differs, through ``flags.services`` (validated, versioned, audited, published), in one
transaction: nothing is saved unless all of it is valid. A dry run is the very same import rolled
back, so it reports exactly the changes and errors the real one would. Flags and segments that are
only in the target are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from controlplane.audit.services import Actor, diff
from controlplane.flags import services
from controlplane.flags.errors import TargetingError
from controlplane.flags.models import Flag, FlagState, Segment
from controlplane.projects.models import Environment

FORMAT = "flagplane.environment/1"
SEGMENT_FIELDS = ("name", "description", "included", "excluded", "rules")
TARGETING_FIELDS = ("targets", "rules", "default_serve", "bucket_by")  # a state without its on/off
DRY_RUN = "dry run"  # the reason of a dry run's writes, which are rolled back


@dataclass(frozen=True)
class Change:
    """One object an import (or a copy) creates or changes: {field: [before, after]}."""

    action: str  # "create" or "update"
    what: str  # "segment beta-testers", "flag new-checkout", "new-checkout in production"
    fields: dict[str, list[Any]]

    def lines(self) -> list[str]:
        """The change as a person reads it in a terminal, one line per field."""
        mark = "+" if self.action == "create" else "~"
        return [f"{mark} {self.what}"] + [
            f"    {field}: {old!r} -> {new!r}" for field, (old, new) in self.fields.items()
        ]


def export_environment(environment: Environment) -> dict[str, Any]:
    project = environment.project
    states = FlagState.objects.filter(environment=environment, flag__archived=False).select_related("flag")
    return {
        "format": FORMAT,
        "project": project.key,
        "environment": environment.key,
        "segments": [
            {"key": segment.key, **{field: getattr(segment, field) for field in SEGMENT_FIELDS}}
            for segment in project.segments.order_by("key")
        ],
        "flags": [
            {
                "key": state.flag.key,
                **{field: getattr(state.flag, field) for field in services.FLAG_FIELDS},
                "state": {field: getattr(state, field) for field in services.STATE_FIELDS},
            }
            for state in states.order_by("flag__key")
        ],
    }


def import_environment(
    environment: Environment, data: Any, actor: Actor, *, reason: str = "", dry_run: bool = False
) -> list[Change]:
    """Make ``environment`` (and its project's segments and flags) match an export; return what changed."""
    _check_format(data)
    with transaction.atomic():
        changes = _import_segments(environment, data["segments"], actor, reason)
        for item in data["flags"]:
            changes += _import_flag(environment, item, actor, reason)
        if dry_run:
            transaction.set_rollback(True)
    return changes


def copy_targeting(
    flag: Flag,
    source: Environment,
    target: Environment,
    actor: Actor,
    *,
    reason: str = "",
    with_on: bool = False,
    dry_run: bool = False,
) -> list[Change]:
    """Give ``flag`` in ``target`` the targeting it has in ``source`` (and its on/off with ``with_on``)."""
    fields = ("on", *TARGETING_FIELDS) if with_on else TARGETING_FIELDS
    copied = services.get_state(flag, source)
    with transaction.atomic():
        change = _apply_state(
            services.get_state(flag, target), {field: getattr(copied, field) for field in fields}, actor, reason
        )
        if dry_run:
            transaction.set_rollback(True)
    return [change] if change else []


def _check_format(data: Any) -> None:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise TargetingError({"format": [f"Not an environment export: expected format {FORMAT!r}."]})
    problems = {
        name: ["Must be a list of objects with a key."]
        for name in ("segments", "flags")
        if not isinstance(data.get(name), list)
        or not all(isinstance(item, dict) and isinstance(item.get("key"), str) for item in data[name])
    }
    if problems:
        raise TargetingError(problems)


def _import_segments(environment: Environment, items: list[dict], actor: Actor, reason: str) -> list[Change]:
    """Missing segments are created first without rules, then every segment gets its rules: rules may
    name segments that come later in the file."""
    project = environment.project
    before: dict[str, dict | None] = {}
    for item in items:
        segment = Segment.objects.filter(project=project, key=item["key"]).first()
        before[item["key"]] = services.segment_snapshot(segment) if segment else None
        if segment is None:
            services.create_segment(
                project,
                actor,
                key=item["key"],
                reason=reason,
                **{field: item[field] for field in SEGMENT_FIELDS if field in item and field != "rules"},
            )
    for item in items:
        segment = Segment.objects.get(project=project, key=item["key"])
        services.update_segment(segment, actor, {f: item[f] for f in SEGMENT_FIELDS if f in item}, reason)
    changes = []
    for item in items:
        after = services.segment_snapshot(Segment.objects.get(project=project, key=item["key"]))
        change = _change(f"segment {item['key']}", before[item["key"]], after, ignore=("version",))
        if change:
            changes.append(change)
    return changes


def _import_flag(environment: Environment, item: dict, actor: Actor, reason: str) -> list[Change]:
    project = environment.project
    definition = {field: item[field] for field in services.FLAG_FIELDS if field in item}
    flag = Flag.objects.filter(project=project, key=item["key"]).first()
    if flag is None:
        flag = services.create_flag(project, actor, key=item["key"], reason=reason, **definition)
        changes = [_change(f"flag {flag.key}", None, services.flag_snapshot(flag))]
    else:
        before = services.flag_snapshot(flag)
        flag = services.update_flag(flag, actor, definition, reason)
        changes = [_change(f"flag {flag.key}", before, services.flag_snapshot(flag))]
    state = item.get("state")
    if not isinstance(state, dict):
        raise TargetingError({f"flags.{item['key']}.state": ["Must be an object (on, targets, rules, ...)."]})
    changes.append(_apply_state(services.get_state(flag, environment), state, actor, reason))
    return [change for change in changes if change]


def _apply_state(state: FlagState, values: dict[str, Any], actor: Actor, reason: str) -> Change | None:
    before = services.state_snapshot(state)
    try:
        after = services.update_flag_state(state, actor, values, reason=reason)
    except TargetingError as exc:  # name the flag and environment: an import touches many
        where = f"{state.flag.key}.{state.environment.key}"
        raise TargetingError({f"{where}.{path}": messages for path, messages in exc.errors.items()}) from exc
    return _change(str(state), before, services.state_snapshot(after), ignore=("version",))


def _change(what: str, before: dict | None, after: dict, ignore: tuple[str, ...] = ()) -> Change | None:
    fields = {field: values for field, values in diff(before, after).items() if field not in ignore}
    if before is None:
        return Change("create", what, fields)
    return Change("update", what, fields) if fields else None
