"""Every write to flags, flag states and segments: validated, versioned, audited, published.

The admin, the REST API and the rollout engine all call these functions; each runs in one
transaction, records one audit entry, and schedules the affected environments' SDK documents
to be rebuilt after the transaction commits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from controlplane.audit import actions as audit_actions
from controlplane.audit.services import Actor, record
from controlplane.documents.builder import flag_entry, segment_references, segments_of
from controlplane.documents.services import schedule_rebuild
from controlplane.flags.errors import TargetingError, VersionConflict
from controlplane.flags.models import Flag, FlagState, Segment
from controlplane.flags.validation import (
    validate_key_list,
    validate_metadata,
    validate_segment_rules,
    validate_targeting,
    validate_variants,
)
from controlplane.projects.models import Environment, Project
from flagplane.engine import Evaluation, InvalidDocument, compile_flag_entry, evaluate_flag

BOOLEAN_VARIANTS = [{"key": "on", "value": True}, {"key": "off", "value": False}]
FLAG_FIELDS = (
    "name",
    "description",
    "tags",
    "owner",
    "kind",
    "variant_type",
    "variants",
    "off_variant",
    "salt",
    "metadata",
    "client_side",
)
STATE_FIELDS = ("on", "targets", "rules", "default_serve", "bucket_by")


def flag_snapshot(flag: Flag) -> dict[str, Any]:
    return {"key": flag.key, "archived": flag.archived, **{f: getattr(flag, f) for f in FLAG_FIELDS}}


def state_snapshot(state: FlagState) -> dict[str, Any]:
    return {"version": state.version, **{f: getattr(state, f) for f in STATE_FIELDS}}


def segment_snapshot(segment: Segment) -> dict[str, Any]:
    fields = ("key", "name", "description", "included", "excluded", "rules", "version")
    return {f: getattr(segment, f) for f in fields}


def _segment_keys(project: Project) -> set[str]:
    return set(project.segments.values_list("key", flat=True))


def _environment_ids(project: Project) -> list[int]:
    return list(project.environments.values_list("id", flat=True))


@transaction.atomic
def create_flag(
    project: Project,
    actor: Actor,
    *,
    key: str,
    name: str = "",
    description: str = "",
    tags: list[str] | None = None,
    owner: str = "",
    kind: str = Flag.Kind.BOOLEAN,
    variant_type: str | None = None,
    variants: list[dict[str, Any]] | None = None,
    off_variant: str | None = None,
    salt: str = "",
    metadata: dict[str, Any] | None = None,
    client_side: bool = False,
    reason: str = "",
) -> Flag:
    """Create a flag, off in every environment (see ``create_initial_states`` for what ON then serves)."""
    if kind == Flag.Kind.BOOLEAN:
        variant_type = variant_type or Flag.VariantType.BOOLEAN
        variants = variants or BOOLEAN_VARIANTS
        off_variant = off_variant or "off"
    else:
        variant_type = variant_type or Flag.VariantType.STRING
        variants = variants or []
        off_variant = off_variant or (variants[0].get("key", "") if variants and isinstance(variants[0], dict) else "")
    if Flag.objects.filter(project=project, key=key).exists():
        raise TargetingError({"key": [f"A flag {key!r} already exists in project {project.key!r}."]})
    validate_variants(kind, variant_type, variants, off_variant)
    metadata = {} if metadata is None else metadata
    validate_metadata(metadata)
    flag = Flag.objects.create(
        project=project,
        key=key,
        name=name or key,
        description=description,
        tags=sorted(set(tags or [])),
        owner=owner,
        kind=kind,
        variant_type=variant_type,
        variants=variants,
        off_variant=off_variant,
        salt=salt,
        metadata=metadata,
        client_side=bool(client_side),
    )
    create_initial_states(flag, project.environments.all())
    record(actor, audit_actions.FLAG_CREATE, flag, after=flag_snapshot(flag), reason=reason, project=project)
    schedule_rebuild(_environment_ids(project), flags=[flag.key])
    return flag


def default_serve_when_on(flag: Flag) -> dict[str, Any]:
    """What a new flag serves once it is turned on, before anyone targets it.

    A boolean flag serves its true variant (``on``), as in LaunchDarkly and Unleash: turning a flag
    ON turns the feature on. A multivariate flag has no such variant and serves its off variant.
    """
    if flag.kind == Flag.Kind.BOOLEAN:
        for variant in flag.variants:
            if variant.get("value") is True and variant.get("key") != flag.off_variant:
                return {"variant": variant["key"]}
    return {"variant": flag.off_variant}


def create_initial_states(flag: Flag, environments: Iterable[Environment]) -> list[FlagState]:
    """The flag's state in environments it has none in yet: off, no targeting, ``default_serve_when_on``.

    Called when a flag is created and when an environment is added to its project.
    """
    return FlagState.objects.bulk_create(
        FlagState(flag=flag, environment=environment, on=False, default_serve=default_serve_when_on(flag))
        for environment in environments
    )


@transaction.atomic
def update_flag(flag: Flag, actor: Actor, changes: dict[str, Any], reason: str = "") -> Flag:
    """Change a flag's description, tags, owner or variants. The key never changes."""
    flag = Flag.objects.select_for_update().get(pk=flag.pk)
    if "key" in changes and changes["key"] != flag.key:
        raise TargetingError({"key": ["A flag's key cannot change: code refers to it."]})
    unknown = set(changes) - set(FLAG_FIELDS) - {"key", "archived"}
    if unknown:
        raise TargetingError({field: ["Unknown field."] for field in sorted(unknown)})
    before = flag_snapshot(flag)
    for field in FLAG_FIELDS:
        if field in changes:
            setattr(flag, field, sorted(set(changes[field])) if field == "tags" else changes[field])
    validate_variants(flag.kind, flag.variant_type, flag.variants, flag.off_variant)
    validate_metadata(flag.metadata)
    if not isinstance(flag.client_side, bool):
        raise TargetingError({"client_side": ["Must be true or false."]})
    if flag.variants != before["variants"] or flag.off_variant != before["off_variant"]:
        _check_states_still_valid(flag)
    flag.save()
    if flag_snapshot(flag) != before:
        record(
            actor,
            audit_actions.FLAG_UPDATE,
            flag,
            before=before,
            after=flag_snapshot(flag),
            reason=reason,
            project=flag.project,
        )
        schedule_rebuild(_environment_ids(flag.project), flags=[flag.key])
    if "archived" in changes and changes["archived"] != flag.archived:
        flag = set_archived(flag, actor, bool(changes["archived"]), reason)  # audited as flag.archive/restore
    return flag


