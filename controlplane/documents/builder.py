"""Turn flags and segments into their SDK document entries (docs/sdk-document.md).

Each entry is serialised once, as a fragment; ``documents.assembly`` puts the fragments of an
environment together into the document SDKs download.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from controlplane.flags.models import Flag, FlagState, Segment
from controlplane.projects.models import Environment


def flag_entry(flag: Flag, state: FlagState) -> dict[str, Any]:
    """One flag in document form; also what the preview evaluates. ``metadata`` and
    ``client_side`` appear only when set, so flags without them keep their exact form."""
    entry = {
        "key": flag.key,
        "kind": flag.kind,
        "variant_type": flag.variant_type,
        "version": state.version,
        "on": state.on,
        "salt": flag.effective_salt,
        "bucket_by": state.bucket_by,
        "variants": [{"key": v["key"], "value": v["value"]} for v in flag.variants],
        "off_variant": flag.off_variant,
        "targets": state.targets,
        "rules": state.rules,
        "default": state.default_serve,
    }
    if flag.metadata:
        entry["metadata"] = flag.metadata
    if flag.client_side:
        entry["client_side"] = True
    return entry


def segment_entry(segment: Segment) -> dict[str, Any]:
    return {"key": segment.key, "included": segment.included, "excluded": segment.excluded, "rules": segment.rules}


def segments_of(environment: Environment) -> dict[str, dict[str, Any]]:
    return {
        segment.key: segment_entry(segment) for segment in Segment.objects.filter(project_id=environment.project_id)
    }


def flag_entries(environment: Environment, keys: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """The entries of the environment's flags (all, or those with these keys); archived ones
    are left out, as SDK documents never carry them."""
    states = FlagState.objects.filter(environment=environment, flag__archived=False).select_related("flag")
    if keys is not None:
        states = states.filter(flag__key__in=list(keys))
    return {state.flag.key: flag_entry(state.flag, state) for state in states}


def segment_entries(environment: Environment, keys: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    segments = Segment.objects.filter(project_id=environment.project_id)
    if keys is not None:
        segments = segments.filter(key__in=list(keys))
    return {segment.key: segment_entry(segment) for segment in segments}


def canonical_json(document: Any) -> str:
    """Deterministic serialisation: the same content always gives the same bytes and ETag."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def segment_references(rules: Iterable[dict[str, Any]]) -> set[str]:
    """The segment keys a list of rules refers to with ``in_segment``."""
    return {
        key
        for rule in rules
        for clause in rule.get("clauses", ())
        if clause.get("op") == "in_segment"
        for key in clause.get("values", ())
    }