def _check_states_still_valid(flag: Flag) -> None:
    segment_keys = _segment_keys(flag.project)
    for state in flag.states.select_related("environment"):
        try:
            validate_targeting(
                variant_keys=flag.variant_keys(),
                targets=state.targets,
                rules=state.rules,
                default_serve=state.default_serve,
                bucket_by=state.bucket_by,
                segment_keys=segment_keys,
            )
        except TargetingError as exc:
            raise TargetingError(
                {"variants": [f"The targeting in {state.environment.key} still uses a removed variant: {exc}"]}
            ) from exc


@transaction.atomic
def set_archived(flag: Flag, actor: Actor, archived: bool, reason: str = "") -> Flag:
    """Archive (hide from SDK documents) or restore a flag."""
    flag = Flag.objects.select_for_update().get(pk=flag.pk)
    if flag.archived == archived:
        return flag
    before = flag_snapshot(flag)
    flag.archived = archived
    flag.save(update_fields=["archived", "updated_at"])
    action = audit_actions.FLAG_ARCHIVE if archived else audit_actions.FLAG_RESTORE
    record(actor, action, flag, before=before, after=flag_snapshot(flag), reason=reason, project=flag.project)
    schedule_rebuild(_environment_ids(flag.project), flags=[flag.key])
    return flag


def reason_required_message(environment: Environment) -> str:
    return f"{environment.name} requires a reason for every change to a flag: say why (it goes into the audit log)."


@transaction.atomic
def update_flag_state(
    state: FlagState,
    actor: Actor,
    changes: dict[str, Any],
    *,
    expected_version: int | None = None,
    reason: str = "",
    action: str = audit_actions.FLAG_STATE_UPDATE,
) -> FlagState:
    """Apply changes to a flag's targeting in one environment; bump its version.

    ``expected_version`` implements optimistic concurrency: if someone else changed the state
    since the caller read it, ``VersionConflict`` is raised and nothing changes. In an environment
    that requires a reason (``Environment.require_reason``), a person's change without one is
    refused; the system's own writes (the rollout engine, the demo seed) always carry theirs.
    """
    state = FlagState.objects.select_for_update().select_related("flag__project", "environment").get(pk=state.pk)
    if expected_version is not None and expected_version != state.version:
        raise VersionConflict(state.version)
    unknown = set(changes) - set(STATE_FIELDS)
    if unknown:
        raise TargetingError({field: ["Unknown field."] for field in sorted(unknown)})
    if "on" in changes and not isinstance(changes["on"], bool):
        raise TargetingError({"on": ["Must be true or false."]})
    before = state_snapshot(state)
    merged = {field: changes.get(field, getattr(state, field)) for field in STATE_FIELDS}
    normalized = validate_targeting(
        variant_keys=state.flag.variant_keys(),
        targets=merged["targets"],
        rules=merged["rules"],
        default_serve=merged["default_serve"],
        bucket_by=merged["bucket_by"],
        segment_keys=_segment_keys(state.flag.project),
    )
    normalized["on"] = merged["on"]
    if all(normalized[field] == before[field] for field in STATE_FIELDS):
        return state
    if state.environment.require_reason and actor.is_person and not reason.strip():
        raise TargetingError({"reason": [reason_required_message(state.environment)]})
    for field, value in normalized.items():
        setattr(state, field, value)
    state.version += 1
    require_sdk_can_evaluate(state)
    state.save()
    record(
        actor,
        action,
        state,
        before=before,
        after=state_snapshot(state),
        reason=reason,
        project=state.flag.project,
        environment=state.environment,
    )
    schedule_rebuild([state.environment_id], flags=[state.flag.key])
    return state


def require_sdk_can_evaluate(state: FlagState) -> None:
    """The last check of every flag-state write: the SDK's own engine compiles the flag as SDKs
    will receive it, so anything saved is something every SDK can evaluate. The engine's path
    (``flags["f"].rules[0].clauses[1].values[0]``) is given back as the field it names."""
    try:
        compile_flag_entry(flag_entry(state.flag, state), segments_of(state.environment))
    except InvalidDocument as exc:
        raise TargetingError({_field_path(exc.path): [f"SDKs could not evaluate this: {exc.problem}."]}) from exc


def _field_path(engine_path: str) -> str:
    """``flags["f"].rules[0].serve`` -> ``rules.0.serve``; ``default`` is ``default_serve`` here."""
    path = re.sub(r"^flags\[\"[^\"]*\"\]\.?|^flag\.?", "", engine_path)
    path = re.sub(r"\[(?:\"([^\"]*)\"|(\d+))\]", lambda m: "." + (m[1] if m[1] is not None else m[2]), path)
    path = path.lstrip(".")
    head, _, rest = path.partition(".")
    if head == "default":
        head = "default_serve"
    return ".".join(filter(None, [head, rest])) or "targeting"


def toggle_flag(state: FlagState, actor: Actor, on: bool, reason: str = "") -> FlagState:
    """Turn a flag on or off in one environment. Off is the kill switch."""
    return update_flag_state(
        state,
        actor,
        {"on": on},
        reason=reason,
        action=audit_actions.FLAG_TURN_ON if on else audit_actions.FLAG_TURN_OFF,
    )


def preview(state: FlagState, contexts: Iterable[dict[str, Any] | str]) -> list[Evaluation]:
    """What the flag serves in ``state``'s environment for each context, and why.

    Evaluated by the SDK's own engine on the flag as it is stored now (not as last published), so
    people can check a change before SDKs see it. A plain string context is the context key.
    Raises ``InvalidDocument`` if the stored flag cannot be evaluated.
    """
    entry, segments = flag_entry(state.flag, state), segments_of(state.environment)
    return [
        evaluate_flag(entry, {"key": context} if isinstance(context, str) else context, segments)
        for context in contexts
    ]


def get_state(flag: Flag, environment: Environment) -> FlagState:
    return FlagState.objects.select_related("flag__project", "environment").get(flag=flag, environment=environment)


@transaction.atomic
def create_segment(
    project: Project,
    actor: Actor,
    *,
    key: str,
    name: str = "",
    description: str = "",
    included: list[str] | None = None,
    excluded: list[str] | None = None,
    rules: list[dict[str, Any]] | None = None,
    reason: str = "",
) -> Segment:
    if Segment.objects.filter(project=project, key=key).exists():
        raise TargetingError({"key": [f"A segment {key!r} already exists in project {project.key!r}."]})
    segment = Segment.objects.create(
        project=project,
        key=key,
        name=name or key,
        description=description,
        included=validate_key_list("included", included or []),
        excluded=validate_key_list("excluded", excluded or []),
        rules=_validated_segment_rules(project, key, rules or []),
    )
    record(
        actor, audit_actions.SEGMENT_CREATE, segment, after=segment_snapshot(segment), reason=reason, project=project
    )
    schedule_rebuild(_environment_ids(project), segments=[segment.key])
    return segment


def _validated_segment_rules(project: Project, key: str, rules: Any) -> list[dict[str, Any]]:
    """Segments may build on other segments, but never on themselves, directly or not."""
    others = {segment.key: segment.rules for segment in Segment.objects.filter(project=project).exclude(key=key)}
    normalized = validate_segment_rules(rules, set(others))
    graph = {other: segment_references(other_rules) for other, other_rules in others.items()}
    graph[key] = segment_references(normalized)
    seen, stack = set(), list(graph[key])
    while stack:
        current = stack.pop()
        if current == key:
            raise TargetingError({"rules": [f"Segment {key!r} would end up including itself."]})
        if current not in seen:
            seen.add(current)
            stack.extend(graph.get(current, ()))
    return normalized


@transaction.atomic
def update_segment(segment: Segment, actor: Actor, changes: dict[str, Any], reason: str = "") -> Segment:
    segment = Segment.objects.select_for_update().get(pk=segment.pk)
    if "key" in changes and changes["key"] != segment.key:
        raise TargetingError({"key": ["A segment's key cannot change: rules refer to it."]})
    before = segment_snapshot(segment)
    for field in ("name", "description"):
        if field in changes:
            setattr(segment, field, changes[field])
    for field in ("included", "excluded"):
        if field in changes:
            setattr(segment, field, validate_key_list(field, changes[field]))
    if "rules" in changes:
        segment.rules = _validated_segment_rules(segment.project, segment.key, changes["rules"])
    if segment_snapshot(segment) == before:
        return segment
    segment.version += 1
    segment.save()
    record(
        actor,
        audit_actions.SEGMENT_UPDATE,
        segment,
        before=before,
        after=segment_snapshot(segment),
        reason=reason,
        project=segment.project,
    )
    schedule_rebuild(_environment_ids(segment.project), segments=[segment.key])
    return segment


@transaction.atomic
def delete_segment(segment: Segment, actor: Actor, reason: str = "") -> None:
    """Delete a segment that no flag's rules refer to.

    The project's flag states and segments are locked before they are checked: an edit that
    adds a reference to this segment either commits first (and is seen here) or waits, and
    then finds the segment gone (``update_flag_state`` and ``update_segment`` lock their row
    before they read the segment keys).
    """
    states = (
        FlagState.objects.select_for_update(of=("self",))
        .filter(flag__project=segment.project)
        .select_related("flag", "environment")
        .order_by("pk")
    )
    others = Segment.objects.select_for_update().filter(project=segment.project).exclude(pk=segment.pk).order_by("pk")
    users = [
        f"{state.flag.key} in {state.environment.key}"
        for state in states
        if any(
            clause["op"] == "in_segment" and segment.key in clause["values"]
            for rule in state.rules
            for clause in rule["clauses"]
        )
    ]
    users += [f"segment {other.key}" for other in others if segment.key in segment_references(other.rules)]
    if users:
        raise TargetingError({"key": [f"Segment {segment.key!r} is used by: {', '.join(users)}."]})
    record(
        actor,
        audit_actions.SEGMENT_DELETE,
        segment,
        before=segment_snapshot(segment),
        reason=reason,
        project=segment.project,
    )
    project, key = segment.project, segment.key
    segment.delete()
    schedule_rebuild(_environment_ids(project), segments=[key])
